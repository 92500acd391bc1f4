"""Helpers for tests: copy the repository into a temporary folder, an isolated environment for subprocesses, and
running the ``replica`` CLI inside such a copy. Nothing here writes into the real repository tree."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

REPO = Path(__file__).resolve().parents[1]
PYTHON = Path(sys.executable)
VENV_BIN = PYTHON.parent


def tracked_files() -> list[str]:
    """The files git tracks in the real repository (committed or staged), without committed results."""
    out = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    return [f for f in out.split("\0") if f and "/results/" not in f and "/checkpoints/" not in f
            and not f.startswith("tests/") and (REPO / f).is_file()]


def copy_repo(dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for name in tracked_files():
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, target)
    return dest


def git_init(root: Path) -> str:
    """Make ``root`` a git repository with everything committed; returns the commit."""
    git = ["git", "-c", "user.email=tests@example.invalid", "-c", "user.name=tests", "-c", "commit.gpgsign=false"]
    subprocess.run(git + ["init", "-q"], cwd=root, check=True)
    subprocess.run(git + ["add", "-A"], cwd=root, check=True)
    subprocess.run(git + ["commit", "-qm", "copy"], cwd=root, check=True)
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                          check=True).stdout.strip()


def isolated_env(root: Path, tmp: Path, **extra: str | None) -> dict[str, str]:
    """Environment for a subprocess that runs the copy at ``root``: no real MLflow store, spool in ``tmp``."""
    env = dict(os.environ)
    for var in ("MLFLOW_TRACKING_URI", "REPLICA_NO_MLFLOW", "REPLICA_CHECKPOINT_SECONDS", "REPLICA_DEVICE",
                "DVC_STAGE", "DVC_EXP_NAME", "DVC_EXP_BASELINE_REV", "PYTHONPATH"):
        env.pop(var, None)
    env.update({
        "PATH": f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
        "DVC_ROOT": str(root),
        "REPLICA_SPOOL_DIR": str(tmp / "spool"),
        "REPLICA_NO_MLFLOW": "1",
        "REPLICA_PROGRESS": "0",
        "REPLICA_DEVICE": "cpu",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "DVC_NO_ANALYTICS": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "GIT_CONFIG_NOSYSTEM": "1",
    })
    for key, value in extra.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def replica(root: Path, *args: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    """``python -m pipelines.cli ARGS`` with the code of the copy at ``root`` (cwd first on sys.path)."""
    return subprocess.run([str(PYTHON), "-m", "pipelines.cli", *args], cwd=root, env=env, capture_output=True,
                          text=True, timeout=timeout)


def set_yaml_line(path: Path, pattern: str, replacement: str, count: int = 1) -> None:
    """Replace a regex ``pattern`` (multiline) in a YAML file, insisting that it matched."""
    text = path.read_text()
    new, n = re.subn(pattern, replacement, text, count=count, flags=re.MULTILINE)
    assert n >= 1, f"{pattern!r} not found in {path}"
    path.write_text(new)


def shrink_params(params: Path, cycles: int = 4, steps: int = 5, smoke_epochs: int = 2) -> None:
    """A tiny variant of params.yaml (in a copy only): fewer cycles/updates per epoch, more smoke epochs."""
    set_yaml_line(params, r"^(\s*cycles_per_epoch:) \d+", rf"\1 {cycles}")
    set_yaml_line(params, r"^(\s*optimization_steps_per_cycle:) \d+", rf"\1 {steps}")
    set_yaml_line(params, r"^(\s*budget: \{epochs:) 1,", rf"\1 {smoke_epochs},")


def kill_when(cmd: list[str], root: Path, env: dict[str, str], ready, timeout: float = 240) -> None:
    """Start ``cmd`` in ``root`` as its own process group, SIGKILL the group as soon as ``ready()`` holds, and insist
    that the run was still going (it must not finish before the condition appears)."""
    import signal
    import time

    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while not ready():
            assert proc.poll() is None, ("finished before the kill condition", proc.communicate())
            assert time.monotonic() < deadline, "the kill condition never held"
            time.sleep(0.02)
        assert proc.poll() is None, "the run ended before it could be killed"
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
    assert proc.returncode == -signal.SIGKILL


def modules_imported_by(paper_id: str, group: str) -> list[str]:
    """The code files a run of ``paper_id``'s paper experiment ``group`` executes (``Paper.loaded_code`` after
    importing only its entry point, in a fresh interpreter), relative to ``papers/<paper_id>/`` as DVC deps name
    them; ``shared/run.py`` is left out (every stage lists it)."""
    code = ("from pipelines.registry import load_paper; p = load_paper(%r); p.entry_point(%r); "
            "print(' '.join(str(f) for f in p.loaded_code()))" % (paper_id, group))
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    here = REPO / "papers" / paper_id
    files = [Path(f) for f in done.stdout.split() if Path(f) != REPO / "shared" / "run.py"]
    return sorted(f.relative_to(here).as_posix() if f.is_relative_to(here)
                  else "../../" + f.relative_to(REPO).as_posix() for f in files)


@contextmanager
def killed_at_iteration(monkeypatch, iteration: int) -> Iterator[None]:
    """Inside the block, ``Run.log`` raises KeyboardInterrupt right after logging ``iteration`` (a run killed
    mid-training); the block must end with that interrupt, and ``Run.log`` is itself again afterwards."""
    import pytest

    from shared.run import Run

    original = Run.log

    def dying_log(self, step, **metrics):
        original(self, step, **metrics)
        if metrics["iteration"] == iteration:
            raise KeyboardInterrupt

    monkeypatch.setattr(Run, "log", dying_log)
    with pytest.raises(KeyboardInterrupt):
        yield
    monkeypatch.setattr(Run, "log", original)
