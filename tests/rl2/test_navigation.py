"""RL^2 visual navigation (Table 3): the network, the trial collection, Table 3's measures, and the entry point
end to end on tiny mazes (determinism, resume after a kill)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from pipelines.registry import load_paper
from shared.params import ExperimentConfig
from shared.run import Run
from tests.helpers import killed_at_iteration

pytest.importorskip("vizdoom")
from papers.rl2 import navigation_experiment as nav  # noqa: E402
from papers.rl2.navigation_network import NavigationNet  # noqa: E402
from shared.tasks import doom_maze as dm  # noqa: E402

TINY = {"train_mazes": 4, "test_mazes": 3, "horizon": 15, "batch_steps": 60, "test_horizon_small": 15,
        "test_horizon_large": 25, "test_episodes": 3, "hidden_units": 16, "conv_filters": 4, "minibatch_trials": 2,
        "epochs": 2, "selection_window": 2}


def tiny_config(iterations: int = 2) -> ExperimentConfig:
    exp = load_paper("rl2").params.experiment("navigation_rl2")
    return ExperimentConfig("rl2", "navigation_rl2", exp.paper_experiment, "smoke", {**exp.hyperparameters, **TINY},
                            {"iterations": iterations, "evaluation_trials": 3})


def test_network_shapes_and_step_matches_whole_trial_forward():
    torch.manual_seed(0)
    net = NavigationNet(dm.IMAGE_SHAPE, 3, hidden=16)
    images, extras = torch.randn(2, 6, *dm.IMAGE_SHAPE), torch.randn(2, 6, 5)
    logits, values = net(images, extras)
    assert logits.shape == (2, 6, 3) and values.shape == (2, 6)
    h = torch.zeros(2, 16)
    for t in range(6):
        step_logits, step_values, h = net.step(images[:, t], extras[:, t], h)
        assert torch.allclose(step_logits, logits[:, t], atol=1e-5) and torch.allclose(step_values, values[:, t],
                                                                                        atol=1e-5)


def test_collected_trials_hold_n_episodes_and_the_rl2_inputs(tmp_path):
    hp = {**load_paper("rl2").params.experiment("navigation_rl2").hyperparameters, **TINY}
    wad = nav.build_wad(tmp_path, "t", 3, 4, 0, hp)
    env = nav.make_trials(wad, hp, 4, 2, 2, 15, seed=0)
    try:
        trials = nav.collect(NavigationNet(dm.IMAGE_SHAPE, 3, hidden=16), env, 100, None,
                             np.random.default_rng(0), torch.device("cpu"))
    finally:
        env.close()
    assert sum(len(t["rewards"]) for t in trials) >= 100
    for trial in trials:
        assert trial["ended"].sum() == 2 and trial["ended"][-1]  # exactly n episodes, the last step ends one
        assert np.array_equal(trial["extras"][0], [1, 0, 0, 0, 1])  # action 0, reward 0, flag 1 at the start
        first_end = np.nonzero(trial["ended"])[0][0]
        after = trial["extras"][first_end + 1]  # the new episode's first input: the last action, reward and flag
        assert after[4] == 1 and after[3] == pytest.approx(trial["rewards"][first_end])
        assert after[:3].argmax() == trial["actions"][first_end]
        assert np.allclose(trial["probs"].sum(-1), 1, atol=1e-5)


def run_tiny(tmp_path, tag: str, checkpoint_seconds: float = 1e9, iterations: int = 2):
    config = tiny_config(iterations)
    run = Run(config, 11, tmp_path / tag / "out", tmp_path / tag / "ckpt", checkpoint_seconds=checkpoint_seconds,
              show_progress=False)
    return nav.train_navigation(config, run), run.curve


def test_tiny_run_reports_table3_measures_deterministically_and_resumes(tmp_path, monkeypatch):
    first, curve = run_tiny(tmp_path, "a")
    assert first["iterations"] == 2 and len(curve) == 2 and first["env_steps"] >= 2 * 60
    for name in ("small", "large"):
        for k in (1, 2, 3):
            assert 0.0 <= first[f"{name}_episode{k}_success_rate"] <= 1.0
        assert 0.0 <= first[f"{name}_improved_fraction"] <= 1.0
    expected = same(first, curve)  # NaN (no successful episode in a tiny run) must compare equal to itself
    assert same(*run_tiny(tmp_path, "b")) == expected
    with killed_at_iteration(monkeypatch, 1):
        run_tiny(tmp_path, "killed", checkpoint_seconds=0)
    assert same(*run_tiny(tmp_path, "killed", checkpoint_seconds=0)) == expected


def same(metrics: dict, curve: list) -> str:
    return json.dumps([metrics, curve], sort_keys=True)
