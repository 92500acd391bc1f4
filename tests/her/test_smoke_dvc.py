"""The HER pipeline through DVC at the smoke profile, in a temporary git+DVC copy of the repository."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.helpers import git_init, set_yaml_line

RESULTS = Path("papers/her/results/smoke")


def dvc(root: Path, env: dict, *args: str, timeout: float = 540) -> subprocess.CompletedProcess:
    done = subprocess.run(["dvc", *args], cwd=root, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, (args, done.stdout[-3000:], done.stderr[-3000:])
    return done


@pytest.fixture
def smoke_repo(repo_copy, env_for):
    params = repo_copy / "papers/her/params.yaml"
    set_yaml_line(params, r"^profile: paper", "profile: smoke")
    set_yaml_line(params, r"^seeds: \[1, 2, 3, 4, 5\]", "seeds: [1]")
    git_init(repo_copy)
    return repo_copy, env_for(repo_copy, DVC_ROOT=None)  # DVC sets DVC_ROOT for its stage commands


def check_verdicts(root: Path) -> dict:
    verdicts = json.loads((root / RESULTS / "check/verdicts.json").read_text())
    spec = yaml.safe_load((root / "papers/her/paper.yaml").read_text())
    assert verdicts["profile"] == "smoke"
    assert [c["claim"] for c in verdicts["claims"]] == [c["id"] for c in spec["claims"]]
    return verdicts


def test_two_train_stages_and_check_through_dvc(smoke_repo):
    root, env = smoke_repo
    lock_file = root / "papers/her/dvc.lock"
    before = set(yaml.safe_load(lock_file.read_text())["stages"]) if lock_file.exists() else set()
    stages = ["papers/her/dvc.yaml:train@bitflip_n5_dqn-1", "papers/her/dvc.yaml:train@bitflip_n5_her-1"]
    dvc(root, env, "repro", "-s", *stages)
    dvc(root, env, "repro", "-s", "papers/her/dvc.yaml:check")
    for exp in ("bitflip_n5_dqn", "bitflip_n5_her"):
        run = root / RESULTS / "runs" / exp / "seed1"
        metrics = json.loads((run / "metrics.json").read_text())
        assert metrics["profile"] == "smoke" and metrics["budget"]["epochs"] == 1
        assert 0.0 <= metrics["metrics"]["final_test_success_rate"] <= 1.0
        assert metrics["dvc_stage"] == f"papers/her/dvc.yaml:train@{exp}-1"
        assert (run / "curve.csv").exists() and (run / "config.json").exists()
        assert (root / "papers/her/checkpoints/smoke" / exp / "seed1" / "complete.json").exists()
    lock = yaml.safe_load(lock_file.read_text())["stages"]
    assert {"train@bitflip_n5_dqn-1", "train@bitflip_n5_her-1", "check"} <= set(lock)
    # only the targeted stages ran: the committed paper-profile entries are all that was there before
    assert set(lock) - before <= {"train@bitflip_n5_dqn-1", "train@bitflip_n5_her-1", "check"}
    entry = lock["train@bitflip_n5_her-1"]
    assert "--profile smoke" in entry["cmd"] and any(o["path"].endswith("seed1/metrics.json") for o in entry["outs"])
    assert entry["params"]["params.yaml"]["profile"] == "smoke"
    verdicts = check_verdicts(root)
    # the claims concern n = 13, 15 and 50 at 200 epochs: nothing of it was run at the paper's budget
    assert {c["verdict"] for c in verdicts["claims"]} == {"not run at paper budget"}
    assert (root / RESULTS / "check/verdicts.md").exists()
    # nothing changed since: DVC sees the stages as up to date and does not re-run them
    status = dvc(root, env, "status", *stages)
    assert "up to date" in status.stdout, status.stdout
    again = dvc(root, env, "repro", "-s", stages[1])
    assert "didn't change, skipping" in again.stdout or "is cached" in again.stdout, again.stdout
    # the smoke run never touched the paper profile's results
    assert not (root / "papers/her/results/paper/runs").exists()


@pytest.mark.slow
def test_full_smoke_pipeline_through_dvc(smoke_repo):
    """Every stage of the HER pipeline at the smoke profile (16 bit-flipping and 74 Fetch train stages x 1 seed,
    then check)."""
    root, env = smoke_repo
    dvc(root, env, "repro", "papers/her/dvc.yaml", timeout=3600)
    lock = yaml.safe_load((root / "papers/her/dvc.lock").read_text())["stages"]
    params = yaml.safe_load((root / "papers/her/params.yaml").read_text())
    stage = {exp: "train" if exp.startswith("bitflip") else "train_fetch" for exp in params["experiments"]}
    assert {f"{stage[exp]}@{exp}-1" for exp in params["experiments"]} | {"check"} == set(lock)
    verdicts = check_verdicts(root)
    assert {c["verdict"] for c in verdicts["claims"]} == {"not run at paper budget"}
    for claim in verdicts["claims"]:
        assert "epochs 1 < 200" in claim["reason"] or "cycles_per_epoch 1 < 50" in claim["reason"]


@pytest.mark.slow
def test_replica_smoke_runs_a_temporary_dvc_experiment(smoke_repo):
    """`replica smoke her` (dvc exp run --temp) leaves the workspace's results and dvc.lock untouched."""
    from tests.helpers import replica

    root, env = smoke_repo
    done = replica(root, "smoke", "her", env=env, timeout=3600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert not (root / "papers/her/dvc.lock").exists()
    assert not (root / RESULTS).exists()
    exps = dvc(root, env, "exp", "show", "--json")
    assert "final_test_success_rate" in exps.stdout
