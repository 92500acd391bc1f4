"""SNAIL on bandits and MDPs: TRPO's step (conjugate gradient, the KL bound, rejection), the entry point's
determinism and resume, the registration (DVC stages, audit)."""
from __future__ import annotations

import pytest
import torch
import yaml

from papers.snail.trpo import TRPOSettings, conjugate_gradient, trpo_step
from pipelines.registry import load_paper
from shared.params import ExperimentConfig
from shared.run import Run
from tests.helpers import REPO, killed_at_iteration, modules_imported_by, replica

SETTINGS = TRPOSettings(max_kl=0.01, cg_iterations=10, cg_damping=1e-5, backtrack_ratio=0.8, max_backtracks=15)


def test_conjugate_gradient_solves_a_positive_definite_system():
    torch.manual_seed(0)
    m = torch.randn(6, 6, dtype=torch.float64)
    a = m @ m.T + 6 * torch.eye(6, dtype=torch.float64)
    b = torch.randn(6, dtype=torch.float64)
    x = conjugate_gradient(lambda v: a @ v, b, iterations=6)
    assert torch.allclose(a @ x, b, atol=1e-8)


def softmax_problem():
    torch.manual_seed(1)
    logits = torch.nn.Parameter(torch.zeros(3, 4))
    old = torch.log_softmax(logits.detach(), -1)
    advantages = torch.tensor([1.0, -1.0, 0.5, 0.0])

    def surrogate():
        return -(torch.softmax(logits, -1) / old.exp() * advantages).sum(-1).mean()

    def mean_kl():
        return (old.exp() * (old - torch.log_softmax(logits, -1))).sum(-1).mean()

    return logits, surrogate, mean_kl


def test_trpo_step_improves_the_surrogate_within_the_kl_bound():
    logits, surrogate, mean_kl = softmax_problem()
    before = float(surrogate().detach())
    stats = trpo_step([logits], lambda: (surrogate(), mean_kl()), SETTINGS)
    with torch.no_grad():
        after, kl = float(surrogate()), float(mean_kl())
    assert stats["step_accepted"] > 0 and after < before
    assert kl <= SETTINGS.max_kl and stats["mean_kl"] == pytest.approx(kl)
    assert kl > 0.5 * SETTINGS.max_kl  # the full natural step nearly fills the trust region


def test_trpo_step_is_rejected_when_no_candidate_improves():
    logits, surrogate, mean_kl = softmax_problem()
    stats = trpo_step([logits], lambda: (surrogate() * 0 + 1.0 + 0 * logits.sum(), mean_kl()), SETTINGS)
    assert stats["step_accepted"] == 0 and torch.count_nonzero(logits) == 0


def tiny_config(name: str = "bandit_n10_k5_snail", iterations: int = 3) -> ExperimentConfig:
    """The registered settings with a 200-step batch and small networks (a test config only)."""
    paper = load_paper("snail")
    exp = paper.params.experiment(name)
    hp = {**exp.hyperparameters, "batch_steps": 200,
          "policy": {"embedding": 8, "filters": 4, "key_size": 4, "value_size": 4},
          "value_function": {"embedding": 8, "filters": 4, "key_size": 4, "value_size": 4},
          "value_minibatch_trials": 8}
    if hp["task"] == "tabular_mdp":
        hp["n_episodes"] = 2
    return ExperimentConfig("snail", name, exp.paper_experiment, "smoke", hp,
                            {"iterations": iterations, "evaluation_trials": 50})


def run_tiny(tmp_path, config, seed=1, tag="a", checkpoint_seconds=1e9):
    from papers.snail.rl_experiment import train_snail_rl

    run = Run(config, seed, tmp_path / tag / "out", tmp_path / tag / "ckpt", checkpoint_seconds=checkpoint_seconds,
              show_progress=False)
    return train_snail_rl(config, run), run.curve


@pytest.mark.parametrize("name", ["bandit_n10_k5_snail", "mdp_n10_snail"])
def test_same_seed_same_result_and_another_seed_differs(tmp_path, name):
    config = tiny_config(name)
    a, curve_a = run_tiny(tmp_path, config, tag="a")
    b, curve_b = run_tiny(tmp_path, config, tag="b")
    assert a == b and curve_a == curve_b
    c, curve_c = run_tiny(tmp_path, config, seed=2, tag="c")
    assert curve_c != curve_a
    assert a["iterations"] == 3 and {"evaluation_return", "evaluation_return_se"} <= set(a)
    assert all(row["mean_kl"] <= 0.01 + 1e-9 for row in curve_a)


def test_killed_run_resumes_to_the_same_result(tmp_path, monkeypatch):
    config = tiny_config(iterations=4)
    expected, expected_curve = run_tiny(tmp_path, config, tag="whole")
    with killed_at_iteration(monkeypatch, 2):
        run_tiny(tmp_path, config, tag="killed", checkpoint_seconds=0)
    assert run_tiny(tmp_path, config, tag="killed", checkpoint_seconds=0) == (expected, expected_curve)


def test_snail_learns_the_bandit_beyond_random(tmp_path):
    """A few small TRPO iterations already move the policy above random play on 5-armed n = 10 bandits (random:
    5.0); a check that the update improves the policy, not a replication."""
    config = tiny_config(iterations=15)
    hp = {**config.hyperparameters, "batch_steps": 5000}
    config = ExperimentConfig("snail", config.name, config.paper_experiment, "smoke", hp,
                              {"iterations": 15, "evaluation_trials": 2000})
    metrics, curve = run_tiny(tmp_path, config)
    assert metrics["evaluation_return"] > 5.0 + 4 * metrics["evaluation_return_se"]


def test_dvc_stage_covers_every_experiment_with_the_code_it_runs():
    paper = load_paper("snail")
    stage = yaml.safe_load((REPO / "papers/snail/dvc.yaml").read_text())["stages"]["train_rl"]
    rl = [e for e in paper.params.experiments if paper.params.experiment(e).paper_experiment in ("bandit_snail",
                                                                                                 "mdp_snail")]
    assert sorted(stage["matrix"]["exp"]) == sorted(rl)
    imported = sorted(set(modules_imported_by("snail", "bandit_snail") + modules_imported_by("snail", "mdp_snail")))
    assert sorted(d for d in stage["deps"] if d != "../../shared/run.py") == imported


def test_audit_declares_every_borrowed_value(repo_copy, env_for):
    done = replica(repo_copy, "audit", "snail", env=env_for(repo_copy))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 undeclared deviations" in done.stdout and "UNDECLARED" not in done.stdout.split("## Other")[0]


@pytest.mark.slow
@pytest.mark.parametrize("experiment", ["bandit_n10_k5_snail", "mdp_n10_snail"])
def test_smoke_profile_through_the_cli(repo_copy, env_for, experiment):
    """One TRPO iteration at the registered 250,000-step batch: about 6 minutes on one core."""
    done = replica(repo_copy, "train", "snail", experiment, "--seed", "1", "--profile", "smoke",
                   env=env_for(repo_copy), timeout=1800)
    assert done.returncode == 0, done.stderr
