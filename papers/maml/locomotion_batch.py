"""The locomotion task families of §5.3 behind the batched ``reset(tasks)`` / ``step(actions)`` interface of
``PointNavigation``: N copies of one ``shared.tasks.locomotion`` task env in a gymnasium ``SyncVectorEnv``, each copy given
its own task before every batch of paths."""
from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch

from shared.tasks.locomotion import LOCOMOTION_ENVS, make_locomotion_env


class LocomotionTasks:
    """A task is a goal velocity (or the goal whose sign rule gives a direction), as the env's ``sample_tasks``."""

    def __init__(self, name: str, horizon: int) -> None:
        self.name, self.horizon = name, horizon
        self.env_class = LOCOMOTION_ENVS[name]
        probe = make_locomotion_env(name, max_episode_steps=horizon)
        self.obs_dim = int(np.prod(probe.observation_space.shape))
        self.action_dim = int(np.prod(probe.action_space.shape))
        probe.close()
        self._vec: gym.vector.SyncVectorEnv | None = None

    def sample_tasks(self, rng: np.random.Generator | np.random.RandomState, n: int) -> np.ndarray:
        return self.env_class.sample_tasks(rng, n)

    def reset(self, tasks: torch.Tensor, seed: int | None = None) -> torch.Tensor:
        """One copy per entry of ``tasks`` (N,), copy i seeded with ``seed + i``; returns observations (N, obs_dim)."""
        n = len(tasks)
        if self._vec is None or self._vec.num_envs != n:
            if self._vec is not None:
                self._vec.close()
            self._vec = gym.vector.SyncVectorEnv(
                [lambda: make_locomotion_env(self.name, max_episode_steps=self.horizon)] * n)
        for env, task in zip(self._vec.envs, tasks.tolist()):
            env.unwrapped.set_task(task)
        obs, _ = self._vec.reset(seed=seed)
        return torch.as_tensor(obs, dtype=torch.float32)

    def step(self, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(observations, rewards, done): a path ends at termination or at the horizon (rllab's single done; no
        bootstrapping at truncation). The sampler masks a copy from its first done on."""
        obs, reward, terminated, truncated, _ = self._vec.step(actions.numpy().astype(np.float64))
        return (torch.as_tensor(obs, dtype=torch.float32), torch.as_tensor(reward, dtype=torch.float32),
                torch.as_tensor(terminated | truncated))
