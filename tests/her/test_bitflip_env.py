"""The n-bit flipping environment of §3.1 (reward on the state after the action, fixed length n, no early end)."""
from __future__ import annotations

import numpy as np
import pytest

from papers.her.bitflip_env import BitFlipEnv, bitflip_reward


def solve(env: BitFlipEnv, obs: dict) -> list[int]:
    return [i for i in range(env.n_bits) if obs["observation"][i] != obs["desired_goal"][i]]


def test_reward_zero_exactly_when_state_equals_goal_after_the_action():
    checked_zero = checked_minus = 0
    for seed in range(40):
        env = BitFlipEnv(4)
        obs, info = env.reset(seed=seed)
        assert info["is_success"] == bool(np.array_equal(obs["observation"], obs["desired_goal"]))
        rng = np.random.default_rng(seed)
        for _ in range(4):
            before = obs["observation"].copy()
            action = int(rng.integers(0, 4))
            obs, reward, terminated, truncated, info = env.step(action)
            expected_state = before.copy()
            expected_state[action] ^= 1
            np.testing.assert_array_equal(obs["observation"], expected_state)
            np.testing.assert_array_equal(obs["achieved_goal"], expected_state)
            at_goal = np.array_equal(expected_state, obs["desired_goal"])
            assert reward == (0.0 if at_goal else -1.0)
            assert info["is_success"] is at_goal
            checked_zero += at_goal
            checked_minus += not at_goal
    assert checked_zero > 0 and checked_minus > 0


def test_flipping_the_differing_bits_reaches_the_goal():
    env = BitFlipEnv(6)
    for seed in range(20):
        obs, _ = env.reset(seed=seed)
        differing = solve(env, obs)
        if not differing:
            continue
        rewards = [env.step(i)[1] for i in differing]
        assert rewards[:-1] == [-1.0] * (len(differing) - 1)
        assert rewards[-1] == 0.0


def test_state_equal_to_goal_before_the_action_gives_minus_one():
    env = BitFlipEnv(3)
    for seed in range(200):
        obs, info = env.reset(seed=seed)
        if info["is_success"]:
            break
    else:
        pytest.fail("no seed started on the goal")
    _, reward, _, _, info = env.step(0)  # leaves the goal: the reward is on s_{t+1}
    assert reward == -1.0 and info["is_success"] is False


def test_truncates_after_n_steps_and_never_terminates():
    n = 5
    env = BitFlipEnv(n)
    env.reset(seed=0)
    flags = [env.step(t % n)[2:4] for t in range(n)]
    assert [term for term, _ in flags] == [False] * n
    assert [trunc for _, trunc in flags] == [False] * (n - 1) + [True]
    env.reset(seed=1)  # reset starts a new count
    assert env.step(0)[3] is False


def test_never_terminates_even_on_the_goal():
    env = BitFlipEnv(2)
    for seed in range(30):
        obs, _ = env.reset(seed=seed)
        for i in solve(env, obs):
            _, reward, terminated, _, _ = env.step(i)
            assert terminated is False


def test_observations_are_copies():
    env = BitFlipEnv(5)
    obs, _ = env.reset(seed=3)
    state, goal = obs["observation"].copy(), obs["desired_goal"].copy()
    obs["observation"][:] = 1 - obs["observation"]
    obs["achieved_goal"][:] = 7
    obs["desired_goal"][:] = 1 - obs["desired_goal"]
    nxt, _, _, _, _ = env.step(0)
    state[0] ^= 1
    np.testing.assert_array_equal(nxt["observation"], state)
    np.testing.assert_array_equal(nxt["desired_goal"], goal)
    kept = {k: v.copy() for k, v in nxt.items()}
    env.step(1)  # the env must not write into arrays it returned earlier
    for k in kept:
        np.testing.assert_array_equal(nxt[k], kept[k])
    assert nxt["observation"] is not nxt["achieved_goal"]


def test_seeding_is_deterministic():
    def rollout(seed):
        env = BitFlipEnv(8)
        obs, _ = env.reset(seed=seed)
        out = [obs["observation"].copy(), obs["desired_goal"].copy()]
        for a in range(8):
            obs, r, *_ = env.step(a)
            out += [obs["observation"].copy(), np.array([r])]
        return np.concatenate(out)

    np.testing.assert_array_equal(rollout(11), rollout(11))
    assert any(not np.array_equal(rollout(11), rollout(s)) for s in (12, 13, 14))


def test_invalid_actions_and_sizes_raise():
    env = BitFlipEnv(4)
    env.reset(seed=0)
    for bad in (4, -1, 10):
        with pytest.raises(ValueError):
            env.step(bad)
    with pytest.raises(ValueError):
        BitFlipEnv(0)


def test_batched_reward():
    achieved = np.array([[0, 1], [1, 1], [0, 0]])
    desired = np.array([[0, 1], [1, 0], [1, 1]])
    np.testing.assert_array_equal(bitflip_reward(achieved, desired), [0.0, -1.0, -1.0])
    assert BitFlipEnv(2).compute_reward(achieved, desired, {}).dtype == np.float32
