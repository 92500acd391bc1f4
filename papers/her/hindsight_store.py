"""A replay buffer of Alg. 1's stored transitions that keeps each real transition's observations once.

Alg. 1 stores every transition (s_t||g, a_t, r, s_{t+1}||g) once with the episode's goal and once per hindsight goal
g'; the App. A buffer holds 10^6 of these *stored* transitions, first in, first out. The copies differ only in
(g', r'), so ``items`` (FIFO, ``capacity``) hold (index of the real transition, goal, reward) and ``real`` holds
(s_t, a_t, s_{t+1}, m(s_{t+1})) once. The real ring is sized so that a real transition is never overwritten while one
of its copies is still in ``items``: every real transition adds at least ``min_copies`` items.
"""
from __future__ import annotations

import math

import numpy as np

from papers.her.replay import ReplayBuffer


class HindsightStore:
    def __init__(self, capacity: int, min_copies: int, obs_dim: int, action_dim: int, goal_dim: int,
                 episode_steps: int) -> None:
        self.capacity = int(capacity)
        real_capacity = math.ceil(self.capacity / max(1, min_copies)) + episode_steps
        self.real = ReplayBuffer(real_capacity, {"obs": ((obs_dim,), np.float32), "next_obs": ((obs_dim,), np.float32),
                                                 "action": ((action_dim,), np.float32),
                                                 "achieved_next": ((goal_dim,), np.float32)})
        self.items = ReplayBuffer(self.capacity, {"real": ((), np.int64), "goal": ((goal_dim,), np.float32),
                                                  "reward": ((), np.float32)})

    @property
    def size(self) -> int:
        """Stored transitions (Alg. 1's count, the one App. A's 10^6 limits)."""
        return self.items.size

    def add_episode(self, obs: np.ndarray, actions: np.ndarray, achieved: np.ndarray, t_index: np.ndarray,
                    goals: np.ndarray, rewards: np.ndarray) -> None:
        """obs s_0..s_T [T+1, D], actions [T, A], achieved m(s_0)..m(s_T) [T+1, G]; the stored copies: transition
        ``t_index[i]`` with goal ``goals[i]`` and reward ``rewards[i]``."""
        horizon = len(actions)
        first = self.real.next
        self.real.add(obs=obs[:-1], next_obs=obs[1:], action=actions, achieved_next=achieved[1:])
        slots = (first + np.arange(horizon)) % self.real.capacity
        self.items.add(real=slots[t_index], goal=goals, reward=rewards)

    def sample(self, batch_size: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """A uniform minibatch of stored transitions (App. A: 'sampled uniformly')."""
        idx = self.items.sample_indices(batch_size, rng)
        real = self.items.data["real"][idx]
        return {"obs": self.real.data["obs"][real], "next_obs": self.real.data["next_obs"][real],
                "action": self.real.data["action"][real], "goal": self.items.data["goal"][idx],
                "reward": self.items.data["reward"][idx]}

    def achieved_so_far(self, count: int, rng: np.random.Generator) -> np.ndarray:
        """``random`` strategy (§4.5): achieved goals of states encountered so far (the live real transitions)."""
        return self.real.data["achieved_next"][rng.integers(0, self.real.size, size=count)]

    def state_dict(self) -> dict:
        return {"real": self.real.state_dict(), "items": self.items.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.real.load_state_dict(state["real"])
        self.items.load_state_dict(state["items"])
