"""RL² entry points end to end: determinism, resume after a kill, the smoke profile through the CLI, the DVC stages."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from pipelines.registry import load_paper
from shared.params import ExperimentConfig
from shared.run import Run
from tests.helpers import REPO, killed_at_iteration, modules_imported_by, replica


def tiny_rl2(task: str = "bandit", iterations: int = 3) -> ExperimentConfig:
    """The paper's RL² settings with a small batch and GRU, so that a run takes seconds (a test config only)."""
    paper = load_paper("rl2")
    name = "bandit_n10_k5_rl2" if task == "bandit" else "mdp_n10_rl2"
    hp = {**paper.params.experiment(name).hyperparameters, "batch_steps": 400, "hidden_units": 16,
          "minibatch_trials": 8}
    if task != "bandit":
        hp["n_episodes"] = 2
    return ExperimentConfig("rl2", name, paper.params.experiment(name).paper_experiment, "smoke", hp,
                            {"iterations": iterations, "evaluation_trials": 50})


def run_tiny(tmp_path: Path, config: ExperimentConfig, seed: int = 11, tag: str = "a",
             checkpoint_seconds: float = 1e9) -> tuple[dict, list]:
    from papers.rl2.rl2_experiment import train_rl2

    run = Run(config, seed, tmp_path / tag / "out", tmp_path / tag / "ckpt", checkpoint_seconds=checkpoint_seconds,
              show_progress=False)
    return train_rl2(config, run), run.curve


@pytest.mark.parametrize("task", ["bandit", "tabular_mdp"])
def test_same_seed_same_result_and_another_seed_differs(tmp_path, task):
    config = tiny_rl2(task)
    a, curve_a = run_tiny(tmp_path, config, tag="a")
    b, curve_b = run_tiny(tmp_path, config, tag="b")
    assert a == b and curve_a == curve_b
    c, curve_c = run_tiny(tmp_path, config, seed=21, tag="c")
    assert curve_c != curve_a
    assert a["iterations"] == 3 and a["env_steps"] == 3 * config.hyperparameters["batch_steps"]
    assert {"evaluation_return", "evaluation_return_se", "train_return_last_window"} <= set(a)
    assert all(r["mean_kl"] <= 0.01 + 1e-9 or r["backtracks"] == 10 for r in curve_a)


def test_killed_run_resumes_to_the_same_result(tmp_path, monkeypatch):
    """Checkpoint after every iteration, die in the third, start again: the same metrics and curve."""
    config = tiny_rl2("bandit", iterations=4)
    expected, expected_curve = run_tiny(tmp_path, config, tag="whole")
    with killed_at_iteration(monkeypatch, 3):
        run_tiny(tmp_path, config, tag="killed", checkpoint_seconds=0)
    resumed, resumed_curve = run_tiny(tmp_path, config, tag="killed", checkpoint_seconds=0)
    assert resumed == expected and resumed_curve == expected_curve


def test_rl2_learns_the_bandit_beyond_random(tmp_path):
    """A few dozen small iterations already move the GRU above random play on 5-armed n = 10 bandits (random: 5.0);
    a check that the update improves the policy, not a replication."""
    paper = load_paper("rl2")
    hp = {**paper.params.experiment("bandit_n10_k5_rl2").hyperparameters, "batch_steps": 20000, "hidden_units": 32}
    config = ExperimentConfig("rl2", "bandit_n10_k5_rl2", "bandit_rl2", "smoke", hp,
                              {"iterations": 12, "evaluation_trials": 2000})
    metrics, curve = run_tiny(tmp_path, config)
    assert curve[-1]["average_return"] > curve[0]["average_return"]
    assert metrics["evaluation_return"] > 5.0 + 4 * metrics["evaluation_return_se"]


@pytest.mark.parametrize("experiment", ["bandit_n10_k5_baselines", "mdp_n10_baselines"])
def test_baselines_smoke_through_the_cli_and_deterministic(repo_copy, env_for, experiment):
    env = env_for(repo_copy)
    args = ("train", "rl2", experiment, "--seed", "11", "--profile", "smoke")
    first = replica(repo_copy, *args, env=env)
    assert first.returncode == 0, first.stderr
    folder = repo_copy / "papers/rl2/results/smoke/runs" / experiment / "seed11"
    metrics = json.loads((folder / "metrics.json").read_text())["metrics"]
    names = (["random", "gittins", "ts", "ots", "ucb1", "epsilon_greedy", "greedy"] if "bandit" in experiment else
             ["random", "psrl", "opsrl", "ucrl2", "beb", "epsilon_greedy", "greedy"])
    for name in names:
        assert f"{name}_se" in metrics and metrics[name] >= 0
    assert metrics["instances"] == load_paper("rl2", "smoke").params.experiment(experiment).budget["instances"]
    second = replica(repo_copy, *args, env=env)
    assert second.returncode == 0, second.stderr
    assert json.loads((folder / "metrics.json").read_text())["metrics"] == metrics


@pytest.mark.slow
@pytest.mark.parametrize("experiment", sorted(load_paper("rl2").params.experiments))
def test_every_experiment_runs_at_the_smoke_profile(repo_copy, env_for, experiment):
    """The RL² smoke stages keep the paper's 250,000-step batch (a hyperparameter): about 1.5 min each."""
    done = replica(repo_copy, "train", "rl2", experiment, "--seed", "11", "--profile", "smoke",
                   env=env_for(repo_copy))
    assert done.returncode == 0, done.stderr


def test_dvc_stages_cover_every_experiment_with_the_code_it_runs():
    paper = load_paper("rl2")
    dvc = yaml.safe_load((REPO / "papers/rl2/dvc.yaml").read_text())
    listed = []
    for stage, groups in (("bandit_baselines", {"bandit_baselines"}), ("mdp_baselines", {"mdp_baselines"}),
                          ("train_rl2", {"bandit_rl2", "mdp_rl2"}), ("train_navigation", {"navigation_rl2"})):
        matrix = dvc["stages"][stage]["matrix"]
        assert {paper.params.experiment(e).paper_experiment for e in matrix["exp"]} == groups
        listed += matrix["exp"]
        imported = sorted(set(sum((modules_imported_by("rl2", g) for g in groups), [])))
        assert sorted(d for d in dvc["stages"][stage]["deps"] if d != "../../shared/run.py") == imported
        assert "../../shared/run.py" in dvc["stages"][stage]["deps"]
    assert sorted(listed) == sorted(paper.params.experiments)


def test_fingerprint_covers_the_shared_task_code():
    paper = load_paper("rl2")
    paper.entry_point("mdp_rl2")
    files = {p.relative_to(REPO).as_posix() for p in paper.loaded_code()}
    assert {"shared/tasks/trials.py", "shared/tasks/tabular_mdp.py", "shared/rl/advantages.py",
            "papers/rl2/rl2_experiment.py", "shared/run.py"} <= files
    assert not any(f.endswith("__init__.py") for f in files)
