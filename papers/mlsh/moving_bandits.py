"""2D Moving Bandits (§6.2), vectorised over workers, as the authors' ``MovementBandits-v0`` (openai/mlsh
test_envs/test_envs/envs/movement_bandits.py, time limit 50 in test_envs/__init__.py):

- the agent starts every episode at (200, 200); two goal points are drawn uniformly in [0, 400]^2 at every reset;
- 5 actions: stay, +20 x, -20 x, +20 y, -20 y (no walls: the agent may leave the square);
- reward 1 on every step that ends with the agent's squared distance to the *correct* goal below 2500 (within 50);
- observation (agent, goal 1, goal 2) / 400: which goal is correct is not observed;
- a task is which of the two goals is correct; it stays fixed while a master learns it (``randomizeCorrect``).
"""
from __future__ import annotations

import numpy as np

MOVES = np.array([[0.0, 0.0], [20.0, 0.0], [-20.0, 0.0], [0.0, 20.0], [0.0, -20.0]])


class MovingBandits:
    """``workers`` independent copies of the environment, stepped together."""

    obs_dim = 6
    n_actions = 5
    gaussian = False
    n_goals = 2

    def __init__(self, workers: int, horizon: int = 50, radius_sq: float = 2500.0) -> None:
        self.workers, self.horizon, self.radius_sq = workers, horizon, radius_sq
        self.task = np.zeros(workers, dtype=np.int64)  # index of the correct goal (realgoal)
        self.pos = np.full((workers, 2), 200.0)
        self.goals = np.zeros((workers, 2, 2))

    def sample_tasks(self, workers: np.ndarray, rng: np.random.Generator, held_out: bool = False) -> np.ndarray:
        """``randomizeCorrect``: one correct goal in {0, 1} per worker index given (there are no held-out tasks:
        the goal positions are new in every episode)."""
        return rng.integers(0, 2, size=len(workers))

    def set_tasks(self, workers: np.ndarray, tasks: np.ndarray) -> None:
        self.task[workers] = tasks

    def reset(self, rng: np.random.Generator) -> np.ndarray:
        """Start a new episode in every worker: agent at (200, 200), two fresh goals."""
        self.pos = np.full((self.workers, 2), 200.0)
        self.goals = rng.uniform(0.0, 400.0, size=(self.workers, 2, 2))
        return self.observe()

    def observe(self) -> np.ndarray:
        return np.concatenate([self.pos, self.goals.reshape(self.workers, 4)], axis=1).astype(np.float32) / 400.0

    def goal_hits(self) -> np.ndarray:
        """(workers, 2): whether the agent is within the reward radius of each goal."""
        return ((self.pos[:, None, :] - self.goals) ** 2).sum(-1) < self.radius_sq

    def step(self, actions: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        self.pos = self.pos + MOVES[np.asarray(actions, dtype=np.int64)]
        reward = self.goal_hits()[np.arange(self.workers), self.task].astype(np.float64)
        return self.observe(), reward

    def oracle_actions(self) -> np.ndarray:
        """A scripted policy that knows the task: move along the axis of the larger gap to the correct goal, stay
        once inside the radius (our reference for 'reaches the correct goal', not from the paper)."""
        target = self.goals[np.arange(self.workers), self.task]
        gap = target - self.pos
        inside = (gap ** 2).sum(-1) < self.radius_sq
        x_axis = np.abs(gap[:, 0]) >= np.abs(gap[:, 1])
        act = np.where(x_axis, np.where(gap[:, 0] > 0, 1, 2), np.where(gap[:, 1] > 0, 3, 4))
        return np.where(inside, 0, act)

    def state_dict(self) -> dict:
        return {"task": self.task.copy()}

    def load_state_dict(self, state: dict) -> None:
        self.task = state["task"].copy()
