"""MLSH entry point end to end: determinism, resume after a kill, the evaluation measures, the smoke profile through
the CLI, the DVC stages."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from papers.mlsh.experiment import goal_reach, specialisation, train_mlsh
from pipelines.registry import load_paper
from shared.params import ExperimentConfig
from shared.run import Run
from tests.helpers import REPO, killed_at_iteration, modules_imported_by, replica


def tiny_config(name: str = "moving_bandits_mlsh", iterations: int = 4) -> ExperimentConfig:
    """The paper's settings for ``name`` with 2 x 2 workers, short segments and small networks (a test config)."""
    paper = load_paper("mlsh")
    exp = paper.params.experiment(name)
    hp = {**exp.hyperparameters, "groups": 2, "workers_per_group": 2, "rollout_steps": 100, "hidden": 8,
          "master_minibatch": 4, "sub_minibatches": 3, "epochs": 2, "evaluation_master_updates": 2}
    if hp["warmup"] > 0:
        hp.update(warmup=1, joint=1, stagger=1)
    return ExperimentConfig("mlsh", name, exp.paper_experiment, "smoke", hp,
                            {"iterations": iterations, "evaluation_rounds": 2, "evaluation_episodes": 40})


def run_tiny(tmp_path: Path, config: ExperimentConfig, seed: int = 1, tag: str = "a",
             checkpoint_seconds: float = 1e9) -> tuple[dict, list]:
    run = Run(config, seed, tmp_path / tag / "out", tmp_path / tag / "ckpt", checkpoint_seconds=checkpoint_seconds,
              show_progress=False)
    return train_mlsh(config, run), run.curve


def test_same_seed_same_result_and_another_seed_differs(tmp_path):
    config = tiny_config()
    a, curve_a = run_tiny(tmp_path, config, tag="a")
    b, curve_b = run_tiny(tmp_path, config, tag="b")
    assert a == b and curve_a == curve_b
    c, curve_c = run_tiny(tmp_path, config, seed=2, tag="c")
    assert curve_c != curve_a
    assert a["iterations"] == 4 and a["env_steps"] == 4 * 4 * 100
    assert {f"transfer_return_update{j}" for j in range(3)} <= set(a)
    assert a["transfer_return_after_warmup"] == a["transfer_return_update2"]
    assert 0 <= a["specialisation"] <= 1 and 20 < a["oracle_return"] <= 50


def test_killed_run_resumes_to_the_same_result(tmp_path, monkeypatch):
    """Checkpoint after every iteration, die in the third, start again: the same metrics and curve."""
    config = tiny_config(iterations=5)
    expected, expected_curve = run_tiny(tmp_path, config, tag="whole")
    with killed_at_iteration(monkeypatch, 3):
        run_tiny(tmp_path, config, tag="killed", checkpoint_seconds=0)
    resumed, resumed_curve = run_tiny(tmp_path, config, tag="killed", checkpoint_seconds=0)
    assert resumed == expected and resumed_curve == expected_curve


@pytest.mark.parametrize("name", ["moving_bandits_shared_policy", "moving_bandits_no_warmup",
                                  "moving_bandits_same_timescale"])
def test_every_moving_bandits_variant_runs_its_schedule(tmp_path, name):
    """The baseline and the ablations at a tiny scale: the shared policy and no-warmup runs update phi from the
    first iteration; with N = 1 the master acts at every step."""
    metrics, curve = run_tiny(tmp_path, tiny_config(name, iterations=3))
    assert metrics["iterations"] == 3 and 0 <= metrics["specialisation"] <= 1
    assert any(row["contributing_workers"] > 0 for row in curve)
    if name != "moving_bandits_same_timescale":  # no warmup: every group updates phi once its stagger has passed
        assert [row["groups_in_joint"] for row in curve] == [1, 2, 2]
    if name == "moving_bandits_shared_policy":
        assert [k for k in metrics if k.startswith("reach_sub1")] == []  # one policy


@pytest.mark.parametrize("name", ["four_rooms_mlsh", "four_rooms_ppo_scratch"])
def test_four_rooms_runs_and_reports_the_fine_tuning_curve(tmp_path, name):
    config = tiny_config(name, iterations=0 if name.endswith("scratch") else 3)
    metrics, curve = run_tiny(tmp_path, config)
    assert len(curve) == config.budget["iterations"] == metrics["iterations"]
    assert [f"transfer_return_update{j}" in metrics for j in range(3)] == [True] * 3
    assert "specialisation" not in metrics and metrics["oracle_return"] > 60
    assert ("train_return_mean" in metrics) == (not name.endswith("scratch"))


def test_specialisation_separates_distinct_goals_from_collapse():
    assert specialisation(np.array([[0.9, 0.05], [0.1, 0.85]])) == pytest.approx(0.85)
    assert specialisation(np.array([[0.9, 0.05], [0.95, 0.02]])) == pytest.approx(0.05)  # both on goal 0


def test_goal_reach_of_a_subpolicy_forced_to_one_direction():
    """A sub-policy whose logits always pick 'stay' ends every episode at (200, 200): within the radius of a goal
    exactly when the goal lies within 50 of the centre."""
    from papers.mlsh.experiment import make_env, settings
    from papers.mlsh.hierarchy import MLSH

    config = tiny_config()
    agent = MLSH(make_env(config.hyperparameters), settings(config.hyperparameters))
    agent.subs["pi_out.b"].data[:] = -1e9
    agent.subs["pi_out.b"].data[:, 0] = 0.0
    reach = goal_reach(agent, np.random.default_rng(0), 4000)
    expected = np.pi * 50 ** 2 / 400 ** 2  # the chance that a uniform goal lies within 50 of the centre
    assert np.allclose(reach, expected, atol=0.02)


def test_smoke_profile_through_the_cli_and_deterministic(repo_copy, env_for):
    env = env_for(repo_copy)
    args = ("train", "mlsh", "moving_bandits_mlsh", "--seed", "1", "--profile", "smoke")
    first = replica(repo_copy, *args, env=env, timeout=600)
    assert first.returncode == 0, first.stderr
    folder = repo_copy / "papers/mlsh/results/smoke/runs/moving_bandits_mlsh/seed1"
    metrics = json.loads((folder / "metrics.json").read_text())["metrics"]
    assert metrics["iterations"] == 2 and metrics["env_steps"] == 2 * 120 * 2000
    second = replica(repo_copy, *args, env=env, timeout=600)
    assert second.returncode == 0, second.stderr
    assert json.loads((folder / "metrics.json").read_text())["metrics"] == metrics


@pytest.mark.slow
@pytest.mark.parametrize("experiment", sorted(load_paper("mlsh").params.experiments))
def test_every_experiment_runs_at_the_smoke_profile(repo_copy, env_for, experiment):
    upstream = load_paper("mlsh").params.experiment(experiment).hyperparameters.get("subpolicies_from", "scratch")
    for name in ([upstream] if upstream != "scratch" else []) + [experiment]:  # the Twowalk run the transfer reads
        done = replica(repo_copy, "train", "mlsh", name, "--seed", "1", "--profile", "smoke",
                       env=env_for(repo_copy), timeout=3600)
        assert done.returncode == 0, done.stderr


def test_dvc_stages_cover_every_experiment_with_the_code_it_runs():
    paper = load_paper("mlsh")
    dvc = yaml.safe_load((REPO / "papers/mlsh/dvc.yaml").read_text())
    listed = []
    for name in ("train", "train_ant", "train_humanoid", "train_from_scratch", "transfer_obstacle",
                 "transfer_combination_mlsh", "transfer_combination_shared"):
        stage = dvc["stages"][name]
        listed += stage["matrix"]["exp"]
        groups = {paper.params.experiment(e).paper_experiment for e in stage["matrix"]["exp"]}
        imported = sorted(set(sum((modules_imported_by("mlsh", g) for g in groups), [])))
        assert sorted(d for d in stage["deps"] if d.endswith(".py") and d != "../../shared/run.py") == imported
        assert "../../shared/run.py" in stage["deps"]
    assert sorted(listed) == sorted(paper.params.experiments)
    assert "assets/ant_bandits.xml" in dvc["stages"]["train_ant"]["deps"]
    for stage in ("transfer_obstacle", "transfer_combination_mlsh", "transfer_combination_shared"):
        (exp,) = dvc["stages"][stage]["matrix"]["exp"]
        source = paper.params.experiment(exp).hyperparameters["subpolicies_from"]
        assert f"checkpoints/${{profile}}/{source}/seed${{item.seed}}" in dvc["stages"][stage]["deps"]
    probe = dvc["stages"]["probe_four_rooms"]["deps"]  # the diagnostic reads the Four Rooms runs with their code
    assert sorted(d for d in probe if d.endswith(".py")) == sorted(modules_imported_by("mlsh", "four_rooms_mlsh")
                                                                 + ["subpolicy_probe.py"])
    assert {"results/${profile}/runs/four_rooms_mlsh", "checkpoints/${profile}/four_rooms_mlsh"} <= set(probe)


def test_ant_twowalk_tiny_run_resumes_and_reports(tmp_path, monkeypatch):
    """Two workers, one 1000-step segment per iteration (a test config): the transfer curve is reported, and a run
    killed after its first iteration resumes to the same metrics (the MuJoCo envs' own generators included)."""
    paper = load_paper("mlsh")
    exp = paper.params.experiment("ant_twowalk_mlsh")
    hp = {**exp.hyperparameters, "groups": 1, "workers_per_group": 2, "rollout_steps": 1000, "hidden": 8,
          "warmup": 1, "joint": 1, "stagger": 0, "epochs": 1, "sub_minibatches": 2, "master_minibatch": 2,
          "evaluation_master_updates": 1}
    config = ExperimentConfig("mlsh", "ant_twowalk_mlsh", "ant_twowalk_mlsh", "smoke", hp,
                              {"iterations": 2, "evaluation_rounds": 1})
    from papers.mlsh.physics_experiment import train_physics

    def go(tag, checkpoint_seconds=1e9):
        run = Run(config, 1, tmp_path / tag / "out", tmp_path / tag / "ckpt", checkpoint_seconds=checkpoint_seconds,
                  show_progress=False)
        return train_physics(config, run), run.curve

    expected, curve = go("whole")
    assert expected["iterations"] == 2 and {"transfer_return_update0", "transfer_return_update1"} <= set(expected)
    assert all(-1.5 < row["average_return"] < -0.3 for row in curve)  # 1000 steps of about -sqrt(5) / 3000
    with killed_at_iteration(monkeypatch, 1):
        go("killed", checkpoint_seconds=0)
    assert go("killed", checkpoint_seconds=0) == (expected, curve)
