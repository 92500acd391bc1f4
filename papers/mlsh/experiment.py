"""Entry point of the MLSH experiments (§6.2 Moving Bandits, §6.3 Four Rooms, and their baselines and ablations).

Training runs ``iterations`` global iterations of the emulated 10 x 12-worker schedule (``hierarchy.MLSH``); the
learning curve's ``average_return`` is the mean episode return over all 120 workers (the code's "global" mean).
After training, phi is frozen and the paper's transfer measure is taken (Fig. 4, "a sampled individual task" /
"fine-tuning on an unseen goal"): fresh masters on fresh (held-out, where the environment has them) tasks, trained
alone for ``evaluation_master_updates`` iterations, and the mean episode return of each segment. The PPO-from-scratch
baseline (``transfer_from_scratch``) has no meta-training: a fresh flat policy per task, trained by one group's
workers for the same number of iterations. For Moving Bandits the sub-policies are also forced for whole episodes to
measure which goal each one reaches (the specialisation §6.2 describes and openai/mlsh#9 reports collapsing).
"""
from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

import numpy as np
import torch

from papers.mlsh.four_rooms import FourRooms
from papers.mlsh.hierarchy import MLSH, Settings, VectorTaskEnv
from papers.mlsh.moving_bandits import MovingBandits
from shared.params import ExperimentConfig
from shared.run import Run

SETTING_KEYS = ("subpolicies", "macro_duration", "warmup", "joint", "groups", "workers_per_group", "rollout_steps",
                "hidden", "layers", "gamma", "gae_lambda", "clip", "epochs", "master_lr", "sub_lr",
                "master_minibatch", "sub_minibatches", "master_random_choice", "stagger")


def make_env(hp: dict[str, Any]) -> VectorTaskEnv:
    workers = hp["groups"] * hp["workers_per_group"]
    if hp["env"] == "moving_bandits":
        return MovingBandits(workers, hp["episode_length"])
    if hp["env"] == "four_rooms":
        return FourRooms(workers, hp["episode_length"], tuple(hp["held_out_goals"]))
    raise ValueError(f"unknown MLSH environment {hp['env']!r}")


def settings(hp: dict[str, Any]) -> Settings:
    return Settings(**{k: hp[k] for k in SETTING_KEYS})


def transfer(agent: MLSH, rng: np.random.Generator, master_updates: int, rounds: int) -> np.ndarray:
    """Mean episode return of each segment while fresh masters learn fresh tasks with phi frozen: (rounds,
    master_updates + 1), one task per group per round; column j follows j master updates."""
    curves = []
    for _ in range(rounds):
        probe = copy.deepcopy(agent)
        probe.train_subpolicies, probe.held_out_tasks = False, True
        probe.started[:] = False
        probe.counters[:] = 0
        curves.append(_learning_curve(probe, rng, master_updates))
    return np.array(curves)


def from_scratch(hp: dict[str, Any], rng: np.random.Generator, updates: int, rounds: int) -> np.ndarray:
    """The PPO-from-scratch baseline on the same held-out tasks: per task a fresh flat policy (K = 1, trained in
    every iteration) and one group of workers; (rounds, updates + 1) averaged over the ``groups`` tasks of a round."""
    one_group = {**hp, "groups": 1}
    s = replace(settings(one_group), warmup=0, joint=updates + 1, stagger=0)
    curves = []
    for _ in range(rounds):
        per_task = []
        for _ in range(hp["groups"]):
            agent = MLSH(make_env(one_group), s)
            agent.held_out_tasks = True
            per_task.append(_learning_curve(agent, rng, updates))
        curves.append(np.mean(per_task, axis=0))
    return np.array(curves)


def _learning_curve(agent: MLSH, rng: np.random.Generator, updates: int) -> list[float]:
    curve = []
    for _ in range(updates + 1):
        agent.begin_iteration(rng)
        seg = agent.rollout(rng)
        curve.append(float(seg.episode_returns.mean()))
        agent.update_masters(seg, rng)
        agent.update_subpolicies(seg, rng)  # a no-op unless phi trains (from scratch)
        agent.counters += 1
    return curve


def oracle_return(env: VectorTaskEnv, rng: np.random.Generator, episodes: int) -> float:
    """Mean episode return of the scripted policy that knows the task, on fresh (held-out) tasks."""
    workers = np.arange(env.workers)
    totals = []
    for _ in range(max(1, episodes // env.workers)):
        env.set_tasks(workers, env.sample_tasks(workers, rng, held_out=True))
        env.reset(rng)
        total = np.zeros(env.workers)
        for _ in range(env.horizon):
            _, r = env.step(env.oracle_actions(), rng)
            total += r
        totals.append(total)
    return float(np.concatenate(totals).mean())


def goal_reach(agent: MLSH, rng: np.random.Generator, episodes: int) -> np.ndarray:
    """(K, goals): the fraction of episodes, with sub-policy k forced throughout (stochastic actions), that end
    within the reward radius of each goal, on fresh tasks."""
    env, s = agent.env, agent.s
    reach = np.zeros((s.subpolicies, env.n_goals))
    for k in range(s.subpolicies):
        hits = []
        for _ in range(max(1, episodes // env.workers)):
            obs = env.reset(rng)
            for _ in range(env.horizon):
                actions, _ = agent.act(torch.from_numpy(obs), np.full(env.workers, k))
                obs, _ = env.step(actions, rng)
            hits.append(env.goal_hits())
        reach[k] = np.concatenate(hits).mean(axis=0)
    return reach


def specialisation(reach: np.ndarray) -> float:
    """min over goals of max over sub-policies of the reach fraction: near 1 when every goal has a sub-policy that
    goes there, near 0 when the sub-policies collapse onto one goal."""
    return float(reach.max(axis=0).min())


def meta_train(agent: MLSH, iterations: int, run: Run) -> dict[str, int]:
    """Algorithm 1 on the emulated schedule for ``iterations`` global iterations, from the run's last checkpoint
    when there is one; logs the learning curve and returns the progress counters."""
    progress = {"iteration": 0, "env_steps": 0}
    state = run.restore()
    if state is not None:
        agent.load_state_dict(state["agent"])
        progress = state["progress"]
    steps_per_iteration = agent.s.workers * agent.s.rollout_steps
    bar = run.progress(total=iterations * steps_per_iteration, initial=progress["env_steps"])
    while progress["iteration"] < iterations:
        stats = agent.iterate(run.rng)
        progress["iteration"] += 1
        progress["env_steps"] += steps_per_iteration
        run.log(progress["env_steps"], iteration=progress["iteration"], **stats)
        bar.update(steps_per_iteration)
        bar.set_postfix(ret=f"{stats['average_return']:.2f}")
        if progress["iteration"] < iterations and run.checkpoint_due():
            run.save_checkpoint({"agent": agent.state_dict(), "progress": dict(progress)}, progress["env_steps"])
    bar.close()
    return progress


def curve_metrics(curves: np.ndarray, updates: int, run: Run, task_length: int) -> dict[str, float]:
    """The transfer curve's metrics (column ``updates`` is the reported point) and the training curve's averages."""
    metrics = {"transfer_return_after_warmup": float(curves[:, updates].mean()),
               "transfer_return_untrained_master": float(curves[:, 0].mean())}
    metrics.update({f"transfer_return_update{j}": float(v) for j, v in enumerate(curves.mean(axis=0))})
    returns = [row["average_return"] for row in run.curve]
    if returns:
        metrics.update(train_return_last_task=float(np.mean(returns[-task_length:])),
                       train_return_mean=float(np.mean(returns)))
    return metrics


def train_mlsh(config: ExperimentConfig, run: Run) -> dict[str, float]:
    hp, budget = config.hyperparameters, config.budget
    env = make_env(hp)
    agent = MLSH(env, settings(hp))
    progress = meta_train(agent, budget["iterations"], run)
    updates = hp["evaluation_master_updates"]
    curves = (from_scratch(hp, run.rng, updates, budget["evaluation_rounds"]) if hp["transfer_from_scratch"]
              else transfer(agent, run.rng, updates, budget["evaluation_rounds"]))
    oracle = oracle_return(make_env(hp), run.rng, budget["evaluation_episodes"])
    metrics: dict[str, float] = {**curve_metrics(curves, updates, run, agent.s.task_length),
                                 "oracle_return": oracle,
                                 "transfer_fraction_of_oracle": float(curves[:, updates].mean() / oracle),
                                 "iterations": progress["iteration"], "env_steps": progress["env_steps"]}
    if hasattr(env, "goal_hits") and not hp["transfer_from_scratch"]:
        reach = goal_reach(agent, run.rng, budget["evaluation_episodes"])
        metrics["specialisation"] = specialisation(reach)
        metrics.update({f"reach_sub{k}_goal{j}": float(reach[k, j]) for k in range(reach.shape[0])
                        for j in range(reach.shape[1])})
    return metrics
