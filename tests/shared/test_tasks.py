"""The shared RL^2 task families (bandits, random tabular MDPs), the trial env and GAE."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from shared.rl.advantages import gae
from shared.tasks.bandits import BernoulliBandits
from shared.tasks.tabular_mdp import RandomTabularMDPs
from shared.tasks.trials import TrialVecEnv


def play(env: TrialVecEnv, policy, seed: int) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
    obs, _ = env.reset(seed=seed)
    observations, rewards = [obs], []
    while True:
        obs, r, terminated, truncated, info = env.step(policy(obs))
        observations.append(obs)
        rewards.append(r)
        if terminated.all():
            return observations, rewards, info["state"]


def test_bandit_trial_input_encoding_and_length():
    env = TrialVecEnv(BernoulliBandits(5), n_episodes=7, num_envs=4)
    assert env.obs_dim == 1 + 5 + 2 and env.trial_length == 7
    actions = np.array([3, 1, 4, 0])
    observations, rewards, _ = play(env, lambda obs: actions, seed=0)
    first = observations[0]
    # a trial starts with (s, a_prev = 0, r_prev = 0, d_prev = 1) as the authors' MultiEnv does
    np.testing.assert_array_equal(first, np.tile([1, 1, 0, 0, 0, 0, 0, 1], (4, 1)))
    assert len(rewards) == 7
    for obs, r in zip(observations[1:], rewards):
        np.testing.assert_array_equal(obs[:, 0], 1)
        np.testing.assert_array_equal(obs[np.arange(4), 1 + actions], 1)
        assert obs[:, 1:6].sum() == 4
        np.testing.assert_array_equal(obs[:, 6], r)
        np.testing.assert_array_equal(obs[:, 7], 1)  # every pull ends an episode
    with pytest.raises(RuntimeError, match="reset"):
        env.step(actions)


def test_bandit_rewards_follow_arm_means():
    family = BernoulliBandits(3)
    env = TrialVecEnv(family, n_episodes=400, num_envs=500)
    _, rewards, _ = play(env, lambda obs: np.zeros(500, dtype=int), seed=1)
    per_trial = np.mean(rewards, axis=0)
    assert np.all((family.means >= 0) & (family.means <= 1))
    # 400 Bernoulli pulls per trial: the empirical rate is within 5 standard errors of p_0 for every trial
    se = np.sqrt(family.means[:, 0] * (1 - family.means[:, 0]) / 400) + 1e-3
    assert np.all(np.abs(per_trial - family.means[:, 0]) < 5 * se)


def test_same_seed_same_trials_and_new_tasks_each_reset():
    env = TrialVecEnv(RandomTabularMDPs(), n_episodes=3, num_envs=8)
    policy = lambda obs: np.argmax(obs[:, :5], axis=1)  # a deterministic function of the state
    a = play(env, policy, seed=5)
    means = env.family.reward_means.copy()
    b = play(env, policy, seed=5)
    np.testing.assert_array_equal(np.array(a[1]), np.array(b[1]))
    np.testing.assert_array_equal(means, env.family.reward_means)
    env.reset(seed=6)
    assert not np.allclose(means, env.family.reward_means)


def test_tabular_mdp_episodes_restart_in_state_zero_with_same_task():
    family = RandomTabularMDPs(n_states=10, n_actions=5, horizon=10)
    env = TrialVecEnv(family, n_episodes=4, num_envs=16)
    obs, _ = env.reset(seed=2)
    assert env.obs_dim == 10 + 5 + 2 and env.trial_length == 40
    means = family.reward_means.copy()
    for t in range(1, 41):
        obs, r, terminated, _, info = env.step(np.full(16, t % 5))
        ended = t % 10 == 0
        np.testing.assert_array_equal(info["episode_end"], ended)
        np.testing.assert_array_equal(obs[:, 16], float(ended))
        if ended:
            np.testing.assert_array_equal(obs[:, :10].argmax(axis=1), 0)
        assert terminated.all() == (t == 40)
    np.testing.assert_array_equal(means, family.reward_means)  # one task for the whole trial


def test_tabular_mdp_distributions():
    family = RandomTabularMDPs()
    rng = np.random.default_rng(0)
    family.sample(2000, rng)
    mu = family.reward_means
    assert abs(mu.mean() - 1.0) < 0.02 and abs(mu.std() - 1.0) < 0.02  # mu ~ N(1, 1)
    p = family.transitions
    np.testing.assert_allclose(p.sum(-1), 1.0)
    # flat Dirichlet over 10 states: each P(s'|s, a) ~ Beta(1, 9), mean 0.1, variance 9 / (100 * 11)
    assert abs(p.mean() - 0.1) < 1e-3 and abs(p.var() - 9 / 1100) < 3e-4
    # rewards are N(mu, 1) and next states follow P
    states = np.zeros(2000, dtype=int)
    actions = np.ones(2000, dtype=int)
    draws = [family.step(states, actions, rng) for _ in range(50)]
    noise = np.stack([r for r, _ in draws]) - mu[:, 0, 1]
    assert abs(noise.mean()) < 0.01 and abs(noise.std() - 1.0) < 0.01
    counts = np.stack([np.bincount(s, minlength=10) for _, s in draws]).sum(0) / (50 * 2000)
    np.testing.assert_allclose(counts, p[:, 0, 1].mean(0), atol=0.01)


def test_random_policy_total_matches_table2_random_column():
    """Random play on the MDPs earns 1 per step in expectation (mu ~ N(1, 1)): Table 2's Random, n = 10: 100.1."""
    env = TrialVecEnv(RandomTabularMDPs(), n_episodes=10, num_envs=1000)
    rng = np.random.default_rng(3)
    _, rewards, _ = play(env, lambda obs: rng.integers(5, size=1000), seed=3)
    totals = np.sum(rewards, axis=0)
    assert abs(totals.mean() - 100.0) < 4 * totals.std() / np.sqrt(1000)


def test_oracle_is_the_finite_horizon_optimum_of_a_known_mdp():
    family = RandomTabularMDPs(n_states=2, n_actions=2, horizon=3)
    family.reward_means = np.array([[[1.0, 0.0], [0.0, 2.0]]])
    family.transitions = np.array([[[[1.0, 0.0], [0.0, 1.0]], [[1.0, 0.0], [0.0, 1.0]]]])
    # from state 0: stay (1 per step) gives 3; move (0) then take 2 twice gives 4
    assert family.optimal_trial_return(5)[0] == pytest.approx(20.0)


def test_gae_matches_the_definition():
    torch.manual_seed(0)
    r, v = torch.randn(3, 6), torch.randn(3, 6)
    gamma, lam = 0.99, 0.3
    adv, ret = gae(r, v, gamma, lam)
    v_next = torch.cat([v[:, 1:], torch.zeros(3, 1)], dim=1)
    delta = r + gamma * v_next - v
    for t in range(6):
        weights = torch.tensor([(gamma * lam) ** k for k in range(6 - t)])
        torch.testing.assert_close(adv[:, t], (delta[:, t:] * weights).sum(1))
        torch.testing.assert_close(ret[:, t], (r[:, t:] * torch.tensor([gamma ** k for k in range(6 - t)])).sum(1))
    adv1, _ = gae(r, v, gamma, 1.0)  # lambda = 1: advantages are returns minus values
    torch.testing.assert_close(adv1, ret - v)
