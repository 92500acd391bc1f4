"""``replica audit``: every hyperparameter run vs the paper; an undeclared deviation fails the command."""
from __future__ import annotations

import json

from pipelines.audit import DECLARED, MATCH, UNDECLARED, audit_paper, format_audit
from tests.helpers import REPO, replica, set_yaml_line


def test_real_repo_has_no_undeclared_deviation(real_paper):
    rows, notes = audit_paper(real_paper)
    hp_rows = [r for r in rows if r["status"] != "budget"]
    assert hp_rows and not [r for r in hp_rows if r["status"] == UNDECLARED]
    # every hyperparameter of every experiment is listed with the paper's source
    listed = {(r["paper_experiment"], r["hyperparameter"]) for r in hp_rows}
    for cfg in real_paper.params.experiments.values():
        assert {(cfg.paper_experiment, k) for k in cfg.hyperparameters} <= listed
    assert all(r["source"] for r in rows)
    declared = {r["hyperparameter"]: r for r in hp_rows if r["status"] == DECLARED}
    assert declared["exploration_epsilon"]["reason"].startswith("bitflip-exploration:")
    assert {r["hyperparameter"] for r in hp_rows if r["status"] == MATCH} >= {"gamma", "batch_size", "polyak"}
    assert {n["id"] for n in notes} >= {"bitflip-reward-after-action"}
    text = format_audit(real_paper, rows, notes)
    assert "0 undeclared deviations" in text and UNDECLARED not in text


def test_cli_audit_real_repo_exits_zero(env_for):
    done = replica(REPO, "audit", "her", env=env_for(REPO))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 undeclared deviations" in done.stdout and UNDECLARED not in done.stdout
    data = json.loads(replica(REPO, "audit", "her", "--json", env=env_for(REPO)).stdout)
    assert data["hyperparameters"] and all(r["status"] != UNDECLARED for r in data["hyperparameters"])


def test_changed_hyperparameter_is_an_undeclared_deviation(repo_copy, env_for):
    set_yaml_line(repo_copy / "papers/her/params.yaml", r"^(\s*gamma:) 0\.98$", r"\1 0.99")
    done = replica(repo_copy, "audit", "her", env=env_for(repo_copy))
    assert done.returncode == 1, done.stdout + done.stderr
    bad = [line for line in done.stdout.splitlines() if UNDECLARED in line]
    assert len(bad) == 1 and "| gamma |" in bad[0] and "0.99" in bad[0] and "0.98" in bad[0]
    assert "1 undeclared deviations" in done.stdout


def test_value_outside_a_declared_deviation_is_undeclared(repo_copy, env_for):
    set_yaml_line(repo_copy / "papers/her/params.yaml", r"^(\s*exploration_epsilon:) 0\.2$", r"\1 0.3")
    done = replica(repo_copy, "audit", "her", env=env_for(repo_copy))
    assert done.returncode == 1
    assert any(UNDECLARED in line and "exploration_epsilon" in line for line in done.stdout.splitlines())


def test_one_experiment_off_the_papers_range(repo_copy, env_for):
    """An override in one experiment (n_bits 60 > Fig. 1's 50) is flagged without flagging the others."""
    params = repo_copy / "papers/her/params.yaml"
    set_yaml_line(params, r"n_bits: 50, her_strategy: final", "n_bits: 60, her_strategy: final")
    done = replica(repo_copy, "audit", "her", "--json", env=env_for(repo_copy))
    assert done.returncode == 1
    bad = [r for r in json.loads(done.stdout)["hyperparameters"] if r["status"] == UNDECLARED]
    assert [(r["hyperparameter"], r["ours"], r["experiments"]) for r in bad] == [("n_bits", 60, ["bitflip_n50_her"])]


def test_removed_deviation_entry_is_undeclared(repo_copy, env_for):
    paper_yaml = repo_copy / "papers/her/paper.yaml"
    text = paper_yaml.read_text()
    start = text.index("  - id: bitflip-exploration\n")
    end = text.index("  - id: ", start + 1)
    paper_yaml.write_text(text[:start] + text[end:])
    done = replica(repo_copy, "audit", "her", env=env_for(repo_copy))
    assert done.returncode == 1, done.stdout + done.stderr
    bad = [line for line in done.stdout.splitlines() if UNDECLARED in line]
    assert len(bad) == 1 and "exploration_epsilon" in bad[0]
    assert "bitflip-exploration" not in done.stdout
