"""Entry point of the §6.4 physics task distributions: Ant Twowalk (Fig. 7) and Humanoid Walk/Crawl, each with MLSH
and the shared-policy baseline, trained on the emulated 10 x 12-worker schedule, then the transfer measure of
``experiment.transfer`` (fresh masters on fresh tasks, sub-policies frozen). There is no scripted oracle here. The
trained agent is kept as the run's final checkpoint: the §6.4-6.5 transfer tasks (``finetune_experiment``) start
from it."""
from __future__ import annotations

from typing import Any

import numpy as np

from papers.mlsh.ant_twowalk import AntTwowalkTasks
from papers.mlsh.experiment import curve_metrics, meta_train, settings, transfer
from papers.mlsh.hierarchy import MLSH
from papers.mlsh.humanoid_walk_crawl import HumanoidWalkCrawlTasks
from papers.mlsh.mujoco_workers import MujocoWorkers
from shared.params import ExperimentConfig
from shared.run import Run

DISTRIBUTIONS = {"ant_twowalk": AntTwowalkTasks, "humanoid_walk_crawl": HumanoidWalkCrawlTasks}


def make_distribution(hp: dict[str, Any], seed: int) -> MujocoWorkers:
    if hp["env"] not in DISTRIBUTIONS:
        raise ValueError(f"unknown MLSH physics task distribution {hp['env']!r} (known: {', '.join(DISTRIBUTIONS)})")
    return DISTRIBUTIONS[hp["env"]](hp["groups"] * hp["workers_per_group"], hp["episode_length"], seed=seed)


def train_physics(config: ExperimentConfig, run: Run) -> dict[str, float]:
    hp, budget = config.hyperparameters, config.budget
    agent = MLSH(make_distribution(hp, seed=int(run.rng.integers(2**31 - 1))), settings(hp))
    progress = meta_train(agent, budget["iterations"], run)
    run.save_checkpoint({"agent": agent.state_dict(), "progress": dict(progress)}, progress["env_steps"])
    metrics: dict[str, float] = {"iterations": progress["iteration"], "env_steps": progress["env_steps"]}
    returns = [row["average_return"] for row in run.curve]
    if returns:
        metrics.update(train_return_last_task=float(np.mean(returns[-agent.s.task_length:])),
                       train_return_mean=float(np.mean(returns)))
    if budget["evaluation_rounds"] > 0:  # 0 in the smoke profile: a transfer round costs W + 1 full iterations
        updates = hp["evaluation_master_updates"]
        curves = transfer(agent, run.rng, updates, budget["evaluation_rounds"])
        metrics.update(curve_metrics(curves, updates, run, agent.s.task_length))
    return metrics
