"""Bad input gets a one-line error naming file and key, a non-zero exit, and changes nothing."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import replica, set_yaml_line

OUTPUTS = ("papers/her/results", "papers/her/checkpoints", "mlflow.db", "mlartifacts", "mlruns", "mlflow-spool")


def snapshot(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if "__pycache__" not in p.parts}


def run_bad(root: Path, env: dict, *args: str) -> str:
    """Run a command that must fail cleanly; returns its one stderr line after checking nothing was written."""
    before = snapshot(root)
    done = replica(root, *args, env=env, timeout=120)
    assert done.returncode != 0, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("replica: error: ")
    assert "Traceback" not in done.stderr
    assert snapshot(root) == before
    for name in OUTPUTS:
        assert not (root / name).exists(), name
    spool = Path(env["REPLICA_SPOOL_DIR"])
    assert not spool.exists() or not any(spool.iterdir())
    return lines[0]


@pytest.fixture
def copy_env(repo_copy, env_for):
    # no REPLICA_NO_MLFLOW: if training got as far as tracking, it would create <copy>/mlflow.db
    return repo_copy, env_for(repo_copy, REPLICA_NO_MLFLOW=None)


def test_results_are_absent_in_a_fresh_copy(repo_copy):
    assert not any((repo_copy / name).exists() for name in OUTPUTS)


def test_unknown_paper(copy_env):
    root, env = copy_env
    for command in (("train", "nopaper", "bitflip_n5_her", "--seed", "1"), ("check", "nopaper"),
                    ("audit", "nopaper")):
        line = run_bad(root, env, *command)
        assert "nopaper" in line and "unknown paper" in line and "pipelines/registry.py" in line


def test_unknown_experiment(copy_env):
    root, env = copy_env
    line = run_bad(root, env, "train", "her", "bitflip_n6_her", "--seed", "1", "--profile", "smoke")
    assert "papers/her/params.yaml" in line and "experiments.bitflip_n6_her" in line
    assert "unknown experiment" in line


def test_seed_not_listed(copy_env):
    root, env = copy_env
    line = run_bad(root, env, "train", "her", "bitflip_n5_her", "--seed", "2", "--profile", "smoke")
    assert "papers/her/params.yaml" in line and "profiles.smoke.seeds" in line and "seed 2" in line
    line = run_bad(root, env, "train", "her", "bitflip_n5_her", "--seed", "9")
    assert "profiles.paper.seeds" in line


def test_unknown_profile(copy_env):
    root, env = copy_env
    line = run_bad(root, env, "train", "her", "bitflip_n5_her", "--seed", "1", "--profile", "turbo")
    assert "papers/her/params.yaml" in line and ": profile: " in line and "turbo" in line


@pytest.mark.parametrize("pattern,replacement,key", [
    (r"^(\s*gamma:) 0\.98$", r'\1 "high"', "experiments.bitflip_n5_dqn.hyperparameters.gamma"),
    (r"^(\s*gamma: 0\.98)$", "\\1\n      momentum: 0.9", "experiments.bitflip_n5_dqn.hyperparameters.momentum"),
    (r"^ *gamma: 0\.98\n", "", "experiments.bitflip_n5_dqn.hyperparameters.gamma"),
    (r"^(    budget: \{epochs: 1, .*\})$", "\\1\n    gamma: 0.5", "profiles.smoke.gamma"),
    (r"^seeds: \[1, 2, 3, 4, 5\]", "seeds: [1, 6]", "seeds"),
    (r"^profile: paper", "profile: papr", "profile"),
    (r"^(\s*polyak: 0\.95)$", "\\1\n      polyak: 0.9", "<yaml>"),
    (r"^(\s*)batch_size: 128$", r"\1batch_size: [128", "<yaml>"),
])
def test_malformed_params_yaml(copy_env, monkeypatch, capsys, pattern, replacement, key):
    root, env = copy_env
    set_yaml_line(root / "papers/her/params.yaml", pattern, replacement)
    line = run_bad(root, env, "train", "her", "bitflip_n5_dqn", "--seed", "1")
    assert "papers/her/params.yaml:" in line and f": {key}: " in line  # file:line: key: reason
    # check and audit refuse the same file the same way (in-process on the copy, for speed)
    import pipelines.registry as registry
    from pipelines.cli import main

    monkeypatch.setattr(registry, "code_root", lambda: root)
    before = snapshot(root)
    for command in (["check", "her"], ["audit", "her"], ["list"]):
        assert main(command) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and f"{root / 'papers/her/params.yaml'}:" in err[0] and f": {key}: " in err[0]
    assert snapshot(root) == before


def test_claim_without_source(copy_env):
    root, env = copy_env
    paper_yaml = root / "papers/her/paper.yaml"
    text = paper_yaml.read_text()
    start = text.index("claims:\n")
    paper_yaml.write_text(text[:start] + text[start:].replace('    source: "§3.1"\n', "", 1))
    line = run_bad(root, env, "train", "her", "bitflip_n5_dqn", "--seed", "1")
    assert "papers/her/paper.yaml" in line and "claims[0].source" in line


def test_invalid_hyperparameter_value_is_rejected_before_anything_is_written(repo_copy, env_for):
    root, env = repo_copy, env_for(repo_copy)  # MLflow off (spool) for speed: a spool folder is a write too
    set_yaml_line(root / "papers/her/params.yaml", r"her_strategy: none$", "her_strategy: finall")
    line = run_bad(root, env, "train", "her", "bitflip_n5_dqn", "--seed", "1", "--profile", "smoke")
    assert "her_strategy" in line
