"""The rllab locomotion tasks (§5.3; authors' code cbfinn/maml_rl rllab/envs/mujoco/*_rand*.py): simulation step,
observations, rewards recomputed from MuJoCo data, goal sampling and direction rule, normalize() action scaling,
the ant's termination, the 200-step horizon, reset noise and determinism."""
from __future__ import annotations

import mujoco
import numpy as np
import pytest

from shared.tasks.locomotion import (ANT_SOLIMP, HORIZON, LOCOMOTION_ENVS, AntDirectionEnv, AntVelocityEnv,
                                         CheetahDirectionEnv, CheetahVelocityEnv, make_locomotion_env)

NAMES = sorted(LOCOMOTION_ENVS)


def rllab_com_velocity(model: mujoco.MjModel, data: mujoco.MjData, body: int) -> np.ndarray:
    """rllab mujoco_py ``_compute_subtree``: body velocities from mj_objectVelocity(mjOBJ_BODY), mass-weighted and
    accumulated up the tree; independent of the env's mj_subtreeVel."""
    vel = np.zeros((model.nbody, 6))
    for i in range(model.nbody):
        mujoco.mj_objectVelocity(model, data, mujoco.mjtObj.mjOBJ_BODY, i, vel[i], 0)
    mass = model.body_mass.copy()
    momentum = vel[:, 3:] * mass[:, None]
    for i in range(model.nbody - 1, 0, -1):
        momentum[model.body_parentid[i]] += momentum[i]
        mass[model.body_parentid[i]] += mass[i]
    return momentum[body] / mass[body]


def robot_com(model: mujoco.MjModel, data: mujoco.MjData) -> np.ndarray:
    """Centre of mass of all bodies below the world (the torso subtree in both robots)."""
    m = model.body_mass[1:]
    return (m[:, None] * data.xipos[1:]).sum(0) / m.sum()


def random_actions(n: int, size: int, seed: int) -> np.ndarray:
    """Actions in [-1.5, 1.5], so that normalize()'s clipping is exercised."""
    return np.random.default_rng(seed).uniform(-1.5, 1.5, size=(n, size))


# -- simulation and observations --------------------------------------------------------------------------------------
def test_simulation_step_matches_rllab():
    cheetah, ant = CheetahVelocityEnv(), AntVelocityEnv()
    assert cheetah.frame_skip == 1 and cheetah.dt == pytest.approx(0.01)  # half_cheetah.xml timestep 0.01
    assert ant.frame_skip == 1 and ant.dt == pytest.approx(0.02)  # ant.xml timestep 0.02
    assert ant.model.opt.integrator == mujoco.mjtIntegrator.mjINT_RK4
    assert np.allclose(ant.model.geom_solimp, ANT_SOLIMP)
    assert np.allclose(ant.model.actuator_gear[:, 0] * ant.model.actuator_ctrlrange[:, 1], 150.0)  # max torque
    for env in (cheetah, ant):
        env.reset(seed=0)
        before = env.data.time
        env.step(np.zeros(env.action_space.shape))
        assert env.data.time - before == pytest.approx(env.dt)


@pytest.mark.parametrize("name, size", [("cheetah_velocity", 20), ("cheetah_direction", 20), ("ant_velocity", 125),
                                        ("ant_direction", 125)])
def test_observation_layout(name: str, size: int):
    env = make_locomotion_env(name)
    u = env.unwrapped
    obs, _ = env.reset(seed=3)
    assert obs.shape == (size,) and u.observation_space.shape == (size,)
    for action in random_actions(5, u.model.nu, seed=3):
        obs, *_ = env.step(action)
    d, m = u.data, u.model
    for _ in range(100):  # on to a step with contacts, so that the ant's contact forces are not all zero
        if d.ncon:
            break
        obs, *_ = env.step(np.zeros(m.nu))
    assert np.allclose(obs[-3:], robot_com(m, d))  # torso subtree centre of mass, last three entries
    if name.startswith("cheetah"):
        assert np.array_equal(obs[:17], np.concatenate([d.qpos[1:], d.qvel]))
        return
    assert np.array_equal(obs[:29], np.concatenate([d.qpos, d.qvel]))
    assert np.array_equal(obs[113:122], d.body("torso").xmat)
    forces = obs[29:113].reshape(m.nbody, 6)
    assert forces.min() >= -1 and forces.max() <= 1 and np.abs(forces).max() > 0
    # contact forces are those of the observed state (rllab's mj_forward after the step): recompute on fresh data
    fresh = mujoco.MjData(m)
    fresh.qpos[:], fresh.qvel[:], fresh.ctrl[:] = d.qpos, d.qvel, d.ctrl
    mujoco.mj_forward(m, fresh)
    mujoco.mj_rnePostConstraint(m, fresh)
    assert np.allclose(forces, np.clip(fresh.cfrc_ext, -1, 1), atol=1e-6)


# -- rewards -----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_reward_terms_equal_rllab_formulas(name: str):
    env = make_locomotion_env(name)
    u = env.unwrapped
    u.set_task(0.7 if name.startswith("cheetah") else 2.2)
    env.reset(seed=5)
    for action in random_actions(40, u.model.nu, seed=5):
        _, reward, terminated, _, info = env.step(action)
        v = rllab_com_velocity(u.model, u.data, u.model.body("torso").id)[0]
        a = np.clip(action, -1, 1)
        assert info["x_velocity"] == pytest.approx(v, abs=1e-10)
        if name.endswith("velocity"):
            assert info["reward_forward"] == pytest.approx(-abs(v - u.goal))
        else:
            assert info["reward_forward"] == pytest.approx(u.direction * v)
        if name.startswith("cheetah"):
            assert info["reward_ctrl"] == pytest.approx(-0.05 * np.sum(a ** 2))
            expected = info["reward_forward"] + info["reward_ctrl"]
        else:
            assert info["reward_ctrl"] == pytest.approx(-0.005 * np.sum(a ** 2))  # 0.5e-2 |150 a / 150|^2
            assert info["reward_contact"] == pytest.approx(-0.0005 * np.sum(np.clip(u.data.cfrc_ext, -1, 1) ** 2))
            assert info["reward_survive"] == 0.05
            assert info.get("reward_bonus", 0.0) == (1.0 if name == "ant_velocity" else 0.0)
            expected = sum(info[k] for k in ("reward_forward", "reward_ctrl", "reward_contact", "reward_survive"))
            expected += info.get("reward_bonus", 0.0)
        assert reward == pytest.approx(expected, abs=1e-12)
        if terminated:
            break


@pytest.mark.parametrize("name", NAMES)
def test_set_task_changes_only_the_reward(name: str):
    """Same seed and actions under two goals: identical states, rewards that differ by the task term."""
    runs = []
    for goal in (0.2, 1.8):
        env = make_locomotion_env(name)
        env.unwrapped.set_task(goal)
        obs, _ = env.reset(seed=11)
        steps = [env.step(a) for a in random_actions(10, env.action_space.shape[0], seed=11)]
        runs.append((goal, [s[0] for s in steps], [s[1] for s in steps], [s[4] for s in steps]))
    (g1, obs1, r1, info1), (g2, obs2, r2, info2) = runs
    assert all(np.array_equal(a, b) for a, b in zip(obs1, obs2))
    assert not np.allclose(r1, r2)
    for i1, i2 in zip(info1, info2):
        v = i1["x_velocity"]
        if name.endswith("velocity"):
            assert i1["reward_forward"] - i2["reward_forward"] == pytest.approx(abs(v - g2) - abs(v - g1))
        else:  # 0.2 is backward and 1.8 forward for both thresholds (1.0, 1.5)
            assert i1["reward_forward"] == pytest.approx(-v) and i2["reward_forward"] == pytest.approx(v)


# -- tasks -------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cls, high", [(CheetahVelocityEnv, 2.0), (CheetahDirectionEnv, 2.0), (AntVelocityEnv, 3.0),
                                       (AntDirectionEnv, 3.0)])
def test_goal_sampling_range(cls: type, high: float):
    goals = cls.sample_tasks(np.random.default_rng(0), 4000)
    assert goals.shape == (4000,) and goals.min() >= 0.0 and goals.max() < high
    assert goals.min() < 0.01 * high and goals.max() > 0.99 * high and goals.mean() == pytest.approx(high / 2, rel=0.03)
    assert np.array_equal(goals, cls.sample_tasks(np.random.default_rng(0), 4000))


@pytest.mark.parametrize("cls, threshold", [(CheetahDirectionEnv, 1.0), (AntDirectionEnv, 1.5)])
def test_direction_rule(cls: type, threshold: float):
    env = cls()
    for goal, direction in ((0.0, -1.0), (threshold - 1e-9, -1.0), (threshold, 1.0), (2 * threshold, 1.0)):
        env.set_task(goal)
        assert env.direction == direction
    goals = cls.sample_tasks(np.random.default_rng(1), 4000)
    assert np.mean(goals < threshold) == pytest.approx(0.5, abs=0.03)  # forward and backward equally likely


def test_goal_is_drawn_once_from_the_seed_when_not_set():
    env, other = CheetahVelocityEnv(), CheetahVelocityEnv()
    _, info = env.reset(seed=4)
    assert 0.0 <= env.goal < 2.0 and info["goal"] == env.goal
    assert other.reset(seed=4)[1]["goal"] == env.goal
    assert env.reset(seed=5)[1]["goal"] == info["goal"]  # kept for later episodes, as rllab does
    assert env.reset(options={"task": 1.25})[1]["goal"] == 1.25


# -- actions, termination, horizon, reset -----------------------------------------------------------------------------
def test_normalize_maps_and_clips_actions():
    cheetah, ant = CheetahVelocityEnv(), AntVelocityEnv()
    for env in (cheetah, ant):
        assert env.action_space.low.min() == -1 and env.action_space.high.max() == 1
        low, high = env.model.actuator_ctrlrange.T
        assert np.allclose(env.to_ctrl(-np.ones(env.model.nu)), low)
        assert np.allclose(env.to_ctrl(np.ones(env.model.nu)), high)
        assert np.allclose(env.to_ctrl(np.zeros(env.model.nu)), (low + high) / 2)
        assert np.allclose(env.to_ctrl(np.full(env.model.nu, 3.0)), high)
        assert np.allclose(env.to_ctrl(np.full(env.model.nu, -3.0)), low)
        # an out-of-range action steps exactly like its clipped value
        action = np.linspace(-2.0, 2.0, env.model.nu)
        env.reset(seed=2)
        wide = env.step(action)
        env.reset(seed=2)
        clipped = env.step(np.clip(action, -1, 1))
        assert np.array_equal(wide[0], clipped[0]) and wide[1] == clipped[1]
        assert np.allclose(env.data.ctrl, np.clip(action, -1, 1))


def test_ant_terminates_outside_healthy_height():
    env = AntDirectionEnv()
    env.reset(seed=0)
    assert not env._terminated()
    for z, done in ((0.19, True), (0.2, False), (1.0, False), (1.01, True)):
        env.data.qpos[2] = z
        assert env._terminated() == done
    env.data.qpos[2] = 0.5
    env.data.qvel[0] = np.nan
    assert env._terminated()
    env.reset(seed=0)  # dropped from 3 m: z stays above 1.0 after one step
    qpos = env.data.qpos.copy()
    qpos[2] = 3.0
    env.set_state(qpos, env.data.qvel.copy())
    assert env.step(np.zeros(8))[2]
    cheetah = CheetahVelocityEnv()  # rllab's cheetah never terminates
    cheetah.reset(seed=0)
    assert not any(cheetah.step(a)[2] for a in random_actions(50, 6, seed=0))


@pytest.mark.parametrize("name", ["cheetah_direction", "ant_velocity"])
def test_horizon_truncates_at_200_steps(name: str):
    env = make_locomotion_env(name)
    env.reset(seed=0)
    flags = [env.step(np.zeros(env.action_space.shape))[2:4] for _ in range(HORIZON)]
    assert HORIZON == 200
    assert flags[-1] == (False, True)  # truncated, not terminated
    assert not any(terminated or truncated for terminated, truncated in flags[:-1])


def test_reset_matches_rllab_initial_state_noise():
    env = AntVelocityEnv()
    assert np.allclose(env.init_qpos, [0, 0, 0.55, 1, 0, 0, 0, 0, 1, 0, -1, 0, -1, 0, 1])  # ant.xml init_qpos
    dq, dv = [], []
    for seed in range(200):
        env.reset(seed=seed)
        dq.append(env.data.qpos - env.init_qpos)
        dv.append(env.data.qvel - env.init_qvel)
    assert np.std(dq) == pytest.approx(0.01, rel=0.05) and np.abs(np.mean(dq)) < 1e-3
    assert np.std(dv) == pytest.approx(0.1, rel=0.05) and np.abs(np.mean(dv)) < 1e-2
    cheetah = CheetahVelocityEnv()
    assert np.array_equal(cheetah.init_qpos, np.zeros(9))


@pytest.mark.parametrize("name", NAMES)
def test_deterministic_under_seed(name: str):
    def rollout(seed: int) -> tuple[np.ndarray, list[float]]:
        env = make_locomotion_env(name)
        obs, _ = env.reset(seed=seed)
        observations, rewards = [obs], []
        for action in random_actions(30, env.action_space.shape[0], seed=7):
            obs, reward, *_ = env.step(action)
            observations.append(obs)
            rewards.append(reward)
        return np.stack(observations), rewards

    first, again, other = rollout(9), rollout(9), rollout(10)
    assert np.array_equal(first[0], again[0]) and first[1] == again[1]
    assert not np.array_equal(first[0][0], other[0][0])


def test_unknown_env_name_is_rejected():
    with pytest.raises(ValueError, match="unknown locomotion env"):
        make_locomotion_env("hopper_velocity")
