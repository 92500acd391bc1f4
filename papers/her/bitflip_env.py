"""The n-bit flipping environment of §3.1 as a goal-conditioned gymnasium env.

S = {0,1}^n, A = {0,...,n-1} (action i flips bit i); the initial state and the target are sampled uniformly and
independently each episode; r_g(s, a) = -[s' != g] on the state s' after the action (the §4.1 convention; §3.1
writes r_g(s, a) = -[s != g], see ``paper.yaml`` deviations); an episode lasts n steps (App. A) and never ends early.
Success (App. A): the goal state was reached at any timestep of the episode, reported in ``info["is_success"]``
for the current step; the caller accumulates it over the episode.
"""
from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces


def bitflip_reward(achieved_goal: np.ndarray, desired_goal: np.ndarray) -> np.ndarray:
    """r = -[achieved != desired] over the last axis: 0.0 on the goal, -1.0 elsewhere (batched)."""
    return -np.any(achieved_goal != desired_goal, axis=-1).astype(np.float32)


class BitFlipEnv(gym.Env):
    """Goal-conditioned bit flipping: observations are dicts of observation / achieved_goal / desired_goal."""

    metadata = {"render_modes": []}

    def __init__(self, n_bits: int) -> None:
        if n_bits < 1:
            raise ValueError(f"n_bits must be >= 1, got {n_bits}")
        self.n_bits = n_bits
        bits = spaces.MultiBinary(n_bits)
        self.observation_space = spaces.Dict({"observation": bits, "achieved_goal": bits, "desired_goal": bits})
        self.action_space = spaces.Discrete(n_bits)
        self._state = np.zeros(n_bits, dtype=np.int8)
        self._goal = np.zeros(n_bits, dtype=np.int8)
        self._t = 0

    def _obs(self) -> dict[str, np.ndarray]:
        # copies: a buffer that stores these arrays must never see them change (pfnet/pfrl#6)
        return {"observation": self._state.copy(), "achieved_goal": self._state.copy(),
                "desired_goal": self._goal.copy()}

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[dict, dict]:
        super().reset(seed=seed)
        self._state = self.np_random.integers(0, 2, self.n_bits, dtype=np.int8)
        self._goal = self.np_random.integers(0, 2, self.n_bits, dtype=np.int8)
        self._t = 0
        return self._obs(), {"is_success": bool(np.array_equal(self._state, self._goal))}

    def step(self, action: int) -> tuple[dict, float, bool, bool, dict[str, Any]]:
        if not self.action_space.contains(int(action)):
            raise ValueError(f"action {action!r} is not in {{0..{self.n_bits - 1}}}")
        self._state[int(action)] ^= 1
        self._t += 1
        reward = float(self.compute_reward(self._state, self._goal, {}))
        truncated = self._t >= self.n_bits
        return self._obs(), reward, False, truncated, {"is_success": reward == 0.0}

    def compute_reward(self, achieved_goal: np.ndarray, desired_goal: np.ndarray, info: Any) -> np.ndarray:
        return bitflip_reward(achieved_goal, desired_goal)
