"""2D point navigation (§5.3), as the authors' code runs it ([maml_rl] maml_examples/point_env_randgoal.py under
rllab's ``normalize`` wrapper), batched: many (task, trajectory) copies step in lockstep.

* state s_t in R^2, s_0 = (0, 0); the observation is s_t;
* the policy acts in [-1, 1]^2; ``normalize`` maps a to 0.1 a and clips to the velocity bound [-0.1, 0.1];
* s_{t+1} = s_t + clip(0.1 a_t); reward r_t = -||s_{t+1} - g||_2 (``reward_distance="l2"``, the code's) or
  -||s_{t+1} - g||^2 (``"squared"``, the paper's text);
* the episode ends when |s_{t+1} - g| < 0.01 in both coordinates (the terminal reward counts) or after H steps;
* goals g ~ U[-0.5, 0.5]^2 (a unit square centred on the start).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class PointNavigation:
    """The task family and its batched dynamics (``reset`` / ``step`` over N copies); a task is a goal g (2,)."""

    goal_low: float = -0.5
    goal_high: float = 0.5
    action_scale: float = 0.1      # normalize(): [-1, 1] -> [lb, ub] = [-0.1, 0.1]
    goal_tolerance: float = 0.01
    reward_distance: str = "l2"
    obs_dim: int = 2
    action_dim: int = 2

    def sample_tasks(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.uniform(self.goal_low, self.goal_high, size=(n, 2))

    def reset(self, goals: torch.Tensor, seed: int | None = None) -> torch.Tensor:
        """Start every copy at the origin (deterministic: ``seed`` is unused); ``goals`` (N, 2) fixes each copy's
        task. Returns observations (N, 2)."""
        self._goals = goals.to(torch.float32)
        self._state = torch.zeros_like(self._goals)
        return self._state.clone()

    def step(self, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(observations, rewards, done) for actions (N, 2) in the policy's units."""
        velocity = torch.clamp(self.action_scale * actions, -self.action_scale, self.action_scale)
        self._state = self._state + velocity
        offset = self._state - self._goals
        distance = torch.linalg.vector_norm(offset, dim=-1)
        reward = -distance if self.reward_distance == "l2" else -distance ** 2
        done = (offset.abs() < self.goal_tolerance).all(dim=-1)
        return self._state.clone(), reward, done
