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


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=code_root(), capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def git_commit() -> str:
    return _git("rev-parse", "HEAD") or "unknown"


def git_dirty() -> bool:
    status = _git("status", "--porcelain", "--untracked-files=no")
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


def tree_fingerprint(paths: list[Path]) -> str:
    """SHA-256 over the contents of every ``*.py`` and ``*.yaml`` file under ``paths`` (sorted, relative names).

    Used to mark results ``stale`` when the code that produced them has changed since.
    """
    digest = hashlib.sha256()
    base = code_root()
    files: list[Path] = []
    for path in paths:
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            files.extend(p for p in path.rglob("*.py") if "__pycache__" not in p.parts)
    for file in sorted(files, key=lambda p: p.resolve().relative_to(base.resolve()).as_posix()):
        digest.update(file.resolve().relative_to(base.resolve()).as_posix().encode())
        digest.update(b"\0")
        digest.update(file.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()
