"""Rewards of the Fetch experiments: the sparse binary reward (§4.1), the shaped family of §4.4 and the count-based
exploration bonus of the DDPG baseline (§4.2, footnote 6)."""
from __future__ import annotations

from collections import Counter

import numpy as np


def sparse_reward(achieved_next: np.ndarray, goal: np.ndarray, epsilon: float) -> np.ndarray:
    """r(s, a, g) = -[f_g(s') = 0] with f_g(s) = [|g - s_object| <= epsilon] on the state s' after the action."""
    return -(np.linalg.norm(achieved_next - goal, axis=-1) > epsilon).astype(np.float32)


def shaped_reward(achieved: np.ndarray, achieved_next: np.ndarray, goal: np.ndarray, lam: float,
                  power: float) -> np.ndarray:
    """§4.4: r(s, a, g) = lambda |g - s_object|^p - |g - s'_object|^p."""
    before = np.linalg.norm(goal - achieved, axis=-1) ** power
    after = np.linalg.norm(goal - achieved_next, axis=-1) ** power
    return (lam * before - after).astype(np.float32)


class CountBonus:
    """Footnote 6: intrinsic reward alpha / sqrt(N), N = visits of the cell of the discretised relative position of
    box and target (every coordinate on a grid of step beta); the visited state is s', the state after the action."""

    def __init__(self, alpha: float, beta: float) -> None:
        self.alpha, self.beta = alpha, beta
        self.counts: Counter[tuple[int, ...]] = Counter()

    def cells(self, achieved_next: np.ndarray, goal: np.ndarray) -> list[tuple[int, ...]]:
        grid = np.floor((achieved_next - goal) / self.beta).astype(np.int64)
        return [tuple(c) for c in grid.reshape(-1, grid.shape[-1])]

    def visit_and_bonus(self, achieved_next: np.ndarray, goal: np.ndarray) -> np.ndarray:
        """Count the episode's visited cells, then return alpha / sqrt(N) for each of them (N includes this visit)."""
        cells = self.cells(achieved_next, goal)
        self.counts.update(cells)
        return np.array([self.alpha / np.sqrt(self.counts[c]) for c in cells], dtype=np.float32)

    def state_dict(self) -> dict:
        return {"counts": dict(self.counts)}

    def load_state_dict(self, state: dict) -> None:
        self.counts = Counter(state["counts"])
