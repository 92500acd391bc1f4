"""MAML's inner loop and the sinusoid experiment: second-order meta-gradients, the task family, determinism, resume,
the pretrained baseline's step-size tuning, the CLI and the DVC stage."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from papers.maml.inner_loop import adapt, sgd_step
from papers.maml.sinusoid import SinusoidTasks, init_mlp, mlp, mse
from papers.maml.sinusoid_experiment import batched_query_losses, summarise, train_sinusoid
from pipelines.registry import load_paper
from shared.params import ExperimentConfig
from shared.run import Run
from tests.helpers import REPO, killed_at_iteration, modules_imported_by, replica

TASKS = SinusoidTasks((0.1, 5.0), (0.0, math.pi), (-5.0, 5.0))


def leaf_params(seed: int = 0) -> dict[str, torch.Tensor]:
    return {k: v.requires_grad_() for k, v in
            init_mlp([1, 40, 40, 1], 0.5, torch.Generator().manual_seed(seed)).items()}


def meta_gradient_by_autograd(params, x, y, shots, alpha, steps, first_order):
    """Eq. (1)-(2) written with plain autograd (create_graph), one task at a time: the reference."""
    total = 0.0
    for xi, yi in zip(x, y):
        fast = dict(params)
        for _ in range(steps):
            grads = torch.autograd.grad(mse(mlp(fast, xi[:shots]), yi[:shots]), list(fast.values()),
                                        create_graph=not first_order)
            fast = {k: v - alpha * g for (k, v), g in zip(fast.items(), grads)}
        total = total + mse(mlp(fast, xi[shots:]), yi[shots:])
    return torch.autograd.grad(total / len(x), list(params.values()))


@pytest.mark.parametrize("first_order", [False, True])
def test_batched_meta_gradient_equals_the_autograd_reference(first_order):
    params = leaf_params()
    batch = TASKS.sample(np.random.default_rng(0), 4, 20)
    loss = batched_query_losses(params, batch["x"], batch["y"], 10, [0.01, 0.01], first_order)[:, -1].mean()
    ours = torch.autograd.grad(loss, list(params.values()))
    reference = meta_gradient_by_autograd(params, batch["x"], batch["y"], 10, 0.01, 2, first_order)
    for a, b in zip(ours, reference):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_second_order_differs_from_first_order():
    params = leaf_params()
    batch = TASKS.sample(np.random.default_rng(1), 4, 20)
    grads = [torch.autograd.grad(batched_query_losses(params, batch["x"], batch["y"], 10, [0.1], fo)[:, -1].mean(),
                                 list(params.values())) for fo in (False, True)]
    assert max(float((a - b).abs().max()) for a, b in zip(*grads)) > 1e-4


def test_adapt_moves_only_the_adapted_parameters_and_returns_every_step():
    params = leaf_params()
    x, y = torch.linspace(-5, 5, 10)[:, None], torch.sin(torch.linspace(-5, 5, 10))[:, None]
    steps = adapt(lambda p: mse(mlp(p, x), y), params, [0.1, 0.05], adapted=["w3", "b3"])
    assert len(steps) == 2
    for name in ("w1", "b1", "w2", "b2"):
        assert steps[-1][name] is params[name]
    one = sgd_step(lambda p: mse(mlp(p, x), y), params, 0.1)
    g = torch.autograd.grad(mse(mlp(params, x), y), params["w3"])[0]
    torch.testing.assert_close(one["w3"], params["w3"] - 0.1 * g)


def test_sinusoid_tasks_follow_section_5_1():
    batch = TASKS.sample(np.random.default_rng(2), 500, 7)
    amp, phase, x, y = batch["amplitude"], batch["phase"], batch["x"], batch["y"]
    assert x.shape == (500, 7, 1) and y.shape == (500, 7, 1)
    assert 0.1 <= amp.min() and amp.max() <= 5.0 and 0 <= phase.min() and phase.max() <= math.pi
    assert -5 <= x.min() and x.max() <= 5
    torch.testing.assert_close(y, amp[:, None, None] * torch.sin(x - phase[:, None, None]))


def test_init_is_the_authors_truncated_normal_with_zero_biases():
    params = init_mlp([1, 40, 40, 1], 0.01, torch.Generator().manual_seed(0))
    assert [tuple(params[k].shape) for k in ("w1", "w2", "w3")] == [(1, 40), (40, 40), (40, 1)]
    assert all(float(params[f"b{i}"].abs().max()) == 0 for i in (1, 2, 3))
    assert float(params["w2"].abs().max()) <= 0.02 and 0.004 < float(params["w2"].std()) < 0.01


def test_summary_counts_diverged_tasks_and_leaves_them_out():
    losses = np.array([[1.0, 0.5], [3.0, np.inf], [2.0, 1.5]])
    m = summarise(losses, "mse_k5")
    assert m["mse_k5_step0"] == 2.0 and m["mse_k5_step0_diverged"] == 0
    assert m["mse_k5_step1"] == 1.0 and m["mse_k5_step1_diverged"] == 1
    assert m["mse_k5_step1_ci95"] == pytest.approx(1.96 * 0.5 / math.sqrt(2))


def tiny_config(name: str, iterations: int = 60) -> ExperimentConfig:
    """The paper's settings with a short budget (a test config only)."""
    paper = load_paper("maml")
    experiment = paper.params.experiment(name)
    budget = {"iterations": iterations, "evaluation_tasks": 40, "validation_tasks": 20}
    return ExperimentConfig("maml", name, experiment.paper_experiment, "smoke",
                            {**experiment.hyperparameters, "evaluation_shots": [5, 10]}, budget)


def run_tiny(tmp_path: Path, config: ExperimentConfig, tag: str, seed: int = 1,
             checkpoint_seconds: float = 1e9) -> tuple[dict, list]:
    run = Run(config, seed, tmp_path / tag / "out", tmp_path / tag / "ckpt", checkpoint_seconds=checkpoint_seconds,
              show_progress=False)
    return train_sinusoid(config, run), run.curve


@pytest.mark.parametrize("name", ["sinusoid_maml", "sinusoid_pretrain"])
def test_same_seed_same_result_another_seed_differs(tmp_path, name):
    config = tiny_config(name)
    a, curve_a = run_tiny(tmp_path, config, "a")
    b, curve_b = run_tiny(tmp_path, config, "b")
    c, _ = run_tiny(tmp_path, config, "c", seed=2)
    assert a == b and curve_a == curve_b and a != c
    assert a["iterations"] == 60 and len(curve_a) == 1 and curve_a[0]["step"] == 60
    assert {f"mse_k{k}_step{j}" for k in (5, 10) for j in range(11)} <= set(a)
    if name == "sinusoid_pretrain":
        grid = config.hyperparameters["finetune_step_size_grid"]
        assert a["k5_step_size"] in grid and a["k10_step_size"] in grid


def test_killed_run_resumes_to_the_same_result(tmp_path, monkeypatch):
    config = tiny_config("sinusoid_maml", iterations=300)
    expected, expected_curve = run_tiny(tmp_path, config, "whole")
    with killed_at_iteration(monkeypatch, 200):
        run_tiny(tmp_path, config, "killed", checkpoint_seconds=0)
    resumed, resumed_curve = run_tiny(tmp_path, config, "killed", checkpoint_seconds=0)
    assert resumed == expected and resumed_curve == expected_curve


def test_maml_learns_to_adapt(tmp_path):
    """A short meta-training already makes one inner step reduce the query MSE on new tasks (a check that the
    meta-update works, not a replication)."""
    metrics, curve = run_tiny(tmp_path, tiny_config("sinusoid_maml", iterations=1500), "learn")
    assert curve[-1]["post_update_loss"] < curve[0]["post_update_loss"]
    assert metrics["mse_k10_step1"] < 0.75 * metrics["mse_k10_step0"]  # the same 40 tasks before and after


@pytest.mark.parametrize("experiment", ["sinusoid_maml", "sinusoid_pretrain"])
def test_sinusoid_smoke_through_the_cli(repo_copy, env_for, experiment):
    done = replica(repo_copy, "train", "maml", experiment, "--seed", "1", "--profile", "smoke",
                   env=env_for(repo_copy))
    assert done.returncode == 0, done.stderr
    folder = repo_copy / "papers/maml/results/smoke/runs" / experiment / "seed1"
    metrics = json.loads((folder / "metrics.json").read_text())["metrics"]
    assert np.isfinite(metrics["mse_k5_step1"]) and metrics["iterations"] == 200


def test_dvc_sinusoid_stage_lists_the_code_it_runs():
    paper = load_paper("maml")
    stage = yaml.safe_load((REPO / "papers/maml/dvc.yaml").read_text())["stages"]["train_sinusoid"]
    assert sorted(stage["matrix"]["exp"]) == sorted(e for e in paper.params.experiments if e.startswith("sinusoid"))
    imported = sorted(set(modules_imported_by("maml", "sinusoid_maml") + modules_imported_by("maml",
                                                                                              "sinusoid_pretrain")))
    assert sorted(d for d in stage["deps"] if d != "../../shared/run.py") == imported
