"""``replica check``: each verdict from synthetic per-seed metrics.json files (real HER paper.yaml and params.yaml)."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from pipelines.check import check_claim, check_paper, write_verdicts
from pipelines.train import run_fingerprint
from tests.helpers import replica

METRIC = "final_test_success_rate"
HIGH = [0.95, 0.97, 0.96, 0.98, 0.94]
LOW = [0.05, 0.03, 0.04, 0.02, 0.06]
STRADDLE = [0.2, 0.8, 0.5, 0.35, 0.65]


def write_results(paper, experiment, values, seeds=None, epochs=None, fingerprint=None, profile="paper"):
    config = paper.params.experiment(experiment)
    budget = dict(config.budget)
    if epochs is not None:
        budget["epochs"] = epochs
    for seed, value in zip(seeds or range(1, len(values) + 1), values):
        folder = paper.run_dir(profile, experiment, seed)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "metrics.json").write_text(json.dumps({
            "paper": paper.id, "experiment": experiment, "seed": seed, "profile": profile, "budget": budget,
            "hyperparameters": config.hyperparameters, "metrics": {METRIC: value},
            "fingerprint": run_fingerprint(paper, experiment) if fingerprint is None else fingerprint, "commit": "c0ffee",
            "tracking_run": f"spool:{experiment}-{seed}", "resumed_from_step": None}))


def claim(paper, claim_id):
    return next(c for c in paper.spec.claims if c.id == claim_id)


def test_paper_budget_is_the_papers(real_paper):
    assert real_paper.params.profile == "paper"
    assert real_paper.params.experiment("bitflip_n13_dqn").budget["epochs"] == 200
    assert {c.id for c in real_paper.spec.claims} >= {"dqn_solves_n13", "dqn_fails_n15", "her_solves_n50",
                                                      "her_beats_dqn_n50"}


def test_replicated(real_paper, tmp_results):
    write_results(real_paper, "bitflip_n13_dqn", HIGH)
    record = check_claim(real_paper, claim(real_paper, "dqn_solves_n13"))
    assert record["verdict"] == "replicated", record["reason"]
    assert record["n"] == 5 and record["seeds"] == [1, 2, 3, 4, 5]
    assert record["values"] == HIGH and record["mean"] == pytest.approx(sum(HIGH) / 5)
    assert record["ci"][0] >= 0.5 and record["band"] == [0.5, float("inf")]
    assert record["budget_ratio"] == 1.0 and record["commits"] == ["c0ffee"]


def test_not_replicated(real_paper, tmp_results):
    write_results(real_paper, "bitflip_n15_dqn", HIGH)  # at_most 0.5
    record = check_claim(real_paper, claim(real_paper, "dqn_fails_n15"))
    assert record["verdict"] == "not replicated", record["reason"]
    write_results(real_paper, "bitflip_n13_dqn", LOW)  # at_least 0.5
    assert check_claim(real_paper, claim(real_paper, "dqn_solves_n13"))["verdict"] == "not replicated"


def test_inconclusive_straddling(real_paper, tmp_results):
    write_results(real_paper, "bitflip_n50_her", STRADDLE)
    record = check_claim(real_paper, claim(real_paper, "her_solves_n50"))
    assert record["verdict"] == "inconclusive"
    assert record["ci"][0] < 0.5 < record["ci"][1]


def test_inconclusive_with_fewer_than_five_seeds(real_paper, tmp_results):
    write_results(real_paper, "bitflip_n13_dqn", HIGH[:3])
    record = check_claim(real_paper, claim(real_paper, "dqn_solves_n13"))
    assert record["verdict"] == "inconclusive" and record["n"] == 3
    assert "n = 3 < 5" in record["reason"]


def test_ordering_claim(real_paper, tmp_results):
    write_results(real_paper, "bitflip_n50_her", HIGH)
    write_results(real_paper, "bitflip_n50_dqn", LOW)
    record = check_claim(real_paper, claim(real_paper, "her_beats_dqn_n50"))
    assert record["verdict"] == "replicated" and record["ci"][0] > 0
    assert record["other_n"] == 5 and record["other_mean"] == pytest.approx(sum(LOW) / 5)
    write_results(real_paper, "bitflip_n50_dqn", HIGH)
    write_results(real_paper, "bitflip_n50_her", LOW)
    assert check_claim(real_paper, claim(real_paper, "her_beats_dqn_n50"))["verdict"] == "not replicated"
    write_results(real_paper, "bitflip_n50_dqn", STRADDLE)
    write_results(real_paper, "bitflip_n50_her", [v + 0.01 for v in STRADDLE])
    assert check_claim(real_paper, claim(real_paper, "her_beats_dqn_n50"))["verdict"] == "inconclusive"


def test_not_run_without_results(real_paper, tmp_results):
    record = check_claim(real_paper, claim(real_paper, "dqn_solves_n13"))
    assert record["verdict"] == "not run at paper budget"
    assert "no results for bitflip_n13_dqn" in record["reason"] and record["n"] == 0
    write_results(real_paper, "bitflip_n50_her", HIGH)  # one side of an ordering is missing
    record = check_claim(real_paper, claim(real_paper, "her_beats_dqn_n50"))
    assert record["verdict"] == "not run at paper budget" and "bitflip_n50_dqn" in record["reason"]


def test_not_run_below_paper_epochs(real_paper, tmp_results):
    write_results(real_paper, "bitflip_n13_dqn", HIGH, epochs=100)
    record = check_claim(real_paper, claim(real_paper, "dqn_solves_n13"))
    assert record["verdict"] == "not run at paper budget"
    assert "epochs 100 < 200" in record["reason"] and record["budget_ratio"] == 0.5
    # one short seed is enough
    write_results(real_paper, "bitflip_n13_dqn", HIGH)
    write_results(real_paper, "bitflip_n13_dqn", [0.96], seeds=[4], epochs=199)
    assert check_claim(real_paper, claim(real_paper, "dqn_solves_n13"))["verdict"] == "not run at paper budget"


def test_stale_when_code_or_config_fingerprint_differs(real_paper, tmp_results):
    real_paper.entry_point("bitflip")  # the fingerprint lists the paper modules a run imported

    current = run_fingerprint(real_paper, "bitflip_n13_dqn")
    assert "papers/her/bitflip_experiment.py" in current["files"] and "shared/run.py" in current["files"]
    changed = {**current, "files": {**current["files"], "papers/her/replay.py": "0" * 64}}
    write_results(real_paper, "bitflip_n13_dqn", HIGH, fingerprint=changed)
    record = check_claim(real_paper, claim(real_paper, "dqn_solves_n13"))
    assert record["verdict"] == "stale", record["reason"]
    assert "seeds [1, 2, 3, 4, 5]" in record["reason"] and "papers/her/replay.py" in record["reason"]
    other = run_fingerprint(real_paper, "bitflip_n15_dqn")
    assert other["config"] != current["config"] and other["files"] == current["files"]
    write_results(real_paper, "bitflip_n13_dqn", HIGH)
    assert check_claim(real_paper, claim(real_paper, "dqn_solves_n13"))["verdict"] == "replicated"
    write_results(real_paper, "bitflip_n13_dqn", [0.96], seeds=[2], fingerprint=other)
    record = check_claim(real_paper, claim(real_paper, "dqn_solves_n13"))
    assert record["verdict"] == "stale" and "seeds [2]" in record["reason"] and "params" in record["reason"]
    write_results(real_paper, "bitflip_n13_dqn", [0.96], seeds=[3], fingerprint={})
    assert check_claim(real_paper, claim(real_paper, "dqn_solves_n13"))["verdict"] == "stale"
    # an old fingerprint that still lists the package __init__.py (it only names entry points): not stale for it
    write_results(real_paper, "bitflip_n13_dqn", HIGH)
    old = {**current, "files": {**current["files"], "papers/her/__init__.py": "0" * 64}}
    write_results(real_paper, "bitflip_n13_dqn", [0.96], seeds=[2], fingerprint=old)
    assert check_claim(real_paper, claim(real_paper, "dqn_solves_n13"))["verdict"] == "replicated"


def test_budget_shortfall_outranks_stale(real_paper, tmp_results):
    write_results(real_paper, "bitflip_n13_dqn", HIGH, epochs=1, fingerprint={"files": {}, "config": "y"})
    assert check_claim(real_paper, claim(real_paper, "dqn_solves_n13"))["verdict"] == "not run at paper budget"


def test_check_paper_summary_and_written_verdicts(real_paper, tmp_results):
    write_results(real_paper, "bitflip_n13_dqn", HIGH)
    write_results(real_paper, "bitflip_n15_dqn", HIGH)
    verdicts = check_paper(real_paper)
    assert [c["claim"] for c in verdicts["claims"]] == [c.id for c in real_paper.spec.claims]
    assert verdicts["summary"]["replicated"] == 1 and verdicts["summary"]["not replicated"] == 1
    assert verdicts["summary"]["not run at paper budget"] == len(real_paper.spec.claims) - 2
    assert verdicts["claims_checked"] == 2
    folder = write_verdicts(real_paper, verdicts)
    assert folder == tmp_results / "her" / "paper" / "check"

    def no_constants(name):
        raise AssertionError(f"non-JSON constant {name}")

    written = json.loads((folder / "verdicts.json").read_text(), parse_constant=no_constants)
    first = written["claims"][0]
    assert first["band"] == [0.5, None]  # +inf written as null
    assert "**replicated**" in (folder / "verdicts.md").read_text()


def test_cli_check_json_and_stale_after_a_code_change(repo_copy, env_for):
    """`replica check her --json` in a copy of the repository: one record per claim, in paper.yaml's order; results
    written with the copy's fingerprint count until a module they ran changes."""
    env = env_for(repo_copy)
    out = subprocess.run([sys.executable, "-c", "import json; from pipelines.registry import load_paper; "
                          "from pipelines.train import run_fingerprint; p = load_paper('her'); p.entry_point('bitflip'); "
                          "print(json.dumps(run_fingerprint(p, 'bitflip_n13_dqn')))"],
                         cwd=repo_copy, env=env, capture_output=True, text=True, check=True)
    fingerprint = json.loads(out.stdout)
    assert "papers/her/replay.py" in fingerprint["files"]
    for seed, value in zip(range(1, 6), HIGH):
        folder = repo_copy / "papers/her/results/paper/runs/bitflip_n13_dqn" / f"seed{seed}"
        folder.mkdir(parents=True)
        (folder / "metrics.json").write_text(json.dumps({
            "seed": seed, "budget": {"epochs": 200, "test_episodes": 80, "final_test_episodes": 1000},
            "metrics": {METRIC: value}, "fingerprint": fingerprint, "commit": "c0ffee",
            "tracking_run": f"spool:{seed}"}))
    done = replica(repo_copy, "check", "her", "--json", env=env)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    spec_claims = [c["id"] for c in yaml.safe_load((repo_copy / "papers/her/paper.yaml").read_text())["claims"]]
    assert [c["claim"] for c in data["claims"]] == spec_claims  # one record per claim, in paper.yaml's order
    records = {c["claim"]: c for c in data["claims"]}
    assert records["dqn_solves_n13"]["verdict"] == "replicated"
    assert records["her_solves_n50"]["verdict"] == "not run at paper budget"
    assert all("verdict" in c and "source" in c and "reason" in c for c in data["claims"])
    written = repo_copy / "papers/her/results/paper/check/verdicts.json"
    assert json.loads(written.read_text())["claims"] == data["claims"]

    with open(repo_copy / "papers/her/replay.py", "a") as fh:
        fh.write("# changed\n")
    done = replica(repo_copy, "check", "her", "--json", env=env)
    assert done.returncode == 0, done.stderr
    record = {c["claim"]: c for c in json.loads(done.stdout)["claims"]}["dqn_solves_n13"]
    assert record["verdict"] == "stale" and "papers/her/replay.py" in record["reason"]


def test_tolerance_changed_after_results_is_flagged(repo_copy, env_for):
    """The check reads git history: a threshold edited after results were committed is reported, not hidden."""
    from tests.helpers import git_init, replica, set_yaml_line

    env = env_for(repo_copy)
    git = ["git", "-c", "user.email=t@example.invalid", "-c", "user.name=t", "-c", "commit.gpgsign=false"]
    git_init(repo_copy)
    folder = repo_copy / "papers/her/results/paper/runs/bitflip_n13_dqn/seed1"
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps({
        "experiment": "bitflip_n13_dqn", "seed": 1, "budget": {"epochs": 200, "test_episodes": 80,
        "final_test_episodes": 1000}, "metrics": {"final_test_success_rate": 0.9}, "commit": "x",
        "tracking_run": "r", "fingerprint": {}}))
    subprocess.run(git + ["add", "-A"], cwd=repo_copy, check=True)
    subprocess.run(git + ["commit", "-qm", "results"], cwd=repo_copy, check=True)
    first = json.loads(replica(repo_copy, "check", "her", "--json", env=env).stdout)["claims"][0]
    assert first["claim"] == "dqn_solves_n13" and first["preregistered"] is True
    set_yaml_line(repo_copy / "papers/her/paper.yaml", r"threshold: 0\.5$", "threshold: 0.4")
    subprocess.run(git + ["commit", "-qam", "move the threshold"], cwd=repo_copy, check=True)
    after = json.loads(replica(repo_copy, "check", "her", "--json", env=env).stdout)["claims"][0]
    assert after["preregistered"] is False
    assert "tolerance changed after results were committed" in after["reason"]


def _write_rl2(paper, experiment, rows):
    """rows: (seed, evaluation_return, its standard error, training return of the last window)."""
    config = paper.params.experiment(experiment)
    for seed, value, se, train in rows:
        folder = paper.run_dir("paper", experiment, seed)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "metrics.json").write_text(json.dumps({
            "paper": paper.id, "experiment": experiment, "seed": seed, "profile": "paper", "budget": config.budget,
            "hyperparameters": config.hyperparameters,
            "metrics": {"evaluation_return": value, "evaluation_return_se": se, "train_return_last_window": train},
            "fingerprint": run_fingerprint(paper, experiment), "commit": "c0ffee",
            "tracking_run": f"spool:{experiment}-{seed}", "resumed_from_step": None}))


def test_best_of_seeds_picks_the_seed_with_the_best_training_return(tmp_results):
    """RL²'s Table 1 reports the best of 5 seeds chosen by training return; the verdict follows that seed's own
    evaluation interval, and the mean over seeds is reported beside it."""
    from pipelines.check import describe_ours
    from pipelines.registry import load_paper

    paper = load_paper("rl2")
    best = claim(paper, "table1_n10_k5_rl2")  # 6.7 +- 0.2, best of seeds
    assert best.statistic == "best_of_seeds" and best.selection_metric == "train_return_last_window"
    rows = [(11, 6.0, 0.05, 6.0), (21, 6.72, 0.05, 6.7), (31, 6.9, 0.05, 6.1), (41, 5.5, 0.05, 5.5), (51, 6.2, 0.05, 6.2)]
    _write_rl2(paper, "bandit_n10_k5_rl2", rows)
    record = check_claim(paper, best)
    assert record["best_seed"] == 21 and record["best_value"] == 6.72  # by training return, not by evaluation
    assert record["ci"] == pytest.approx([6.72 - 1.959964 * 0.05, 6.72 + 1.959964 * 0.05], abs=1e-5)
    assert record["verdict"] == "replicated", record["reason"]
    assert "best of seeds (seed 21)" in describe_ours(record) and "mean" in describe_ours(record)
    _write_rl2(paper, "bandit_n10_k5_rl2", [(21, 6.2, 0.05, 6.7)])  # the chosen seed now misses the band
    assert check_claim(paper, best)["verdict"] == "not replicated"
    _write_rl2(paper, "bandit_n10_k5_rl2", [(21, 6.45, 0.1, 6.7)])  # straddles 6.5
    assert check_claim(paper, best)["verdict"] == "inconclusive"


def test_best_of_seeds_with_fewer_seeds_than_the_authors_ran_is_not_run(tmp_results):
    """The authors picked their best of 5 seeds: the best of 2 is not the same statistic."""
    from pipelines.registry import load_paper

    paper = load_paper("rl2")
    _write_rl2(paper, "bandit_n10_k5_rl2", [(11, 6.7, 0.01, 6.7), (21, 6.7, 0.01, 6.7)])
    record = check_claim(paper, claim(paper, "table1_n10_k5_rl2"))
    assert record["verdict"] == "not run at paper budget" and "seeds 2 < 5" in record["reason"]
