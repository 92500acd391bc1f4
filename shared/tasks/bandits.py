"""Bernoulli multi-armed bandits (RL^2 §3.1; SNAIL §4.1): k arms with success probabilities p_i ~ U[0, 1].

A bandit has one state and each pull is an episode of length 1, so a trial of n episodes is n pulls.
"""
from __future__ import annotations

import numpy as np


class BernoulliBandits:
    """A batch of independent k-armed bandit instances (one per trial being played)."""

    n_states = 1
    horizon = 1  # one pull per episode

    def __init__(self, n_arms: int) -> None:
        if n_arms < 2:
            raise ValueError(f"a bandit needs at least 2 arms, got {n_arms}")
        self.n_actions = n_arms
        self.means = np.zeros((0, n_arms))

    def sample(self, batch: int, rng: np.random.Generator) -> None:
        """Draw ``batch`` new instances: p_i ~ U[0, 1] independently per arm."""
        self.means = rng.uniform(0.0, 1.0, size=(batch, self.n_actions))

    def start_states(self) -> np.ndarray:
        return np.zeros(len(self.means), dtype=np.int64)

    def step(self, states: np.ndarray, actions: np.ndarray,
             rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Pull arm ``actions[b]`` of instance b: reward 1 with probability p_a, else 0. The state never changes."""
        p = self.means[np.arange(len(actions)), actions]
        return (rng.uniform(size=len(actions)) < p).astype(np.float64), states

    def expected_rewards(self) -> np.ndarray:
        """(batch, 1, k): the mean reward of each (state, action), for oracles and tests."""
        return self.means[:, None, :]
