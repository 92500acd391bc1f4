"""Where the repository is, what commit produced a result, and the DVC context of a stage."""
from __future__ import annotations

import hashlib
import importlib.metadata
import os
import subprocess
from pathlib import Path

PACKAGES = ("torch", "numpy", "scipy", "gymnasium", "ale-py", "gymnasium-robotics", "mujoco", "dvc", "mlflow")


def repo_root() -> Path:
    """The real repository root, also inside DVC's temporary experiment copies (``$DVC_ROOT``)."""
    root = os.environ.get("DVC_ROOT")
    if root:
        return Path(root)
    here = Path(__file__).resolve().parent.parent
    return here


def code_root() -> Path:
    """The tree whose code is running (a DVC temp copy runs its own copy of the code)."""
    return Path(__file__).resolve().parent.parent


def git_output(*args: str) -> str | None:
    """stdout of ``git ARGS`` run in the code root (stripped), or None when git fails or is missing."""
    try:
        out = subprocess.run(["git", *args], cwd=code_root(), capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def git_commit() -> str:
    return git_output("rev-parse", "HEAD") or "unknown"


def git_dirty() -> bool:
    status = git_output("status", "--porcelain", "--untracked-files=no")
    return bool(status)


def dvc_tags() -> dict[str, str]:
    names = {"dvc.stage": "DVC_STAGE", "dvc.exp_name": "DVC_EXP_NAME", "dvc.baseline_rev": "DVC_EXP_BASELINE_REV"}
    return {tag: os.environ[var] for tag, var in names.items() if var in os.environ}


def package_versions() -> dict[str, str]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def file_hashes(files: list[Path]) -> dict[str, str]:
    """SHA-256 of each file, keyed by its path relative to the code root (a missing file hashes to "missing")."""
    base = code_root().resolve()
    out = {}
    for file in files:
        rel = Path(file).resolve().relative_to(base).as_posix()
        path = base / rel
        out[rel] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "missing"
    return dict(sorted(out.items()))
