"""Hindsight goal selection and storage-time relabelling (Alg. 1, §4.5 strategies).

For an episode s_0..s_T with goal g, Alg. 1 stores for every t the standard transition (s_t||g, a_t, r_t, s_{t+1}||g)
and then, for each extra goal g' in G := S(episode), (s_t||g', a_t, r', s_{t+1}||g') with r' = r(s_t, a_t, g')
recomputed on the achieved goal of s_{t+1}. Strategies S (§4.5; ``final`` is the default, §4.1):

- ``final``: g' = m(s_T), one extra goal;
- ``future``: k states of the same episode "observed after" the transition: indices t+1..T (s_{t+1} included);
- ``episode``: k states of the same episode: indices 0..T;
- ``random``: k states "encountered so far in the whole training procedure" (drawn by the caller's pool);
- ``none``: no extra goal (plain experience replay).
"""
from __future__ import annotations

from typing import Callable

import numpy as np

STRATEGIES = ("none", "final", "future", "episode", "random")


def extra_goals_per_transition(strategy: str, k: int) -> int:
    """|G| for one transition: 0 for none, 1 for final, k otherwise."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown HER strategy {strategy!r} (known: {', '.join(STRATEGIES)})")
    return {"none": 0, "final": 1}.get(strategy, k)


def hindsight_indices(strategy: str, k: int, horizon: int, rng: np.random.Generator) -> np.ndarray:
    """State indices (into s_0..s_T, T = ``horizon``) of the extra goals: shape [T, |G|]. Not for ``random``."""
    t = np.arange(horizon)[:, None]
    if strategy == "none":
        return np.zeros((horizon, 0), dtype=np.int64)
    if strategy == "final":
        return np.full((horizon, 1), horizon, dtype=np.int64)
    if strategy == "future":  # uniform over t+1..T
        return t + 1 + rng.integers(0, horizon - t, size=(horizon, k))
    if strategy == "episode":  # uniform over 0..T
        return rng.integers(0, horizon + 1, size=(horizon, k))
    raise ValueError(f"strategy {strategy!r} does not draw goals from the episode")


def relabel_episode(achieved: np.ndarray, goal: np.ndarray, strategy: str, k: int, rng: np.random.Generator,
                    reward_fn: Callable[[np.ndarray, np.ndarray], np.ndarray],
                    random_goals: Callable[[int], np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Goals and rewards of every transition Alg. 1 stores for one episode, in Alg. 1's order.

    ``achieved`` holds m(s_0)..m(s_T) (shape [T+1, d]); ``goal`` the episode's goal (shape [d]). Returns
    ``(t_index, goals, rewards)``: transition t_index[i] = t is stored with goal goals[i] and reward rewards[i];
    for each t the original goal comes first, then its |G| hindsight goals.
    """
    horizon = achieved.shape[0] - 1
    n_extra = extra_goals_per_transition(strategy, k)
    if strategy == "random":
        if random_goals is None:
            raise ValueError("strategy 'random' needs a pool of goals encountered so far")
        extra = random_goals(horizon * n_extra).reshape(horizon, n_extra, -1)
    else:
        extra = achieved[hindsight_indices(strategy, k, horizon, rng)]  # [T, |G|, d]
    goals = np.concatenate([np.broadcast_to(goal, (horizon, 1, goal.shape[-1])), extra], axis=1)  # [T, 1+|G|, d]
    t_index = np.repeat(np.arange(horizon), 1 + n_extra)
    goals = goals.reshape(horizon * (1 + n_extra), -1)
    rewards = reward_fn(achieved[t_index + 1], goals)  # r(s_t, a_t, g') on the state after the action
    return t_index, goals, rewards
