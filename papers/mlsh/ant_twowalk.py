"""Ant Twowalk (§6.4, Fig. 7), ported from the authors' ``AntBandits-v1`` (openai/mlsh
gym/gym/envs/mujoco/ant_bandits.py and assets/ant_bandits.xml, time limit 1000) to gymnasium's ``MujocoEnv`` and
the ``mujoco`` bindings:

- the authors' XML unchanged (RK4, timestep 0.01), frame skip 5;
- a task is the goal: (5, 0) or (0, 5) with probability 1/2 each, placed through the two slide joints of the
  ``target`` body (qpos[-2:]); the observation leaves the target out: qpos[:-2], qvel[:-2] and a constant 0 (30-d);
- reward -sqrt(||c_torso - c_target||) / 3000 with c the subtree centres of mass (mujoco-py 0.5's
  ``get_body_com``; note the square root of the norm), computed after the step as mujoco-py did;
- no termination (the code computes a height test and discards it);
- reset: qpos0 + U(-0.1, 0.1), qvel0 + U(-0.005, 0.005), target at the goal, at rest.
The physics runs on MuJoCo 3 instead of 1.31 (a declared deviation: contact and solver defaults differ).
"""
from __future__ import annotations

from pathlib import Path

import mujoco
import numpy as np
from gymnasium.envs.mujoco.mujoco_env import MujocoEnv
from gymnasium.spaces import Box

from papers.mlsh.mujoco_workers import MujocoWorkers

ASSET = Path(__file__).resolve().parent / "assets" / "ant_bandits.xml"
GOALS = np.array([[5.0, 0.0], [0.0, 5.0]])


class AntTwowalkEnv(MujocoEnv):
    """One Ant Twowalk environment with the gymnasium API; ``task`` is the goal."""

    metadata = {"render_modes": ["human", "rgb_array", "depth_array"], "render_fps": 20}

    def __init__(self, task: int = 0, **kwargs) -> None:
        self.task = task  # the goal's index in GOALS
        MujocoEnv.__init__(self, str(ASSET), 5, observation_space=None, **kwargs)
        self.observation_space = Box(-np.inf, np.inf, (self.model.nq - 2 + self.model.nv - 2 + 1,), np.float64)
        self._torso = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_BODY, "torso")
        self._target = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_BODY, "target")

    def step(self, action: np.ndarray):
        self.do_simulation(action, self.frame_skip)
        vec = self.data.subtree_com[self._torso] - self.data.subtree_com[self._target]
        reward = -np.sqrt(np.linalg.norm(vec)) / 3000
        return self._get_obs(), reward, False, False, {}

    def _get_obs(self) -> np.ndarray:
        return np.concatenate([self.data.qpos.flat[:-2], self.data.qvel.flat[:-2], [0.0]])

    def reset_model(self) -> np.ndarray:
        qpos = self.init_qpos + self.np_random.uniform(low=-0.1, high=0.1, size=self.model.nq)
        qpos[-2:] = GOALS[self.task]
        qvel = self.init_qvel + self.np_random.uniform(low=-0.005, high=0.005, size=self.model.nv)
        qvel[-2:] = 0.0
        self.set_state(qpos, qvel)
        return self._get_obs()


class AntTwowalkTasks(MujocoWorkers):
    """``workers`` AntTwowalkEnv instances behind the vectorised task interface of ``hierarchy.MLSH``."""

    def __init__(self, workers: int, horizon: int = 1000, seed: int = 0) -> None:
        super().__init__(AntTwowalkEnv, workers, horizon, seed)

    def sample_tasks(self, workers: np.ndarray, rng: np.random.Generator, held_out: bool = False) -> np.ndarray:
        """``randomizeCorrect``: goal (5, 0) or (0, 5) with probability 1/2 (there are no held-out goals)."""
        return rng.integers(0, 2, size=len(workers))
