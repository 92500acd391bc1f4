"""MLSH pieces against the authors' code (openai/mlsh): the Moving Bandits dynamics, GAE at both levels, the
pooled advantage normalisation, MpiAdam, the initialisation, and the MPI reductions of the emulated schedule."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from papers.mlsh.hierarchy import MLSH, Settings
from papers.mlsh.moving_bandits import MovingBandits
from papers.mlsh.networks import RunningMeanStd, SetAdam, normc
from papers.mlsh.ppo import gae, pooled_normalise, sample_losses


def small_settings(**changes) -> Settings:
    base = dict(subpolicies=2, macro_duration=10, warmup=2, joint=1, groups=3, workers_per_group=2,
                rollout_steps=100, hidden=8, layers=2, gamma=0.99, gae_lambda=0.98, clip=0.2, epochs=2,
                master_lr=0.01, sub_lr=3e-4, master_minibatch=4, sub_minibatches=3, master_random_choice=0.1,
                stagger=1)
    return Settings(**{**base, **changes})


def test_moving_bandits_is_the_authors_env():
    env = MovingBandits(workers=2)
    rng = np.random.default_rng(0)
    obs = env.reset(rng)
    assert np.allclose(obs[:, :2], 0.5)  # (200, 200) / 400
    assert ((env.goals >= 0) & (env.goals <= 400)).all()
    env.set_tasks(np.array([0, 1]), np.array([0, 1]))
    env.goals[:] = [[[260.0, 200.0], [200.0, 100.0]], [[260.0, 200.0], [200.0, 100.0]]]
    obs, r = env.step(np.array([1, 1]), rng)  # +20 x -> (220, 200): 40^2 = 1600 < 2500 from goal 0 only
    assert np.allclose(env.pos, [[220, 200], [220, 200]]) and r.tolist() == [1.0, 0.0]
    assert np.allclose(obs[0], np.array([220, 200, 260, 200, 200, 100]) / 400)
    _, r = env.step(np.array([0, 4]), rng)  # worker 1 moves -20 y -> (220, 180): 20^2 + 80^2 = 6800 > 2500
    assert r.tolist() == [1.0, 0.0]
    env.pos[1] = [200.0, 150.0]  # exactly 50 away: 2500 is not < 2500
    assert not env.goal_hits()[1, 1]


def test_oracle_reaches_the_correct_goal():
    env = MovingBandits(workers=500)
    rng = np.random.default_rng(1)
    env.set_tasks(np.arange(500), env.sample_tasks(np.arange(500), rng))
    env.reset(rng)
    total = np.zeros(500)
    for _ in range(env.horizon):
        _, r = env.step(env.oracle_actions(), rng)
        total += r
    assert env.goal_hits()[np.arange(500), env.task].all()
    assert 35 < total.mean() < 50


def reference_gae(rew, vpred, new, gamma, lam):
    """rollouts.py add_advantage_macro / prepare_allrolls, line by line, for one worker."""
    new = np.append(new, 0)
    vpred = np.append(vpred, 0)
    T = len(rew)
    gaelam = np.empty(T, "float32")
    lastgaelam = 0
    for t in reversed(range(T)):
        nonterminal = 1 - new[t + 1]
        delta = rew[t] + gamma * vpred[t + 1] * nonterminal - vpred[t]
        gaelam[t] = lastgaelam = delta + gamma * lam * nonterminal * lastgaelam
    return gaelam, gaelam + vpred[:-1]


def test_gae_matches_the_authors_loop():
    rng = np.random.default_rng(2)
    rew, val = rng.normal(size=(3, 40)), rng.normal(size=(3, 40)).astype(np.float32)
    starts = np.zeros((3, 40), dtype=bool)
    starts[:, ::10] = True
    adv, ret = gae(rew, val, starts, 0.99, 0.98)
    for w in range(3):
        ref_adv, ref_ret = reference_gae(rew[w], val[w], starts[w].astype(int), 0.99, 0.98)
        assert np.allclose(adv[w], ref_adv, atol=1e-5) and np.allclose(ret[w], ref_ret, atol=1e-5)


def test_pooled_normalisation_is_the_allgather_of_means_and_variances():
    adv = np.random.default_rng(3).normal(2.0, 3.0, size=(6, 50))
    out = pooled_normalise(adv)
    assert np.allclose(out, (adv - adv.mean()) / adv.std(), atol=1e-5)


def test_ppo_loss_is_the_codes_clipped_surrogate_and_clipped_value_loss():
    logp, old = torch.tensor([0.0, 0.0]), torch.log(torch.tensor([0.5, 2.0]))
    v, old_v, adv, ret = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 0.0]), torch.tensor([1.0, 1.0]), \
        torch.tensor([2.0, 0.5])
    loss = sample_losses(logp, old, v, old_v, adv, ret, 0.2)
    # ratio 2 -> clipped to 1.2 (A > 0: min picks 1.2); ratio 0.5 -> min(0.5, 0.8) = 0.5
    # value: v = 1 vs clipped 0.2: max((1 - 2)^2, (0.2 - 2)^2) = 3.24; second: max(0.25, 0.25)
    assert torch.allclose(loss, torch.tensor([-1.2 + 0.5 * 3.24, -0.5 + 0.5 * 0.25]))


def test_normc_columns_have_the_given_norm():
    w = normc(3, 7, 5, 0.01, torch.Generator().manual_seed(0))
    assert torch.allclose(w.pow(2).sum(dim=1).sqrt(), torch.full((3, 5), 0.01))


def reference_mpi_adam(theta, grads, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    m = np.zeros_like(theta)
    v = np.zeros_like(theta)
    for t, g in enumerate(grads, start=1):
        a = lr * np.sqrt(1 - beta2 ** t) / (1 - beta1 ** t)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        theta = theta - a * m / (np.sqrt(v) + eps)
    return theta


def test_set_adam_is_mpi_adam_and_idle_sets_do_not_move():
    rng = np.random.default_rng(4)
    start = rng.normal(size=(2, 3)).astype(np.float32)
    params = {"w": torch.tensor(start.copy())}
    adam = SetAdam(params, lr=0.01)
    grads = [rng.normal(size=3).astype(np.float32) for _ in range(4)]
    for g in grads:
        adam.step(params, {"w": torch.stack([torch.tensor(g), torch.tensor(g)])}, torch.tensor([True, False]))
    assert np.allclose(params["w"][0].numpy(), reference_mpi_adam(start[0].astype(np.float64), grads, 0.01),
                       atol=1e-6)
    assert np.array_equal(params["w"][1].numpy(), start[1]) and adam.t.tolist() == [4.0, 0.0]


def test_running_mean_std_is_the_codes_filter():
    rms = RunningMeanStd(2, 3)
    x = torch.randn(100, 3) * 2 + 1
    rms.update(1, x)
    mean, std = rms.stats()
    count = 100 + 1e-2
    assert torch.allclose(mean[1], (x.double().sum(0) / count).float(), atol=1e-6)
    expected = ((x.double().pow(2).sum(0) + 1e-2) / count - (x.double().sum(0) / count) ** 2).clamp(min=1e-2).sqrt()
    assert torch.allclose(std[1], expected.float(), atol=1e-5)
    assert torch.equal(mean[0], torch.zeros(3)) and torch.allclose(std[0], torch.ones(3))  # sqrt(max(1 - 0, ...))
    z = rms.normalise(torch.full((2, 4, 3), 1e3))
    assert z.max() == 5.0


def test_staggered_schedule_keeps_one_group_in_its_joint_period():
    """W = 9, U = 1, 10 groups staggered by (W + U) / 10 = 1: after the first tasks exactly one group updates phi
    in every iteration, each task lasts W + U = 10 iterations, and group g's first warmup is 9 + g iterations."""
    s = small_settings(groups=10, workers_per_group=1, warmup=9, joint=1)
    agent = MLSH(MovingBandits(10), s)
    rng = np.random.default_rng(5)
    joint_history, task_starts = [], {g: [] for g in range(10)}
    for it in range(60):
        before = agent.started.copy(), agent.counters.copy()
        agent.begin_iteration(rng)
        for g in range(10):
            if not before[0][g] or before[1][g] >= s.task_length:
                task_starts[g].append(it)
        joint_history.append(agent.joint_workers().copy())
        agent.counters += 1
    joint = np.array(joint_history)
    assert (joint[19:].sum(axis=1) == 1).all()
    for g in range(10):
        assert np.nonzero(joint[:, g])[0][0] == 9 + g  # first joint iteration of group g
        assert np.diff(task_starts[g][1:]).tolist() == [10] * (len(task_starts[g]) - 2)


def segment_for(agent: MLSH, seed: int):
    torch.manual_seed(seed)
    return agent.rollout(np.random.default_rng(seed))


def test_subpolicies_learn_only_from_workers_in_their_joint_period():
    s = small_settings()
    agent = MLSH(MovingBandits(s.workers), s)
    rng = np.random.default_rng(6)
    agent.begin_iteration(rng)
    seg = segment_for(agent, 0)
    before = {k: v.clone() for k, v in agent.subs.items()}
    agent.counters[:] = 0  # every group in warmup: phi must not move and Adam must not count a step
    assert agent.update_subpolicies(seg, rng)["contributing_workers"] == 0
    assert all(torch.equal(before[k], agent.subs[k]) for k in before) and agent.sub_adam.t.tolist() == [0, 0]

    def after_update(segment):
        probe = MLSH(MovingBandits(s.workers), s)
        probe.load_state_dict(agent.state_dict())
        probe.counters[:] = [s.warmup, 0, 0]  # only group 0 (workers 0, 1) in its joint period
        probe.update_subpolicies(segment, np.random.default_rng(7))
        return probe.subs

    base = after_update(seg)
    assert any(not torch.equal(before[k], base[k]) for k in before)
    changed = segment_for(agent, 0)
    changed.rewards[2:] += 5.0  # the data of workers outside group 0 must not matter
    assert all(torch.equal(base[k], after_update(changed)[k]) for k in base)
    changed.rewards[0] += 5.0
    assert any(not torch.equal(base[k], after_update(changed)[k]) for k in base)


def test_each_group_master_learns_only_from_its_own_workers():
    s = small_settings()
    agent = MLSH(MovingBandits(s.workers), s)
    rng = np.random.default_rng(8)
    agent.begin_iteration(rng)
    seg = segment_for(agent, 1)

    def masters_after(segment):
        probe = MLSH(MovingBandits(s.workers), s)
        probe.load_state_dict(agent.state_dict())
        probe.update_masters(segment, np.random.default_rng(9))
        return probe.masters

    base = masters_after(seg)
    changed = segment_for(agent, 1)
    flip = changed.macro_actions[4:] == 0  # group 2's workers (4, 5) made other choices
    changed.macro_actions[4:] = np.where(flip, 1, 0)
    after = masters_after(changed)
    for k in base:  # advantages are normalised over all workers, but group 2's choices move only group 2's master
        assert torch.equal(base[k][:2], after[k][:2])
    assert not torch.equal(base["pi_out.w"][2], after["pi_out.w"][2])  # (its value function ignores the choices)


def test_new_task_resets_only_that_groups_master_and_shares_one_task():
    s = small_settings()
    agent = MLSH(MovingBandits(s.workers), s)
    rng = np.random.default_rng(10)
    agent.begin_iteration(rng)
    agent.masters["pi0.w"].data += 1.0
    old = agent.masters["pi0.w"].clone()
    agent.new_task(1, rng)
    assert torch.equal(agent.masters["pi0.w"][0], old[0]) and torch.equal(agent.masters["pi0.w"][2], old[2])
    assert not torch.equal(agent.masters["pi0.w"][1], old[1])
    tasks = agent.env.task.reshape(s.groups, s.workers_per_group)
    assert (tasks == tasks[:, :1]).all()


@pytest.mark.parametrize("bad", [dict(rollout_steps=90), dict(macro_duration=7)])
def test_segments_must_hold_whole_episodes_and_macro_steps(bad):
    s = small_settings(**bad)
    with pytest.raises(ValueError, match="N \\| T \\| D"):
        MLSH(MovingBandits(s.workers), s)


def test_four_rooms_is_the_authors_grid():
    from papers.mlsh.four_rooms import CELLS, MOVES, START, FourRooms

    assert len(CELLS) == 104 and tuple(CELLS[START]) == (7, 9)  # state 62: the doorway between the two right rooms
    assert tuple(CELLS[103]) == (11, 11) and tuple(CELLS[0]) == (1, 1)
    assert MOVES[0, 0] == 0 and MOVES[0, 2] == 0  # up / left from the top-left corner: walls, stay
    env = FourRooms(workers=4000, held_out_goals=(68, 80, 90, 103))
    rng = np.random.default_rng(11)
    env.reset(rng)
    env.set_tasks(np.arange(4000), np.full(4000, MOVES[START, 1]))  # the goal one step down
    assert MOVES[START, 1] != START
    obs, r = env.step(np.full(4000, 1), rng)
    assert obs.sum(axis=1).tolist() == [1.0] * 4000 and np.array_equal(obs.argmax(axis=1), env.state)
    # with probability 2/3 the agent stays where it moved, else it slips to a free neighbour of that cell
    assert abs(r.mean() - 2 / 3) < 0.03
    env.reset(rng)
    env.state[:] = 0
    env.step(np.zeros(4000, dtype=np.int64), rng)  # into the wall: no move, no slip
    assert (env.state == 0).all()
    assert set(env.sample_tasks(np.arange(500), rng, held_out=True)) == {68, 80, 90, 103}
    train = env.sample_tasks(np.arange(5000), rng)
    assert not set(train) & {68, 80, 90, 103, START} and len(set(train)) == 99


def test_four_rooms_oracle_reaches_and_holds_the_goal():
    from papers.mlsh.four_rooms import FourRooms

    env = FourRooms(workers=200)
    rng = np.random.default_rng(12)
    env.set_tasks(np.arange(200), env.sample_tasks(np.arange(200), rng, held_out=True))
    env.reset(rng)
    total = np.zeros(200)
    for _ in range(env.horizon):
        _, r = env.step(env.oracle_actions(), rng)
        total += r
    assert total.mean() > 60  # the held-out goals lie in the start's neighbouring room, a few moves away


def test_ant_twowalk_is_the_authors_env():
    import mujoco

    from papers.mlsh.ant_twowalk import AntTwowalkEnv

    env = AntTwowalkEnv(task=1)
    obs, _ = env.reset(seed=3)
    assert obs.shape == (30,) and obs[-1] == 0.0 and env.action_space.shape == (8,)
    assert env.dt == pytest.approx(0.05) and env.model.opt.integrator == mujoco.mjtIntegrator.mjINT_RK4
    assert np.array_equal(env.data.qpos[-2:], [0.0, 5.0])  # goal (0, 5) through the target's slide joints
    target = env.data.body("target").xpos
    assert np.allclose(target[:2], [0.19 + 0.0 - 0.1, -0.19 + 5.0 + 0.1])  # slide joints with ref 0.1 / -0.1
    assert np.allclose(obs[:15], env.data.qpos[:15]) and np.allclose(obs[15:29], env.data.qvel[:14])
    obs, reward, terminated, truncated, _ = env.step(np.zeros(8))
    torso = env.data.subtree_com[env.model.body("torso").id]
    expected = -np.sqrt(np.linalg.norm(torso - env.data.subtree_com[env.model.body("target").id])) / 3000
    assert reward == pytest.approx(expected) and not terminated and not truncated
    again = AntTwowalkEnv(task=1)
    assert np.array_equal(again.reset(seed=3)[0][:29], AntTwowalkEnv(task=1).reset(seed=3)[0][:29])
