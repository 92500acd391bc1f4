"""Random tabular MDPs (RL^2 §3.2; SNAIL §4.1).

|S| = 10, |A| = 5 by default; each (s, a) has a reward mean mu ~ N(1, 1) and rewards r ~ N(mu, 1); transitions
P(.|s, a) ~ Dirichlet(1, ..., 1) (flat); every episode starts in state 0 and lasts T steps (T = 10).
"""
from __future__ import annotations

import numpy as np


class RandomTabularMDPs:
    """A batch of independent random MDPs (one per trial being played)."""

    def __init__(self, n_states: int = 10, n_actions: int = 5, horizon: int = 10) -> None:
        self.n_states, self.n_actions, self.horizon = n_states, n_actions, horizon
        self.reward_means = np.zeros((0, n_states, n_actions))
        self.transitions = np.zeros((0, n_states, n_actions, n_states))
        self._cumulative = self.transitions

    def sample(self, batch: int, rng: np.random.Generator) -> None:
        """Draw ``batch`` new MDPs: mu(s, a) ~ N(1, 1), P(.|s, a) ~ flat Dirichlet."""
        s, a = self.n_states, self.n_actions
        self.reward_means = rng.normal(1.0, 1.0, size=(batch, s, a))
        self.transitions = rng.dirichlet(np.ones(s), size=(batch, s, a))
        self._cumulative = np.cumsum(self.transitions, axis=-1)
        self._cumulative[..., -1] = 1.0  # guard the last bin against rounding

    def start_states(self) -> np.ndarray:
        return np.zeros(len(self.reward_means), dtype=np.int64)

    def step(self, states: np.ndarray, actions: np.ndarray,
             rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """r ~ N(mu(s, a), 1) and s' ~ P(.|s, a) for every MDP of the batch at once."""
        b = np.arange(len(states))
        rewards = rng.normal(self.reward_means[b, states, actions], 1.0)
        u = rng.uniform(size=(len(states), 1))
        next_states = (self._cumulative[b, states, actions] < u).sum(axis=-1)
        return rewards, next_states

    def expected_rewards(self) -> np.ndarray:
        """(batch, S, A): mu(s, a)."""
        return self.reward_means

    def optimal_trial_return(self, n_episodes: int) -> np.ndarray:
        """Expected total reward of the optimal policy that knows the MDP, over n episodes of T steps
        (finite-horizon value iteration from state 0): the oracle SNAIL normalises by."""
        v = np.zeros(self.reward_means.shape[:2])
        for _ in range(self.horizon):
            q = self.reward_means + np.einsum("bsat,bt->bsa", self.transitions, v)
            v = q.max(axis=-1)
        return n_episodes * v[:, 0]
