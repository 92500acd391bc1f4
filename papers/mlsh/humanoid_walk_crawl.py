"""Humanoid Walk/Crawl (§6.4, Fig. 5 bottom, the table "Reward on Walk/Crawl combination task"), ported from the
authors' ``HumanoidCourse-v1`` (openai/mlsh gym/gym/envs/mujoco/humanoid_course.py and
assets/humanoid_course.xml) to gymnasium's ``MujocoEnv`` and the ``mujoco`` bindings.

The XML is the authors', unchanged: the gym humanoid (RK4, timestep 0.003, PGS, 50 iterations) plus a 23 x 23 x 1
box ``obs1`` on a slide joint along y, spanning x in [0.5, 23.5] at heights 1 to 2 when in place (qpos[-1] = 0) and
moved 30 to the side when not (qpos[-1] = 30). Frame skip 5. The two objectives of §6.4, as the code computes them
(x_c is the humanoid's centre of mass, without the box; the rates divide by the physics timestep 0.003, as the
code does, not by the control step):

- walk ("move forwards while maintaining an upright stance"): the box moved aside; reward
  -0.1 ||a||^2 - min(5e-7 ||cfrc_ext||^2, 10), plus 5 + 0.25 dx_c / 0.003 while the torso is at height >= 1;
- crawl ("move backwards underneath an obstacle limiting vertical height"): the box in place; reward
  -1.5 dx_c / 0.003 - 0.1 ||a||^2 - min(5e-7 ||cfrc_ext||^2, 10).

Tasks: 0 = crawl, 1 = walk (the code's ``realgoal``), 2 = the unseen combination task ("first walk forwards until a
certain distance, at which point it must switch movements, turn around, and crawl backwards under an obstacle"):
walk until the torso passes x = 25, crawl from then on (the code's switch). Observation as the code's (376-d): the
torso's x and qpos[3:] (orientation and joint angles), qvel, and the bodies' cinert, cvel, actuator forces and
cfrc_ext, all without the box; gymnasium's ``MujocoEnv`` calls ``mj_rnePostConstraint`` after each step, so
cfrc_ext holds the contact forces as in MuJoCo 1.31. Reset: qpos0 and qvel0 plus U(-0.01, 0.01).

Declared choices: the training objective is drawn with probability 1/2 per task and kept through resets (the
released code overwrites it with walk in ``randomizeCorrect`` and ``reset_model``, a debugging state); the switch
at x = 25 belongs to the combination task only (in the code it is in every task); the code's fall test (walk, torso
below height 1) is computed and reported in ``info`` but ends nothing: MLSH's segments hold fixed-length episodes.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from gymnasium.envs.mujoco.mujoco_env import MujocoEnv
from gymnasium.spaces import Box

from papers.mlsh.mujoco_workers import MujocoWorkers

ASSET = Path(__file__).resolve().parent / "assets" / "humanoid_course.xml"
CRAWL, WALK, COMBINATION = 0, 1, 2
SWITCH_X = 25.0  # the combination task turns from walking to crawling when the torso passes x = 25
BOX_IN_PLACE, BOX_ASIDE = 0.0, 30.0


class HumanoidWalkCrawlEnv(MujocoEnv):
    """One humanoid with the gymnasium API; ``task`` is CRAWL, WALK or COMBINATION."""

    metadata = {"render_modes": ["human", "rgb_array", "depth_array"], "render_fps": 67}

    def __init__(self, task: int = WALK, **kwargs) -> None:
        self.task = task
        self.objective = WALK if task == COMBINATION else task
        MujocoEnv.__init__(self, str(ASSET), 5, observation_space=None, **kwargs)
        self.observation_space = Box(-np.inf, np.inf, self._get_obs().shape, np.float64)
        self._mass = self.model.body_mass[:-1]

    def mass_center_x(self) -> float:
        return float((self._mass @ self.data.xipos[:-1, 0]) / self._mass.sum())

    def step(self, action: np.ndarray):
        before = self.mass_center_x()
        self.do_simulation(action, self.frame_skip)
        if self.task == COMBINATION and self.data.qpos[0] > SWITCH_X:
            self.objective = CRAWL
        qpos, qvel = self.data.qpos.copy(), self.data.qvel.copy()
        qpos[-1] = BOX_IN_PLACE if self.objective == CRAWL else BOX_ASIDE
        self.set_state(qpos, qvel)
        rate = (self.mass_center_x() - before) / self.model.opt.timestep
        costs = 0.1 * np.square(self.data.ctrl).sum() + min(0.5e-6 * np.square(self.data.cfrc_ext).sum(), 10.0)
        fallen = bool(self.data.qpos[2] < 1.0)
        if self.objective == CRAWL:
            reward = -1.5 * rate - costs
        else:
            reward = -costs + (0.0 if fallen else 5.0 + 0.25 * rate)
        info = {"objective": self.objective, "fallen": fallen}
        return self._get_obs(), float(reward), False, False, info

    def _get_obs(self) -> np.ndarray:
        d = self.data
        return np.concatenate([d.qpos[:1], d.qpos[3:-1], d.qvel[:-1], d.cinert[:-1].flat, d.cvel[:-1].flat,
                               d.qfrc_actuator[:-1], d.cfrc_ext[:-1].flat])

    def reset_model(self) -> np.ndarray:
        self.objective = WALK if self.task == COMBINATION else self.task
        c = 0.01
        self.set_state(self.init_qpos + self.np_random.uniform(low=-c, high=c, size=self.model.nq),
                       self.init_qvel + self.np_random.uniform(low=-c, high=c, size=self.model.nv))
        return self._get_obs()


class HumanoidWalkCrawlTasks(MujocoWorkers):
    """The training distribution: walk or crawl with probability 1/2 (§6.4, 'one is randomly selected')."""

    def __init__(self, workers: int, horizon: int = 1000, seed: int = 0) -> None:
        super().__init__(HumanoidWalkCrawlEnv, workers, horizon, seed)

    def sample_tasks(self, workers: np.ndarray, rng: np.random.Generator, held_out: bool = False) -> np.ndarray:
        return rng.integers(0, 2, size=len(workers))  # CRAWL or WALK; there is no held-out objective


class HumanoidCombinationTasks(MujocoWorkers):
    """The unseen combination task, the only task."""

    def __init__(self, workers: int, horizon: int = 3000, seed: int = 0) -> None:
        super().__init__(lambda: HumanoidWalkCrawlEnv(COMBINATION), workers, horizon, seed)

    def sample_tasks(self, workers: np.ndarray, rng: np.random.Generator, held_out: bool = False) -> np.ndarray:
        return np.full(len(workers), COMBINATION)
