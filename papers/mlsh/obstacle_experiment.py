"""Entry point of the Ant obstacle course (§6.5, the table "Reward on Ant Obstacle task").

"We use sub-policies learned in the Ant Twowalk tasks. We then fine-tune the master policy on the obstacle course
task": one fresh master per group over the frozen sub-policies of the ant_twowalk_mlsh run of the same seed, never
re-initialised during the run. Against it "naive PPO": one flat policy (K = 1) trained from scratch on every
iteration by the same workers for the same number of iterations. The reported number is the mean episode return
(steps within reach of the goal) of the last iteration's 120 episodes; the whole curve is logged.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from papers.mlsh.ant_obstacle_course import AntObstacleCourseTasks
from papers.mlsh.experiment import SETTING_KEYS, meta_train
from papers.mlsh.hierarchy import MLSH, Settings
from shared.errors import DataMissingError
from shared.params import ExperimentConfig
from shared.run import CHECKPOINT_FILE, COMPLETE_FILE, Run

CHECKPOINTS = Path(__file__).resolve().parent / "checkpoints"  # the pipeline's checkpoint folders of this paper


def trained_subpolicies(source: str, profile: str, seed: int) -> dict:
    """The sub-policies (parameters and observation filters) of the finished run ``source``/``seed``."""
    folder = CHECKPOINTS / profile / source / f"seed{seed}"
    if not (folder / COMPLETE_FILE).exists():
        raise DataMissingError(str(folder / CHECKPOINT_FILE), f"{source} sub-policies",
                               f"train them with: dvc repro papers/mlsh/dvc.yaml:train_ant@{source}-{seed}"
                               + ("" if profile == "paper" else f" (params.yaml profile: {profile})"))
    state = torch.load(folder / CHECKPOINT_FILE, map_location="cpu", weights_only=False)["state"]["agent"]
    return {"subs": state["subs"], "sub_rms": state["sub_rms"]}


def train_ant_obstacle(config: ExperimentConfig, run: Run) -> dict[str, float]:
    hp, budget = config.hyperparameters, config.budget
    iterations, source = budget["iterations"], hp["subpolicies_from"]
    transfer_phi = source != "scratch"
    env = AntObstacleCourseTasks(hp["groups"] * hp["workers_per_group"], hp["episode_length"],
                                 seed=int(run.rng.integers(2**31 - 1)))
    # one task for the whole run: W + U spans it, so no master is re-initialised; the master-only transfer is all
    # warmup (phi frozen), naive PPO all joint period (its one sub-policy trains on every iteration)
    period = {"warmup": iterations, "joint": 0} if transfer_phi else {"warmup": 0, "joint": iterations}
    agent = MLSH(env, Settings(**{k: hp[k] for k in SETTING_KEYS if k not in ("warmup", "joint", "stagger")},
                               **period, stagger=0))
    if transfer_phi:
        phi = trained_subpolicies(source, config.profile, run.seed)
        shapes = {k: tuple(v.shape) for k, v in agent.subs.items()}
        if {k: tuple(v.shape) for k, v in phi["subs"].items()} != shapes:
            raise ValueError(f"the {source} sub-policies do not fit this experiment's networks {shapes}")
        agent.subs = {k: v.clone() for k, v in phi["subs"].items()}
        agent.sub_rms.load_state_dict(phi["sub_rms"])
        agent.train_subpolicies = False
    progress = meta_train(agent, iterations, run)
    returns = np.array([row["average_return"] for row in run.curve])
    return {"return_after_finetuning": float(returns[-1]), "return_first_iteration": float(returns[0]),
            "return_mean": float(returns.mean()),
            "iterations": progress["iteration"], "env_steps": progress["env_steps"]}
