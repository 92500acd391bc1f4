"""The Ant obstacle course (§6.5, Fig. 8), ported from the authors' ``AntObstaclesBig-v1`` (openai/mlsh
gym/gym/envs/mujoco/ant_obstaclesbig.py and assets/ant_obstaclesbig.xml) to gymnasium's ``MujocoEnv`` and the
``mujoco`` bindings:

- the authors' XML unchanged (RK4, timestep 0.005, walls, the goal pad, the enemy on two slide joints and its
  texture), frame skip 5; the ant starts at the bottom-left, (-35, 15), as qpos0 puts it;
- sparse reward (§6.5 "a reward of 1"): 1 on every step that ends with the torso within sqrt(30) of (35, -35)
  (the top-right corner), else 0; no termination;
- the enemy (§6.5 "a chasing enemy", Fig. 8 "entering the red circle causes an enemy to attack"): it starts at
  (25, 30) and, on every step that starts with the torso within 15 of (25, 30), moves one unit along each axis
  towards the torso before the physics step;
- the joint reset (§6.5 "we periodically reset the joints"): every 300th step the pose and velocities are redrawn
  around qpos0 (U(-0.1, 0.1) and N(0, 0.1^2)) with the torso's x, y kept;
- reset: qpos0 + U(-0.1, 0.1), qvel0 + N(0, 0.1^2), the enemy back at (25, 30).

Two declared choices: the episode lasts 2000 steps as §6.5 says (the code registers 3000), and the observation is
the code's qpos[:-2], qvel[:-2] (the enemy left out) followed by a constant 0, the layout of the Twowalk
observation, so that the Twowalk sub-policies of §6.5 can read it (the code's 29-d observation cannot feed them; how
the authors bridged this is not released). The code draws a ``realgoal`` that nothing uses; there is one task.
The physics runs on MuJoCo 3 instead of 1.31 (a declared deviation, as for Twowalk).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from gymnasium.envs.mujoco.mujoco_env import MujocoEnv
from gymnasium.spaces import Box

from papers.mlsh.mujoco_workers import MujocoWorkers

ASSET = Path(__file__).resolve().parent / "assets" / "ant_obstaclesbig.xml"
GOAL, GOAL_RADIUS_SQ = np.array([35.0, -35.0]), 30.0
ENEMY_HOME, ENEMY_RANGE_SQ = np.array([25.0, 30.0]), 15.0 ** 2
JOINT_RESET_EVERY = 300


class AntObstacleCourseEnv(MujocoEnv):
    """One obstacle course with the gymnasium API."""

    metadata = {"render_modes": ["human", "rgb_array", "depth_array"], "render_fps": 40}

    def __init__(self, **kwargs) -> None:
        self.task = 0  # a single task
        self.count, self.enemy = 0, ENEMY_HOME.copy()
        MujocoEnv.__init__(self, str(ASSET), 5, observation_space=None, **kwargs)
        self.observation_space = Box(-np.inf, np.inf, (self.model.nq - 2 + self.model.nv - 2 + 1,), np.float64)

    def step(self, action: np.ndarray):
        self.count += 1
        if self.count % JOINT_RESET_EVERY == 0:
            qpos = self.init_qpos + self.np_random.uniform(low=-0.1, high=0.1, size=self.model.nq)
            qvel = self.init_qvel + self.np_random.standard_normal(self.model.nv) * 0.1
            qpos[:2] = self.data.qpos[:2]
            self.set_state(qpos, qvel)
        torso = self.data.qpos[:2]
        if np.sum(np.square(torso - ENEMY_HOME)) < ENEMY_RANGE_SQ:
            self.enemy += np.sign(torso - self.enemy)
        qpos = self.data.qpos.copy()
        qpos[-2:] = self.enemy
        self.set_state(qpos, self.data.qvel.copy())
        self.do_simulation(action, self.frame_skip)
        reward = float(np.sum(np.square(self.data.qpos[:2] - GOAL)) < GOAL_RADIUS_SQ)
        return self._get_obs(), reward, False, False, {}

    def _get_obs(self) -> np.ndarray:
        return np.concatenate([self.data.qpos.flat[:-2], self.data.qvel.flat[:-2], [0.0]])

    def reset_model(self) -> np.ndarray:
        self.count, self.enemy = 0, ENEMY_HOME.copy()
        qpos = self.init_qpos + self.np_random.uniform(low=-0.1, high=0.1, size=self.model.nq)
        qvel = self.init_qvel + self.np_random.standard_normal(self.model.nv) * 0.1
        self.set_state(qpos, qvel)
        return self._get_obs()


class AntObstacleCourseTasks(MujocoWorkers):
    """``workers`` obstacle courses behind the vectorised task interface of ``hierarchy.MLSH``."""

    def __init__(self, workers: int, horizon: int = 2000, seed: int = 0) -> None:
        super().__init__(AntObstacleCourseEnv, workers, horizon, seed)

    def sample_tasks(self, workers: np.ndarray, rng: np.random.Generator, held_out: bool = False) -> np.ndarray:
        return np.zeros(len(workers), dtype=np.int64)
