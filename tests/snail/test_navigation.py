"""SNAIL visual navigation (Table 5): the conv + TC/attention network is causal and its cached step equals the whole
forward; the entry point runs end to end on tiny mazes, deterministically, and resumes after a kill."""
from __future__ import annotations

import json

import pytest
import torch
import yaml

from pipelines.registry import load_paper
from shared.params import ExperimentConfig
from shared.run import Run
from tests.helpers import REPO, killed_at_iteration, modules_imported_by

pytest.importorskip("vizdoom")
from papers.snail import navigation_experiment as nav  # noqa: E402
from papers.snail.blocks import StepCache  # noqa: E402
from papers.snail.navigation_networks import SnailNavNet  # noqa: E402
from shared.tasks import doom_maze as dm  # noqa: E402

BLOCKS = [["tc", 4], ["attention", 4, 4], ["tc", 4], ["attention", 4, 4]]
TINY = {"train_mazes": 4, "test_mazes": 3, "horizon": 12, "batch_steps": 48, "test_horizon_small": 12,
        "test_horizon_large": 20, "conv_filters": 4, "features": 8, "policy": {"blocks": BLOCKS},
        "value_function": {"blocks": [["tc", 4], ["tc", 4]]}, "value_minibatch_trials": 2, "value_epochs": 1,
        "max_envs": 3}


def test_network_is_causal_and_its_step_equals_the_forward():
    torch.manual_seed(0)
    net = SnailNavNet(dm.IMAGE_SHAPE, 3, 8, 2, 4, 5, 2, 8, BLOCKS)
    images, extras = torch.randn(2, 8, *dm.IMAGE_SHAPE), torch.randn(2, 8, 5)
    out = net(images, extras)
    changed = images.clone()
    changed[:, 5:] = torch.randn_like(changed[:, 5:])  # the future changes ...
    assert torch.allclose(net(changed, extras)[:, :5], out[:, :5], atol=1e-6)  # ... the past outputs do not
    cache = StepCache(2, 8)
    steps = torch.stack([net.step(images[:, t], extras[:, t], cache) for t in range(8)], dim=1)
    assert torch.allclose(steps, out, atol=1e-5)


def tiny_config(iterations: int = 2) -> ExperimentConfig:
    exp = load_paper("snail").params.experiment("navigation_snail")
    return ExperimentConfig("snail", "navigation_snail", exp.paper_experiment, "smoke",
                            {**exp.hyperparameters, **TINY}, {"iterations": iterations, "evaluation_trials": 4})


def run_tiny(tmp_path, tag: str, checkpoint_seconds: float = 1e9) -> str:
    config = tiny_config()
    run = Run(config, 1, tmp_path / tag / "out", tmp_path / tag / "ckpt", checkpoint_seconds=checkpoint_seconds,
              show_progress=False)
    metrics = nav.train_snail_navigation(config, run)
    return json.dumps([metrics, run.curve], sort_keys=True)  # NaN (no success in a tiny run) equals itself here


def test_tiny_run_reports_table5_measures_deterministically_and_resumes(tmp_path, monkeypatch):
    first = run_tiny(tmp_path, "a")
    metrics, curve = json.loads(first)
    assert metrics["iterations"] == 2 and len(curve) == 2 and 0 < metrics["env_steps"] <= 2 * 48
    assert {"small_episode1_length", "small_episode2_success_rate", "large_improved_fraction"} <= set(metrics)
    assert run_tiny(tmp_path, "b") == first
    with killed_at_iteration(monkeypatch, 1):
        run_tiny(tmp_path, "killed", checkpoint_seconds=0)
    assert run_tiny(tmp_path, "killed", checkpoint_seconds=0) == first


def test_dvc_navigation_stage_lists_the_code_it_runs():
    stage = yaml.safe_load((REPO / "papers/snail/dvc.yaml").read_text())["stages"]["train_navigation"]
    assert stage["matrix"]["exp"] == ["navigation_snail"]
    assert sorted(d for d in stage["deps"] if d != "../../shared/run.py") == modules_imported_by("snail",
                                                                                                   "navigation_snail")
