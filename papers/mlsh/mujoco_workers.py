"""The vectorised task interface of ``hierarchy.MLSH`` over a list of gymnasium MuJoCo environments, one per
emulated worker, each with an integer ``task`` attribute that its next reset uses (the code's
``randomizeCorrect`` hook, called by the MLSH loop)."""
from __future__ import annotations

from typing import Callable

import numpy as np
from gymnasium.envs.mujoco.mujoco_env import MujocoEnv


class MujocoWorkers:
    """``workers`` environments stepped in lockstep; subclasses draw the tasks (``sample_tasks``)."""

    gaussian = True

    def __init__(self, make: Callable[[], MujocoEnv], workers: int, horizon: int, seed: int = 0) -> None:
        self.envs = [make() for _ in range(workers)]
        for i, env in enumerate(self.envs):
            env.reset(seed=seed + i)
        self.workers, self.horizon = workers, horizon
        self.obs_dim = self.envs[0].observation_space.shape[0]
        self.n_actions = self.envs[0].action_space.shape[0]
        self.task = np.zeros(workers, dtype=np.int64)

    def sample_tasks(self, workers: np.ndarray, rng: np.random.Generator, held_out: bool = False) -> np.ndarray:
        raise NotImplementedError

    def set_tasks(self, workers: np.ndarray, tasks: np.ndarray) -> None:
        self.task[workers] = tasks
        for w, t in zip(workers, tasks):
            self.envs[w].task = int(t)

    def reset(self, rng: np.random.Generator) -> np.ndarray:
        return np.stack([env.reset()[0] for env in self.envs]).astype(np.float32)

    def step(self, actions: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        out = [env.step(a) for env, a in zip(self.envs, np.asarray(actions, dtype=np.float64))]
        return (np.stack([o[0] for o in out]).astype(np.float32), np.array([o[1] for o in out]))

    def state_dict(self) -> dict:
        return {"task": self.task.copy(), "rng": [env.np_random.bit_generator.state for env in self.envs]}

    def load_state_dict(self, state: dict) -> None:
        self.set_tasks(np.arange(self.workers), state["task"])
        for env, rng_state in zip(self.envs, state["rng"]):
            env.np_random.bit_generator.state = rng_state
