"""Entry point of the single transfer tasks: the Ant obstacle course (§6.5, the table "Reward on Ant Obstacle task")
and the Humanoid Walk/Crawl combination task (§6.4, the table "Reward on Walk/Crawl combination task").

One task for the whole run, learned by the 10 x 12 workers (one master per group, never re-initialised). The policy
comes from ``subpolicies_from``: the final agent of a §6.4 training run of the same seed (its sub-policies and their
observation filters), or ``scratch`` for a freshly initialised one; ``finetune_subpolicies`` says whether phi keeps
learning. The table rows map to:
- MLSH Transfer: the MLSH run's sub-policies frozen, a fresh master fine-tuned ("we then fine-tune the master
  policy", §6.5; "only updates the master policy", §6.1);
- Shared Policy Transfer: the shared-policy run's one policy, fine-tuned ("fine-tuning a single policy that has been
  optimized across all tasks", §6.1);
- Single Policy / naive PPO: one flat policy (K = 1) trained from scratch ("training a new single policy from
  scratch", §6.1).
The reported number is the mean episode return of the last iteration's 120 episodes; the whole curve is logged.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from papers.mlsh.ant_obstacle_course import AntObstacleCourseTasks
from papers.mlsh.experiment import SETTING_KEYS, meta_train
from papers.mlsh.hierarchy import MLSH, Settings
from papers.mlsh.humanoid_walk_crawl import HumanoidCombinationTasks
from papers.mlsh.mujoco_workers import MujocoWorkers
from shared.errors import DataMissingError
from shared.params import ExperimentConfig
from shared.run import CHECKPOINT_FILE, COMPLETE_FILE, Run

CHECKPOINTS = Path(__file__).resolve().parent / "checkpoints"  # the pipeline's checkpoint folders of this paper
TASKS = {"ant_obstacle_course": AntObstacleCourseTasks, "humanoid_combination": HumanoidCombinationTasks}


def make_task(hp: dict[str, Any], seed: int) -> MujocoWorkers:
    if hp["env"] not in TASKS:
        raise ValueError(f"unknown MLSH transfer task {hp['env']!r} (known: {', '.join(TASKS)})")
    return TASKS[hp["env"]](hp["groups"] * hp["workers_per_group"], hp["episode_length"], seed=seed)


def trained_subpolicies(source: str, profile: str, seed: int) -> dict:
    """The sub-policies (parameters and observation filters) of the finished run ``source``/``seed``."""
    folder = CHECKPOINTS / profile / source / f"seed{seed}"
    if not (folder / COMPLETE_FILE).exists():
        stage = "train_humanoid" if source.startswith("humanoid") else "train_ant"
        raise DataMissingError(str(folder / CHECKPOINT_FILE), f"{source} sub-policies",
                               f"train them with: dvc repro papers/mlsh/dvc.yaml:{stage}@{source}-{seed}"
                               + ("" if profile == "paper" else f" (params.yaml profile: {profile})"))
    state = torch.load(folder / CHECKPOINT_FILE, map_location="cpu", weights_only=False)["state"]["agent"]
    return {"subs": state["subs"], "sub_rms": state["sub_rms"]}


def train_finetune(config: ExperimentConfig, run: Run) -> dict[str, float]:
    hp, budget = config.hyperparameters, config.budget
    iterations, source = budget["iterations"], hp["subpolicies_from"]
    env = make_task(hp, seed=int(run.rng.integers(2**31 - 1)))
    # one task for the whole run: W + U spans it, so no master is re-initialised; with phi frozen it is all warmup,
    # with phi learning all joint period (phi trains on every iteration)
    period = {"warmup": 0, "joint": iterations} if hp["finetune_subpolicies"] else {"warmup": iterations, "joint": 0}
    agent = MLSH(env, Settings(**{k: hp[k] for k in SETTING_KEYS if k not in ("warmup", "joint", "stagger")},
                               **period, stagger=0))
    if source != "scratch":
        phi = trained_subpolicies(source, config.profile, run.seed)
        shapes = {k: tuple(v.shape) for k, v in agent.subs.items()}
        if {k: tuple(v.shape) for k, v in phi["subs"].items()} != shapes:
            raise ValueError(f"the {source} sub-policies do not fit this experiment's networks {shapes}")
        agent.subs = {k: v.clone() for k, v in phi["subs"].items()}
        agent.sub_rms.load_state_dict(phi["sub_rms"])
    agent.train_subpolicies = hp["finetune_subpolicies"]
    progress = meta_train(agent, iterations, run)
    returns = np.array([row["average_return"] for row in run.curve])
    return {"return_after_finetuning": float(returns[-1]), "return_first_iteration": float(returns[0]),
            "return_mean": float(returns.mean()),
            "iterations": progress["iteration"], "env_steps": progress["env_steps"]}
