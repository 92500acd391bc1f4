"""The four locomotion task families of §5.3 (half-cheetah and ant, goal velocity and goal direction) on gymnasium's
``HalfCheetah-v5`` / ``Ant-v5`` classes, made to step, reward, observe, reset and terminate like the rllab envs of
the authors' code (cbfinn/maml_rl: ``rllab/envs/mujoco/{half_cheetah_env_rand, half_cheetah_env_rand_direc,
ant_env_rand, ant_env_rand_direc, mujoco_env}.py``, wrapped in ``rllab/envs/normalized_env.py``'s ``normalize``).

What is matched:

- one MuJoCo step per env step (rllab frame_skip 1): cheetah dt = 0.01 (same XML timestep), ant dt = 0.02 (rllab's
  ``ant.xml`` timestep, set on the v5 model, which already uses RK4), plus the ant's contact impedance
  ``solimp=".8 .8 .01"`` that the v5 XML lacks; after the step one ``mj_forward`` at the new state, as rllab's
  ``forward_dynamics`` does, so that contact forces and centres of mass are those of the state observed;
- ``normalize()``: the policy acts in [-1, 1], mapped affinely onto the actuator bounds and clipped; the ant's
  torque is 150 x the clipped action in both (rllab: gear 1, ctrlrange +-150; v5: gear 150, ctrlrange +-1);
- velocity = the x-velocity of the torso subtree's centre of mass (rllab's ``get_body_comvel("torso")``), not v5's
  finite difference of the torso position;
- rewards (per step): cheetah velocity -|v - g| - 0.05 |a|^2; cheetah direction d v - 0.05 |a|^2 with
  d = -1 if g < 1 else +1; ant velocity -|v - g| + 1.0 + 0.05 - 0.005 |a|^2 - 0.0005 |clip(cfrc_ext, -1, 1)|^2;
  ant direction d v + 0.05 - the same costs, d = -1 if g < 1.5 else +1; goals g ~ U[0, 2] (cheetah), U[0, 3] (ant);
- observations: cheetah (20) qpos[1:], qvel, torso subtree centre of mass; ant (125) qpos, qvel,
  clip(cfrc_ext, -1, 1) of all 14 bodies, torso rotation matrix, torso subtree centre of mass;
- initial state: qpos0 (ant: the XML's ``init_qpos`` numeric, z = 0.55, legs bent) + N(0, 0.01^2),
  qvel + N(0, 0.1^2);
- termination (ant only): the state is not finite or torso z is outside [0.2, 1.0]; horizon 200 steps.

What cannot be matched: rllab ran MuJoCo 1.31, we run 3.x (constraint solver, contact model, the solver warm
start that rllab set at reset), so trajectories are not identical to rllab's; random streams differ; the horizon
is reported as ``truncated``, where rllab had a single ``done`` (never bootstrapped).
"""
from __future__ import annotations

from typing import Any, ClassVar

import gymnasium as gym
import mujoco
import numpy as np
from gymnasium.envs.mujoco.ant_v5 import AntEnv
from gymnasium.envs.mujoco.half_cheetah_v5 import HalfCheetahEnv
from gymnasium.spaces import Box
from gymnasium.utils import EzPickle
from gymnasium.wrappers import TimeLimit

HORIZON = 200  # §5.3: H = 200; authors' launchers max_path_length = 200
QPOS_NOISE, QVEL_NOISE = 0.01, 0.1  # rllab mujoco_env.reset_mujoco: qpos + 0.01 N(0, 1), qvel + 0.1 N(0, 1)
ANT_TIMESTEP = 0.02  # rllab vendor/mujoco_models/ant.xml <option timestep="0.02" integrator="RK4">
ANT_SOLIMP = (0.8, 0.8, 0.01, 0.5, 2.0)  # rllab ant.xml geom default solimp ".8 .8 .01"; dmin = dmax makes the
# impedance constant, so MuJoCo 3's extra midpoint/power parameters have no effect


class RllabLocomotion:
    """Mixin over a gymnasium v5 MuJoCo env: rllab's step (normalize, one MuJoCo step, ``mj_forward``), reset noise,
    task handling and the torso subtree quantities. Robots define ``_observation`` and ``_robot_terms``; tasks
    define ``_task_terms``."""

    goal_range: ClassVar[tuple[float, float]]
    model: mujoco.MjModel
    data: mujoco.MjData
    np_random: np.random.Generator
    init_qpos: np.ndarray
    init_qvel: np.ndarray

    def _setup_rllab(self, obs_size: int) -> None:
        self.goal: float | None = None
        self._torso = self.model.body("torso").id
        self._ctrl_low, self._ctrl_high = self.model.actuator_ctrlrange.T.copy()
        self.action_space = Box(-1.0, 1.0, shape=(self.model.nu,), dtype=np.float32)
        self.observation_space = Box(-np.inf, np.inf, shape=(obs_size,), dtype=np.float64)
        self.metadata = {**self.metadata, "render_fps": int(np.round(1.0 / self.dt))}

    @classmethod
    def sample_tasks(cls, rng: np.random.Generator, n: int) -> np.ndarray:
        """n goals g ~ U[goal_range] (the authors' ``sample_goals``); direction tasks threshold them."""
        return rng.uniform(*cls.goal_range, size=n)

    def set_task(self, task: float) -> None:
        """Sets the goal for the following episodes (rllab's ``reset(reset_args=goal)``)."""
        self.goal = float(task)

    def to_ctrl(self, action: np.ndarray) -> np.ndarray:
        """rllab ``normalize``: lb + (a + 1)(ub - lb)/2, clipped to [lb, ub]."""
        low, high = self._ctrl_low, self._ctrl_high
        return np.clip(low + (np.asarray(action, dtype=np.float64) + 1.0) * 0.5 * (high - low), low, high)

    def _forward_state(self) -> None:
        """What rllab reads after ``model.forward()`` beyond MuJoCo 3's mj_forward: subtree_linvel."""
        mujoco.mj_subtreeVel(self.model, self.data)

    def com_velocity(self) -> float:
        """x-velocity of the torso subtree's centre of mass (rllab ``get_body_comvel("torso")[0]``)."""
        return float(self.data.subtree_linvel[self._torso, 0])

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        ctrl = self.to_ctrl(action)
        self.data.ctrl[:] = ctrl
        mujoco.mj_step(self.model, self.data, nstep=self.frame_skip)
        mujoco.mj_forward(self.model, self.data)
        self._forward_state()
        velocity = self.com_velocity()
        terms = {**self._task_terms(velocity), **self._robot_terms(ctrl)}
        reward = float(sum(terms.values()))
        info = {"x_velocity": velocity, "goal": self.goal, **terms}
        if self.render_mode == "human":
            self.render()
        return self._observation(), reward, self._terminated(), False, info

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """``options={"task": g}`` sets the goal; with no goal yet, one is drawn from p(T) with the env's seeded RNG
        (after the initial state, so that a seed gives the same state either way) and kept, as rllab does."""
        gym.Env.reset(self, seed=seed)
        mujoco.mj_resetData(self.model, self.data)
        observation = self.reset_model()
        if options and "task" in options:
            self.set_task(options["task"])
        if self.goal is None:
            self.set_task(self.sample_tasks(self.np_random, 1)[0])
        return observation, {"goal": self.goal}

    def reset_model(self) -> np.ndarray:
        qpos = self.init_qpos + QPOS_NOISE * self.np_random.standard_normal(self.model.nq)
        qvel = self.init_qvel + QVEL_NOISE * self.np_random.standard_normal(self.model.nv)
        self.set_state(qpos, qvel)  # ends with mj_forward
        self._forward_state()
        return self._observation()

    def _terminated(self) -> bool:
        return False


class GoalVelocity:
    """Goal velocity g: forward term -|v - g| (+ ``bonus``, the ant's "+1.0 # make it happy, not suicidal")."""

    bonus: ClassVar[float] = 0.0
    goal: float

    def _task_terms(self, velocity: float) -> dict[str, float]:
        terms = {"reward_forward": -abs(velocity - self.goal)}
        return {**terms, "reward_bonus": self.bonus} if self.bonus else terms


class GoalDirection:
    """Goal direction d = -1 if g < threshold else +1 (g drawn like a goal velocity): forward term d v."""

    threshold: ClassVar[float]
    goal: float

    @property
    def direction(self) -> float:
        return -1.0 if self.goal < self.threshold else 1.0

    def _task_terms(self, velocity: float) -> dict[str, float]:
        return {"reward_forward": self.direction * velocity}


class RllabHalfCheetah(RllabLocomotion, HalfCheetahEnv):
    """HalfCheetah-v5 (same XML as rllab's half_cheetah.xml) at frame_skip 1, dt 0.01; 20-d observation."""

    def __init__(self, **kwargs: Any) -> None:
        HalfCheetahEnv.__init__(self, frame_skip=1, **kwargs)
        EzPickle.__init__(self, **kwargs)  # v5 stored positional args our signature does not take
        self._setup_rllab(obs_size=self.model.nq - 1 + self.model.nv + 3)

    def _robot_terms(self, ctrl: np.ndarray) -> dict[str, float]:
        return {"reward_ctrl": -0.1 * 0.5 * float(np.sum(np.square(ctrl)))}  # ctrl = clipped action, bounds +-1

    def _observation(self) -> np.ndarray:
        d = self.data
        return np.concatenate([d.qpos[1:], d.qvel, d.subtree_com[self._torso]])


class RllabAnt(RllabLocomotion, AntEnv):
    """Ant-v5 with rllab's ant.xml timestep (0.02, RK4), contact impedance and initial pose, frame_skip 1;
    125-d observation; the episode ends when the torso leaves z in [0.2, 1.0]."""

    healthy_z: ClassVar[tuple[float, float]] = (0.2, 1.0)
    survive_reward: ClassVar[float] = 0.05

    def __init__(self, **kwargs: Any) -> None:
        AntEnv.__init__(self, frame_skip=1, **kwargs)
        EzPickle.__init__(self, **kwargs)
        self.model.opt.timestep = ANT_TIMESTEP
        self.model.geom_solimp[:] = ANT_SOLIMP
        self.init_qpos = self.model.numeric("init_qpos").data.copy()  # rllab reads it; v5 ignores it
        obs_size = self.model.nq + self.model.nv + 6 * self.model.nbody + 9 + 3
        self._setup_rllab(obs_size=obs_size)

    def _forward_state(self) -> None:
        """MuJoCo 1.31's mj_forward filled cfrc_ext; 3.x computes it in mj_rnePostConstraint."""
        mujoco.mj_rnePostConstraint(self.model, self.data)
        super()._forward_state()

    def _contact_forces(self) -> np.ndarray:
        return np.clip(self.data.cfrc_ext, -1.0, 1.0)

    def _robot_terms(self, ctrl: np.ndarray) -> dict[str, float]:
        half_range = 0.5 * (self._ctrl_high - self._ctrl_low)  # rllab: action / ((ub - lb) / 2)
        return {"reward_ctrl": -0.5 * 1e-2 * float(np.sum(np.square(ctrl / half_range))),
                "reward_contact": -0.5 * 1e-3 * float(np.sum(np.square(self._contact_forces()))),
                "reward_survive": self.survive_reward}

    def _terminated(self) -> bool:
        low, high = self.healthy_z
        state = np.concatenate([self.data.qpos, self.data.qvel])
        return not (np.isfinite(state).all() and low <= state[2] <= high)

    def _observation(self) -> np.ndarray:
        d = self.data
        return np.concatenate([d.qpos, d.qvel, self._contact_forces().ravel(), d.xmat[self._torso],
                               d.subtree_com[self._torso]])


class CheetahVelocityEnv(GoalVelocity, RllabHalfCheetah):
    goal_range = (0.0, 2.0)


class CheetahDirectionEnv(GoalDirection, RllabHalfCheetah):
    goal_range, threshold = (0.0, 2.0), 1.0


class AntVelocityEnv(GoalVelocity, RllabAnt):
    goal_range, bonus = (0.0, 3.0), 1.0


class AntDirectionEnv(GoalDirection, RllabAnt):
    goal_range, threshold = (0.0, 3.0), 1.5


LOCOMOTION_ENVS: dict[str, type[RllabLocomotion]] = {
    "cheetah_velocity": CheetahVelocityEnv, "cheetah_direction": CheetahDirectionEnv,
    "ant_velocity": AntVelocityEnv, "ant_direction": AntDirectionEnv}


def make_locomotion_env(name: str, max_episode_steps: int = HORIZON, **kwargs: Any) -> gym.Env:
    """One of ``LOCOMOTION_ENVS`` under gymnasium's TimeLimit: the step that reaches the horizon returns
    ``truncated=True``; ``terminated=True`` only for the ant leaving its healthy z range."""
    if name not in LOCOMOTION_ENVS:
        raise ValueError(f"unknown locomotion env {name!r}; expected one of {sorted(LOCOMOTION_ENVS)}")
    return TimeLimit(LOCOMOTION_ENVS[name](**kwargs), max_episode_steps=max_episode_steps)
