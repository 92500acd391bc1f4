"""Shared fixtures (see tests/helpers.py). Every test gets its own tracking store, spool and DVC root."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import copy_repo, isolated_env


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    """A copy of the repository's tracked files (no results, checkpoints, mlflow.db or spool)."""
    return copy_repo(tmp_path / "repo")


@pytest.fixture
def env_for(tmp_path: Path):
    """``env_for(root, **extra)`` -> an isolated environment for subprocesses that run the copy at ``root``."""
    return lambda root, **extra: isolated_env(root, tmp_path, **extra)


@pytest.fixture
def real_paper():
    from pipelines.registry import load_paper

    return load_paper("her")


@pytest.fixture
def tmp_results(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Redirect every paper's results and checkpoints (in this process) to ``tmp_path``."""
    from pipelines.registry import Paper

    root = tmp_path / "results"
    monkeypatch.setattr(Paper, "results_dir", lambda self, profile: root / self.id / profile)
    monkeypatch.setattr(Paper, "checkpoint_dir",
                        lambda self, profile, exp, seed: tmp_path / "checkpoints" / self.id / profile / exp / f"seed{seed}")
    return root


@pytest.fixture(autouse=True)
def _guard_real_repo(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """Every test runs with the tracking store, spool and DVC root pointed at its own temporary directory."""
    monkeypatch.setenv("DVC_ROOT", str(tmp_path / "dvc_root"))
    monkeypatch.setenv("REPLICA_SPOOL_DIR", str(tmp_path / "spool"))
    monkeypatch.setenv("REPLICA_PROGRESS", "0")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    yield
