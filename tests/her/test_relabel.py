"""HER relabelling (Alg. 1, §4.5 strategies), the replay buffer and the input normaliser, on hand-computed data."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from papers.her.bitflip_env import bitflip_reward
from papers.her.her_relabel import extra_goals_per_transition, hindsight_indices, relabel_episode
from papers.her.normalizer import RunningNormalizer
from papers.her.replay import ReplayBuffer

# m(s_0)..m(s_3) of a 3-bit episode, all distinct so a goal identifies the state index it came from.
ACHIEVED = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [1, 1, 1]], dtype=np.int8)
GOAL = np.array([1, 1, 0], dtype=np.int8)  # reached after the second action (s_2), left again by the third
T = 3


def index_of(goal: np.ndarray) -> int:
    matches = [i for i, s in enumerate(ACHIEVED) if np.array_equal(s, goal)]
    assert len(matches) == 1, goal
    return matches[0]


def test_none_keeps_only_the_original_goal_with_rewards_on_the_next_state():
    t_index, goals, rewards = relabel_episode(ACHIEVED, GOAL, "none", 4, np.random.default_rng(0), bitflip_reward)
    assert t_index.tolist() == [0, 1, 2]
    assert (goals == GOAL).all()
    # r_t = -[s_{t+1} != g]: s_1 = 100 != 110, s_2 = 110 == g, s_3 = 111 != g
    assert rewards.tolist() == [-1.0, 0.0, -1.0]


def test_final_stores_original_then_final_state_for_every_t():
    t_index, goals, rewards = relabel_episode(ACHIEVED, GOAL, "final", 4, np.random.default_rng(0), bitflip_reward)
    assert t_index.tolist() == [0, 0, 1, 1, 2, 2]
    expected_goals = np.array([GOAL, ACHIEVED[3]] * 3)
    np.testing.assert_array_equal(goals, expected_goals)
    # t=0: s_1=100 vs g -1, vs s_3 -1; t=1: s_2=110 vs g 0, vs s_3 -1; t=2: s_3 vs g -1, vs s_3 0
    assert rewards.tolist() == [-1.0, -1.0, 0.0, -1.0, -1.0, 0.0]


@pytest.mark.parametrize("strategy", ["future", "episode"])
def test_episode_strategies_order_goals_and_recompute_rewards(strategy):
    k = 4
    t_index, goals, rewards = relabel_episode(ACHIEVED, GOAL, strategy, k, np.random.default_rng(7), bitflip_reward)
    assert t_index.tolist() == [t for t in range(T) for _ in range(1 + k)]
    # the extra goals are exactly the states hindsight_indices draws from the same generator state
    idx = hindsight_indices(strategy, k, T, np.random.default_rng(7))
    for t in range(T):
        block = goals[t * (1 + k):(t + 1) * (1 + k)]
        np.testing.assert_array_equal(block[0], GOAL)  # original goal first
        assert [index_of(g) for g in block[1:]] == idx[t].tolist()
    for i, (t, g) in enumerate(zip(t_index, goals)):
        expected = 0.0 if np.array_equal(ACHIEVED[t + 1], g) else -1.0
        assert rewards[i] == expected
    # goal == achieved next state happens for every hindsight goal drawn at index t+1 (and only then)
    hits = [(t, j) for t in range(T) for j in idx[t] if j == t + 1]
    n_zero_hindsight = sum(rewards[t * (1 + k) + 1:(t + 1) * (1 + k)].tolist().count(0.0) for t in range(T))
    assert n_zero_hindsight == len(hits)


def test_future_indices_are_strictly_after_t_and_cover_the_range():
    horizon, k = 6, 4
    seen = {t: set() for t in range(horizon)}
    rng = np.random.default_rng(123)
    for _ in range(500):
        idx = hindsight_indices("future", k, horizon, rng)
        assert idx.shape == (horizon, k)
        for t in range(horizon):
            assert ((idx[t] >= t + 1) & (idx[t] <= horizon)).all(), (t, idx[t])
            seen[t].update(idx[t].tolist())
    for t in range(horizon):
        assert seen[t] == set(range(t + 1, horizon + 1)), t


def test_episode_indices_cover_the_whole_episode():
    horizon, k = 5, 3
    rng = np.random.default_rng(5)
    seen = {t: set() for t in range(horizon)}
    for _ in range(500):
        idx = hindsight_indices("episode", k, horizon, rng)
        assert idx.min() >= 0 and idx.max() <= horizon
        for t in range(horizon):
            seen[t].update(idx[t].tolist())
    assert all(seen[t] == set(range(horizon + 1)) for t in range(horizon))


def test_final_indices_are_always_T_and_none_is_empty():
    rng = np.random.default_rng(0)
    assert (hindsight_indices("final", 8, 7, rng) == 7).all()
    assert hindsight_indices("final", 8, 7, rng).shape == (7, 1)
    assert hindsight_indices("none", 8, 7, rng).shape == (7, 0)


def test_random_uses_the_supplied_pool_in_order():
    k = 2
    pool = np.array([[0, 1, 1], [1, 0, 0], [1, 1, 0], [0, 0, 1], [1, 1, 1], [0, 1, 0]], dtype=np.int8)
    calls = []

    def random_goals(count):
        calls.append(count)
        return pool[:count]

    t_index, goals, rewards = relabel_episode(ACHIEVED, GOAL, "random", k, np.random.default_rng(0), bitflip_reward,
                                              random_goals=random_goals)
    assert calls == [T * k]
    assert t_index.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    for t in range(T):
        np.testing.assert_array_equal(goals[3 * t], GOAL)
        np.testing.assert_array_equal(goals[3 * t + 1:3 * t + 3], pool[2 * t:2 * t + 2])
    # next states s_1=100, s_2=110, s_3=111: pool[1]=100 (t=0), pool[2]=110 and GOAL (t=1), pool[4]=111 (t=2) hit
    assert rewards.tolist() == [-1, -1, 0, 0, 0, -1, -1, 0, -1]


def test_random_without_pool_and_unknown_strategy_raise():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="pool"):
        relabel_episode(ACHIEVED, GOAL, "random", 2, rng, bitflip_reward)
    with pytest.raises(ValueError, match="unknown HER strategy"):
        relabel_episode(ACHIEVED, GOAL, "futur", 2, rng, bitflip_reward)
    with pytest.raises(ValueError, match="unknown HER strategy"):
        extra_goals_per_transition("last", 2)
    with pytest.raises(ValueError):
        hindsight_indices("random", 2, 3, rng)


def test_extra_goal_counts():
    assert [extra_goals_per_transition(s, 4) for s in ("none", "final", "future", "episode", "random")] == [0, 1, 4, 4, 4]


# -- replay buffer ----------------------------------------------------------------------------------------------------
FIELDS = {"x": ((), np.int64), "v": ((2,), np.float32)}


def test_replay_buffer_fifo_wraps_around():
    buf = ReplayBuffer(5, FIELDS)
    buf.add(x=np.arange(3), v=np.zeros((3, 2)))
    assert (buf.size, buf.next) == (3, 3)
    buf.add(x=np.arange(3, 7), v=np.ones((4, 2)))
    assert (buf.size, buf.next) == (5, 2)
    assert buf.data["x"].tolist() == [5, 6, 2, 3, 4]  # 0 and 1, the oldest, were overwritten
    buf.add(x=np.arange(7, 15), v=np.ones((8, 2)))  # a batch larger than the buffer keeps its last 5
    assert sorted(buf.data["x"].tolist()) == [10, 11, 12, 13, 14]
    assert buf.size == 5


def test_replay_buffer_sampling_and_state_roundtrip():
    buf = ReplayBuffer(4, FIELDS)
    with pytest.raises(ValueError):
        buf.sample_indices(3, np.random.default_rng(0))
    buf.add(x=np.arange(3), v=np.arange(6, dtype=np.float32).reshape(3, 2))
    idx = buf.sample_indices(1000, np.random.default_rng(0))
    assert set(idx.tolist()) == {0, 1, 2}
    state = buf.state_dict()
    buf.add(x=np.array([99]), v=np.zeros((1, 2)))  # the saved state is a copy
    assert state["data"]["x"].tolist() == [0, 1, 2]
    other = ReplayBuffer(4, FIELDS)
    other.load_state_dict(state)
    assert (other.size, other.next) == (3, 3)
    np.testing.assert_array_equal(other.data["v"][:3], np.arange(6).reshape(3, 2))
    # after the roundtrip both continue identically, wrap-around included
    restored = ReplayBuffer(4, FIELDS)
    restored.load_state_dict(buf.state_dict())
    for b in (buf, restored):
        b.add(x=np.array([100, 101]), v=np.zeros((2, 2)))
    assert buf.data["x"].tolist() == restored.data["x"].tolist() == [100, 101, 2, 99]
    assert (buf.next, buf.size) == (restored.next, restored.size) == (2, 4)


# -- normaliser -------------------------------------------------------------------------------------------------------
def test_normalizer_mean_std_clip_and_floor():
    rng = np.random.default_rng(0)
    x = np.stack([rng.normal(3.0, 2.0, 400), np.full(400, 7.0), rng.normal(-1.0, 0.5, 400)], axis=1)
    norm = RunningNormalizer(3, clip=5.0, eps=0.01)
    norm.update(x[:150])
    norm.update(x[150:])  # incremental == one batch
    np.testing.assert_allclose(norm.mean, x.mean(0), rtol=1e-5)
    np.testing.assert_allclose(norm.std[[0, 2]], x.std(0)[[0, 2]], rtol=1e-4)
    assert norm.std[1] == pytest.approx(0.01)  # constant input: std floored at eps
    out = norm(torch.tensor([[3.0, 7.5, -1.0], [1000.0, 6.0, -1000.0]]))
    assert out[0, 1].item() == pytest.approx(5.0)  # (7.5 - 7) / 0.01 = 50 -> clipped to 5
    assert out[1].tolist() == [5.0, -5.0, -5.0]
    assert abs(out[0, 0].item() - (3.0 - x[:, 0].mean()) / x[:, 0].std()) < 1e-4


def test_normalizer_state_roundtrip():
    rng = np.random.default_rng(1)
    norm = RunningNormalizer(4, clip=5.0, eps=0.01)
    norm.update(rng.normal(size=(50, 4)))
    other = RunningNormalizer(4, clip=5.0, eps=0.01)
    other.load_state_dict(norm.state_dict())
    np.testing.assert_array_equal(other.mean, norm.mean)
    np.testing.assert_array_equal(other.std, norm.std)
    assert other.count == 50
    more = rng.normal(size=(10, 4))
    norm.update(more)
    other.update(more)
    x = torch.from_numpy(rng.normal(size=(5, 4)).astype(np.float32))
    assert torch.equal(norm(x), other(x))
