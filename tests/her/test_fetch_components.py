"""The Fetch pieces one by one: env changes, observation split, rewards, the hindsight store, input scaling, target
clipping and the 8-worker DDPG update."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from papers.her.ddpg_workers import DDPGWorkers
from papers.her.fetch_envs import feature_sizes, make_fetch_env, paper_features
from papers.her.fetch_experiment import all_goal_indices, n_hindsight_goals
from papers.her.fetch_rewards import CountBonus, shaped_reward, sparse_reward
from papers.her.her_relabel import relabel_episode
from papers.her.hindsight_store import HindsightStore
from papers.her.normalizer import RunningNormalizer


# -- environments ----------------------------------------------------------------------------------------------------
def test_env_runs_the_papers_ten_substeps():
    env = make_fetch_env("push", n_substeps=10, reject_within=0.07)
    env.reset(seed=0)
    assert env.unwrapped.n_substeps == 10 and env.unwrapped.dt == pytest.approx(0.02)  # App. A: 10 x 0.002 s
    before = env.unwrapped.data.time
    env.step(np.zeros(4, dtype=np.float32))
    assert env.unwrapped.data.time - before == pytest.approx(0.02)


def test_satisfied_initial_pairs_are_discarded_deterministically():
    """With a 15 cm rejection radius many push resets need redrawing; none may start within it."""
    env = make_fetch_env("push", n_substeps=10, reject_within=0.15)
    distances = []
    for seed in range(30):
        obs, _ = env.reset(seed=seed)
        distances.append(np.linalg.norm(obs["achieved_goal"] - obs["desired_goal"]))
    assert min(distances) > 0.15
    assert env.rejected > 0  # the rule did fire
    again = make_fetch_env("push", n_substeps=10, reject_within=0.15)
    assert np.array_equal(again.reset(seed=29)[0]["desired_goal"], env.reset(seed=29)[0]["desired_goal"])


def test_single_goal_mode_pins_the_goal():
    goal = np.array([1.3, 0.75, 0.42])
    env = make_fetch_env("push", n_substeps=10, reject_within=0.07, fixed_goal=goal)
    for seed in range(5):
        obs, _ = env.reset(seed=seed)
        assert np.allclose(obs["desired_goal"], goal)
        assert np.linalg.norm(obs["achieved_goal"] - goal) > 0.07


def test_paper_observation_split_for_push():
    obs = np.arange(25, dtype=np.float32) + 100.0
    goal = np.array([1.0, 2.0, 3.0], dtype=np.float32)
    feats = paper_features(obs, goal, "push")
    actor, critic = feature_sizes("push")
    assert feats.shape == (critic,) and (actor, critic) == (10, 21)
    # actor: grip_pos (0:3), object_rel_pos (6:9), finger distance (9 + 10), goal - object_pos (3:6)
    assert np.array_equal(feats[:3], obs[0:3]) and np.array_equal(feats[3:6], obs[6:9])
    assert feats[6] == obs[9] + obs[10]
    assert np.allclose(feats[7:10], goal - obs[3:6])
    # critic extra: grip velocity (20:23), finger velocities (23:25), object velocity (14:17) and spin (17:20)
    assert np.array_equal(feats[10:], np.concatenate([obs[20:25], obs[14:20]]))
    assert not np.isin(obs[11:14], feats).any()  # the object's rotation goes to neither network


def test_paper_observation_split_for_reach_and_batches():
    obs = np.arange(20, dtype=np.float32).reshape(2, 10)
    goal = np.zeros((2, 3), dtype=np.float32)
    feats = paper_features(obs, goal, "reach")
    assert feats.shape == (2, 12) and feature_sizes("reach") == (7, 12)
    assert np.allclose(feats[1, 4:7], -obs[1, 0:3])  # target relative to the gripper


# -- rewards ---------------------------------------------------------------------------------------------------------
def test_sparse_and_shaped_rewards():
    g = np.zeros((3, 3))
    before = np.array([[0.1, 0, 0], [0.1, 0, 0], [0.1, 0, 0]])
    after = np.array([[0.04, 0, 0], [0.05, 0, 0], [0.06, 0, 0]])
    assert sparse_reward(after, g, 0.05).tolist() == [0.0, 0.0, -1.0]  # |g - s'| <= eps is success
    assert np.allclose(shaped_reward(before, after, g, 0.0, 2.0), -after[:, 0] ** 2)
    assert np.allclose(shaped_reward(before, after, g, 1.0, 1.0), 0.1 - after[:, 0])


def test_count_bonus_counts_cells_of_the_relative_position():
    bonus = CountBonus(alpha=1.0, beta=0.01)
    goal = np.zeros((3, 3))
    visits = np.array([[0.001, 0.002, 0.0], [0.004, 0.009, 0.0], [0.011, 0.0, 0.0]])  # cells (0,0,0) x2, (1,0,0)
    assert np.allclose(bonus.visit_and_bonus(visits, goal), [1 / np.sqrt(2), 1 / np.sqrt(2), 1.0])
    assert np.allclose(bonus.visit_and_bonus(visits[2:], goal[:1]), [1 / np.sqrt(2)])
    restored = CountBonus(1.0, 0.01)
    restored.load_state_dict(bonus.state_dict())
    assert restored.counts == bonus.counts


# -- hindsight goals and the store -----------------------------------------------------------------------------------
def test_all_goals_enumerates_every_later_or_every_state():
    t, j = all_goal_indices("future", 3)
    assert list(zip(t, j)) == [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]
    t, j = all_goal_indices("episode", 2)
    assert list(zip(t, j)) == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]
    base = {"her_strategy": "future", "her_k": 4, "her_all_goals": False}
    assert n_hindsight_goals(base) == (4, 4)
    assert n_hindsight_goals({**base, "her_all_goals": True}) == (1, 50)
    assert n_hindsight_goals({**base, "her_strategy": "final"}) == (1, 1)
    with pytest.raises(ValueError):
        n_hindsight_goals({**base, "her_strategy": "random", "her_all_goals": True})


def _episode(rng: np.random.Generator, horizon: int = 5, start: float = 0.0):
    obs = start + np.arange(horizon + 1, dtype=np.float32)[:, None].repeat(4, 1)
    achieved = obs[:, :3].copy()
    actions = rng.uniform(-1, 1, (horizon, 2)).astype(np.float32)
    return obs, achieved, actions


def test_store_keeps_stored_transition_count_and_pairs_goals_with_their_transition():
    rng = np.random.default_rng(0)
    store = HindsightStore(capacity=40, min_copies=5, obs_dim=4, action_dim=2, goal_dim=3, episode_steps=5)
    for e in range(6):  # 6 episodes x 5 transitions x (1 + 4) copies = 150 stored > capacity 40
        obs, achieved, actions = _episode(rng, start=10.0 * e)
        t_index, goals, _ = relabel_episode(achieved, achieved[-1] + 0.5, "future", 4, rng,
                                            lambda a, g: np.zeros(len(g)))
        rewards = sparse_reward(achieved[t_index + 1], goals, 0.05)
        store.add_episode(obs, actions, achieved, t_index, goals.astype(np.float32), rewards)
    assert store.size == 40  # App. A's limit counts stored (relabelled) transitions, FIFO
    batch = store.sample(256, rng)
    # every sampled goal is the episode's own goal or a state of the SAME episode at or after s_{t+1}
    t_plus_1 = batch["next_obs"][:, 0]
    own_goal = np.isclose(batch["goal"][:, 0] % 10, 5.5)
    future = (batch["goal"][:, 0] >= t_plus_1) & (batch["goal"][:, 0] - batch["obs"][:, 0] <= 5)
    assert np.all(own_goal | future)
    assert np.all(batch["obs"][:, 0] >= 40.0)  # only the last episodes survive: the real ring kept up


def test_store_rewards_match_their_goal_and_state_after():
    rng = np.random.default_rng(1)
    store = HindsightStore(capacity=100, min_copies=2, obs_dim=4, action_dim=2, goal_dim=3, episode_steps=5)
    obs, achieved, actions = _episode(rng)
    t_index, goals, _ = relabel_episode(achieved, np.full(3, 9.0), "final", 1, rng, lambda a, g: np.zeros(len(g)))
    store.add_episode(obs, actions, achieved, t_index, goals.astype(np.float32),
                      sparse_reward(achieved[t_index + 1], goals, 0.05))
    batch = store.sample(64, rng)
    expected = sparse_reward(batch["next_obs"][:, :3], batch["goal"], 0.05)
    assert np.array_equal(batch["reward"], expected)
    assert (batch["reward"] == 0).any() and (batch["reward"] == -1).any()
    restored = HindsightStore(capacity=100, min_copies=2, obs_dim=4, action_dim=2, goal_dim=3, episode_steps=5)
    restored.load_state_dict(store.state_dict())
    again = restored.sample(64, np.random.default_rng(5))
    first = store.sample(64, np.random.default_rng(5))
    assert all(np.array_equal(again[k], first[k]) for k in first)


# -- input scaling ---------------------------------------------------------------------------------------------------
def test_normaliser_uses_every_observation_so_far_then_clips():
    rng = np.random.default_rng(0)
    chunks = [rng.normal(3.0, 2.0, size=(50, 4)) for _ in range(3)]
    norm = RunningNormalizer(4, clip=5.0, eps=0.01)
    for c in chunks:
        norm.update(c)
    data = np.concatenate(chunks)
    assert np.allclose(norm.mean, data.mean(0), atol=1e-5) and np.allclose(norm.std, data.std(0), atol=1e-5)
    x = torch.tensor([[3.0, 3.0, 1e6, -1e6]])
    out = norm(x)
    assert out[0, 2] == 5.0 and out[0, 3] == -5.0  # App. A: clip to [-5, 5]
    constant = RunningNormalizer(2, clip=5.0, eps=0.01)
    constant.update(np.ones((10, 2)))
    assert np.allclose(constant.std, 0.01)  # the floor for inputs that never varied


# -- DDPG ------------------------------------------------------------------------------------------------------------
def _workers(workers: int = 3, seed: int = 0) -> DDPGWorkers:
    torch.manual_seed(seed)
    return DDPGWorkers(workers, actor_in=3, critic_in=5, action_dim=2, hidden=[8, 8], lr_actor=1e-3, lr_critic=1e-3,
                       betas=(0.9, 0.999), eps=1e-8, device=torch.device("cpu"))


@pytest.mark.parametrize("bias,expected", [(1000.0, 0.0), (-1000.0, -50.0)])
def test_critic_targets_are_clipped_to_the_range_of_possible_values(bias, expected):
    ddpg = _workers()
    with torch.no_grad():
        ddpg.target_critic.biases[-1].fill_(bias)
        for w in ddpg.target_critic.weights:
            w.zero_()
    y = ddpg.critic_targets(torch.zeros(3, 4, 5), -torch.ones(3, 4), gamma=0.98, clip=(-50.0, 0.0))
    assert torch.all(y == expected)
    free = ddpg.critic_targets(torch.zeros(3, 4, 5), -torch.ones(3, 4), gamma=0.98, clip=(-np.inf, np.inf))
    assert torch.allclose(free, torch.full((3, 4), -1.0 + 0.98 * bias))  # no terminal mask: gamma on every one


def test_update_equals_independent_worker_steps_then_parameter_averaging():
    """Each worker steps on its own minibatch with its own Adam state, then the parameters are averaged (§4.1)."""
    ddpg = _workers(3)
    rng = torch.Generator().manual_seed(1)
    x, x_next = torch.randn(3, 6, 5, generator=rng), torch.randn(3, 6, 5, generator=rng)
    a, r = torch.rand(3, 6, 2, generator=rng) * 2 - 1, -torch.rand(3, 6, generator=rng)
    singles = []
    for w in range(3):  # the same computation by 3 separate one-worker learners from the same start
        one = _workers(1)
        one.update(x[w:w + 1], a[w:w + 1], r[w:w + 1], x_next[w:w + 1], 0.98, (-50.0, 0.0), 1.0)
        singles.append(one)
    ddpg.update(x, a, r, x_next, 0.98, (-50.0, 0.0), 1.0)
    for name in ("actor", "critic"):
        stacked = list(getattr(ddpg, name).parameters())
        for i, p in enumerate(stacked):
            mean = torch.stack([list(getattr(s, name).parameters())[i][0] for s in singles]).mean(0)
            assert torch.allclose(p[0], mean, atol=1e-6)
            assert torch.equal(p[0], p[1]) and torch.equal(p[1], p[2])  # averaged: every copy equal
    before = [p.clone() for p in ddpg.target_actor.parameters()]
    ddpg.update_targets(0.95)
    for b, t, o in zip(before, ddpg.target_actor.parameters(), ddpg.actor.parameters()):
        assert torch.allclose(t, 0.95 * b + 0.05 * o[:1])


def test_actor_penalty_is_on_pre_activations():
    """With a large action_l2 the gradient pushes saturated pre-activations (tanh(3) ~ 0.995) back towards 0: the
    output bias takes a full Adam step (lr) down, which a penalty on the post-tanh action would barely cause."""
    ddpg = _workers(1)
    x = torch.randn(1, 64, 5)
    with torch.no_grad():
        ddpg.actor.biases[-1].fill_(3.0)
    ddpg.update(x, torch.zeros(1, 64, 2), -torch.ones(1, 64), x, 0.98, (-50.0, 0.0), 100.0)
    assert torch.allclose(ddpg.actor.biases[-1], torch.full((1, 1, 2), 3.0 - 1e-3), atol=1e-5)


@pytest.mark.parametrize("task", ["push", "reach", "pick_and_place"])
def test_cached_joint_lookup_gives_bit_identical_observations(task):
    """Our env with the cached joint addresses vs the same env with gymnasium-robotics' own lookups."""
    from papers.her.fetch_envs import CachedJointUtils

    fast = make_fetch_env(task, n_substeps=10, reject_within=0.07)
    plain = make_fetch_env(task, n_substeps=10, reject_within=0.07)
    assert isinstance(fast.unwrapped._utils, CachedJointUtils)
    plain.unwrapped._utils = fast.unwrapped._utils._module
    actions = np.random.default_rng(0).uniform(-1, 1, size=(60, 4)).astype(np.float32)
    a, _ = fast.reset(seed=3)
    b, _ = plain.reset(seed=3)
    for act in actions:
        assert all(np.array_equal(a[k], b[k]) for k in a)
        a, *_ = fast.step(act)
        b, *_ = plain.step(act)
    assert all(np.array_equal(a[k], b[k]) for k in a)
