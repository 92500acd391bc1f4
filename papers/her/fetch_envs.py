"""The Fetch tasks of §4.1 on gymnasium-robotics' ``Fetch*-v4`` (mujoco 3.11.0), moved towards App. A where it can be
done from outside the simulator, and the paper's observation split between actor and critic (§4.1 "Observations").

What is changed (each is declared in paper.yaml):

- every env step runs ``n_substeps`` MuJoCo steps of 0.002 s (App. A "Simulation": 10; gymnasium uses 20);
- initial state-goal pairs whose goal is already satisfied are discarded (App. A "State-goal distributions");
- ``single goal`` runs (§4.3) use one goal for every episode;
- success is ``|g - s_object| < threshold`` at the end of the episode, 7 cm (push, pick-and-place) or 20 cm (slide),
  Fig. 3's caption.
"""
from __future__ import annotations

from types import ModuleType
from typing import Any

import gymnasium as gym
import gymnasium_robotics
import mujoco
import numpy as np

gym.register_envs(gymnasium_robotics)

ENV_IDS = {"push": "FetchPush-v4", "slide": "FetchSlide-v4", "pick_and_place": "FetchPickAndPlace-v4",
           "reach": "FetchReach-v4"}
EPISODE_STEPS = 50  # App. A "Simulation": every episode consists of 50 environment timesteps

# gymnasium-robotics' 25-D observation with an object: grip_pos 0:3, object_pos 3:6, object_rel_pos 6:9 (object -
# gripper), gripper_state 9:11 (finger joints), object_rot 11:14, object_velp 14:17 (relative to the gripper, x dt),
# object_velr 17:20, grip_velp 20:23, gripper_vel 23:25. Without an object (reach, 10-D): grip_pos 0:3,
# gripper_state 3:5, grip_velp 5:8, gripper_vel 8:10.
_OBJECT = {"grip_pos": slice(0, 3), "object_pos": slice(3, 6), "object_rel_pos": slice(6, 9),
           "fingers": slice(9, 11), "object_velp": slice(14, 17), "object_velr": slice(17, 20),
           "grip_velp": slice(20, 23), "fingers_vel": slice(23, 25)}
_REACH = {"grip_pos": slice(0, 3), "fingers": slice(3, 5), "grip_velp": slice(5, 8), "fingers_vel": slice(8, 10)}


def has_object(task: str) -> bool:
    return task != "reach"


def feature_sizes(task: str) -> tuple[int, int]:
    """(actor input size, critic input size without the action)."""
    return (10, 21) if has_object(task) else (7, 12)


def paper_features(obs: np.ndarray, goal: np.ndarray, task: str) -> np.ndarray:
    """The critic's input features; the actor reads the first ``feature_sizes(task)[0]`` of them.

    §4.1 "Observations" ("relative" = relative to the current gripper position): the policy gets the absolute
    gripper position, the relative position of the object, the target relative to the object (footnote 4) and the
    distance between the fingers; the Q-function additionally gets the linear velocity of the gripper and fingers and
    the relative linear and angular velocity of the object. For reach the "object" is the gripper itself.
    """
    if has_object(task):
        i = _OBJECT
        finger_distance = obs[..., i["fingers"]].sum(-1, keepdims=True)  # two finger joints, one opening
        actor = [obs[..., i["grip_pos"]], obs[..., i["object_rel_pos"]], finger_distance,
                 goal - obs[..., i["object_pos"]]]
        extra = [obs[..., i["grip_velp"]], obs[..., i["fingers_vel"]], obs[..., i["object_velp"]],
                 obs[..., i["object_velr"]]]
    else:
        i = _REACH
        finger_distance = obs[..., i["fingers"]].sum(-1, keepdims=True)
        actor = [obs[..., i["grip_pos"]], finger_distance, goal - obs[..., i["grip_pos"]]]
        extra = [obs[..., i["grip_velp"]], obs[..., i["fingers_vel"]]]
    return np.concatenate(actor + extra, axis=-1).astype(np.float32)


class CachedJointUtils:
    """gymnasium-robotics' ``mujoco_utils`` with ``robot_get_obs`` reading the robot joints through cached qpos/qvel
    addresses: the same values (tested bit for bit), without two name lookups per joint per step, which cost more
    than the 10 MuJoCo substeps themselves. Everything else is the module's own."""

    def __init__(self, utils: ModuleType) -> None:
        self._module = utils
        self._addresses: tuple[np.ndarray, np.ndarray] | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._module, name)

    def robot_get_obs(self, model: Any, data: Any, joint_names: list[str]) -> tuple[np.ndarray, np.ndarray]:
        if self._addresses is None:
            ids = [mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, n) for n in joint_names if n.startswith("robot")]
            one_dof = (mujoco.mjtJoint.mjJNT_HINGE, mujoco.mjtJoint.mjJNT_SLIDE)
            if not ids or not all(model.jnt_type[i] in one_dof for i in ids):
                return self._module.robot_get_obs(model, data, joint_names)
            self._addresses = (model.jnt_qposadr[ids], model.jnt_dofadr[ids])
        qpos_at, qvel_at = self._addresses
        return data.qpos[qpos_at], data.qvel[qvel_at]


class PaperGoals(gym.Wrapper):
    """Discards initial state-goal pairs whose goal is already satisfied (distance <= ``reject_within``) by
    resetting again from the env's own RNG, and optionally pins the goal (§4.3's single-goal setup)."""

    def __init__(self, env: gym.Env, reject_within: float, fixed_goal: np.ndarray | None) -> None:
        super().__init__(env)
        self.reject_within = reject_within
        self.fixed_goal = None if fixed_goal is None else np.asarray(fixed_goal, dtype=np.float64)
        self.rejected = 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        while True:
            if self.fixed_goal is not None:
                self.env.unwrapped.goal = self.fixed_goal.copy()
                obs = self.env.unwrapped._get_obs()
            if np.linalg.norm(obs["achieved_goal"] - obs["desired_goal"]) > self.reject_within:
                return obs, info
            self.rejected += 1
            obs, info = self.env.reset()  # continues the env's seeded RNG: deterministic


def make_fetch_env(task: str, n_substeps: int, reject_within: float, fixed_goal: np.ndarray | None = None) -> gym.Env:
    env = gym.make(ENV_IDS[task], max_episode_steps=EPISODE_STEPS)
    env.unwrapped.n_substeps = int(n_substeps)  # read by every step and by the velocity scaling dt
    env.unwrapped._utils = CachedJointUtils(env.unwrapped._utils)
    return PaperGoals(env, reject_within, fixed_goal)


def make_vector_env(task: str, num_envs: int, n_substeps: int, reject_within: float,
                    fixed_goal: np.ndarray | None = None) -> gym.vector.SyncVectorEnv:
    """Every episode lasts exactly 50 steps, so the vector env never auto-resets; each batch of episodes starts
    with an explicit, seeded reset."""
    return gym.vector.SyncVectorEnv(
        [lambda: make_fetch_env(task, n_substeps, reject_within, fixed_goal) for _ in range(num_envs)],
        autoreset_mode=gym.vector.AutoresetMode.DISABLED)
