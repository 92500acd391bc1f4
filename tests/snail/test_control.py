"""SNAIL continuous control (Fig. 4): the Gaussian head's log-probability and KL, the trial structure on the
locomotion envs, and the entry point end to end (determinism, resume after a kill)."""
from __future__ import annotations

import json
import math

import numpy as np
import torch
import yaml

from papers.snail import continuous_experiment as cc
from pipelines.registry import load_paper
from shared.params import ExperimentConfig
from shared.run import Run
from tests.helpers import REPO, killed_at_iteration, modules_imported_by

TINY = {"horizon": 10, "batch_steps": 60, "value_minibatch_trials": 2, "value_epochs": 1,
        "policy": {"embedding": 8, "filters": 4, "key_size": 4, "value_size": 4},
        "value_function": {"embedding": 8, "filters": 4, "key_size": 4, "value_size": 4}}


def test_gaussian_log_prob_and_kl_match_torch():
    policy = cc.GaussianSnail(torch.nn.Identity(), 3)
    with torch.no_grad():
        policy.log_std.copy_(torch.tensor([0.1, -0.2, 0.3]))
    mean, actions = torch.randn(5, 3), torch.randn(5, 3)
    normal = torch.distributions.Normal(mean, policy.log_std.exp())
    assert torch.allclose(policy.log_prob(mean, actions), normal.log_prob(actions).sum(-1), atol=1e-5)
    other = torch.distributions.Normal(mean + 0.3, torch.tensor([0.5, 1.0, 2.0]))
    kl = cc.gaussian_kl(mean, policy.log_std, mean + 0.3, torch.tensor([0.5, 1.0, 2.0]).log())
    assert torch.allclose(kl, torch.distributions.kl_divergence(normal, other).sum(-1), atol=1e-5)


def test_trials_hold_two_episodes_of_one_task_with_the_rl2_inputs():
    policy = cc.GaussianSnail(cc.SnailTrialNet(20 + 6 + 2, 6, 20, 8, 4, 4, 4), 6)
    batch = cc.play(policy, "cheetah_velocity", np.array([0.5, 1.5]), 2, 10, seed=0, device=torch.device("cpu"))
    assert batch["inputs"].shape == (2, 20, 28) and batch["mask"].sum() == 40  # the cheetah never terminates
    x = batch["inputs"]
    assert torch.equal(x[:, 0, 20:26], torch.zeros(2, 6)) and (x[:, 0, -1] == 1).all()  # action 0, flag 1
    assert torch.allclose(x[:, 5, 20:26], batch["actions"][:, 4])  # the previous step's action and reward
    assert torch.allclose(x[:, 5, 26], batch["rewards"][:, 4])
    assert (x[:, 10, -1] == 1).all() and (x[:, 5, -1] == 0).all()  # the flag marks the first step of episode 2
    assert torch.allclose(batch["episode_returns"].sum(1).float(), batch["rewards"].sum(1), atol=1e-4)


def run_tiny(tmp_path, tag: str, checkpoint_seconds: float = 1e9) -> str:
    exp = load_paper("snail").params.experiment("ant_velocity_snail")
    config = ExperimentConfig("snail", "ant_velocity_snail", exp.paper_experiment, "smoke",
                              {**exp.hyperparameters, **TINY}, {"iterations": 2, "evaluation_trials": 3})
    run = Run(config, 1, tmp_path / tag / "out", tmp_path / tag / "ckpt", checkpoint_seconds=checkpoint_seconds,
              show_progress=False)
    return json.dumps([cc.train_snail_control(config, run), run.curve], sort_keys=True)


def test_tiny_ant_run_is_deterministic_and_resumes(tmp_path, monkeypatch):
    first = run_tiny(tmp_path, "a")
    metrics, curve = json.loads(first)
    assert metrics["iterations"] == 2 and len(curve) == 2 and 0 < metrics["env_steps"] <= 2 * 60
    assert math.isfinite(metrics["test_episode1_return"]) and math.isfinite(metrics["test_episode2_return"])
    assert run_tiny(tmp_path, "b") == first
    with killed_at_iteration(monkeypatch, 1):
        run_tiny(tmp_path, "killed", checkpoint_seconds=0)
    assert run_tiny(tmp_path, "killed", checkpoint_seconds=0) == first


def test_dvc_control_stage_lists_every_task_and_the_code_it_runs():
    paper = load_paper("snail")
    stage = yaml.safe_load((REPO / "papers/snail/dvc.yaml").read_text())["stages"]["train_control"]
    assert sorted(stage["matrix"]["exp"]) == sorted(e for e in paper.params.experiments
                                                    if paper.params.experiment(e).paper_experiment == "control_snail")
    assert sorted(d for d in stage["deps"] if d != "../../shared/run.py") == modules_imported_by("snail",
                                                                                                   "control_snail")
