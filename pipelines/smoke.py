"""``replica smoke``: every paper's DVC pipeline at the smoke profile, in DVC temporary experiment copies
(``dvc exp run --temp``), so the committed paper-profile results and ``dvc.lock`` are never touched.

Stages that need a data set we cannot ship (a paper's ``DATA_STAGES``: stage -> the file the data set provides)
are left out, with the command that fetches it, while that file is absent; never replaced by stand-in data."""
from __future__ import annotations

import importlib
import os
import subprocess
import sys

import yaml

from pipelines.registry import PAPERS, load_paper
from shared.repo import code_root, repo_root


def run_smoke(papers: list[str]) -> int:
    for paper_id in papers:
        paper = load_paper(paper_id, "smoke")
        seeds = ",".join(map(str, paper.params.profile_seeds["smoke"]))
        params = f"papers/{paper_id}/params.yaml"
        cmd = ["dvc", "exp", "run", "--temp", *smoke_targets(paper_id), "-S", f"{params}:profile=smoke",
               "-S", f"{params}:seeds=[{seeds}]"]
        print("$ " + " ".join(cmd), flush=True)
        done = subprocess.run(cmd, cwd=code_root(), env=_git_identity())
        if done.returncode != 0:
            print(f"replica: error: the smoke pipeline of {paper_id} failed (exit {done.returncode})", file=sys.stderr)
            return done.returncode
    return 0


def smoke_targets(paper_id: str) -> list[str]:
    """The whole pipeline, or every stage but those whose data set is absent (each reported once)."""
    pipeline = f"papers/{paper_id}/dvc.yaml"
    package = importlib.import_module(PAPERS[paper_id])
    data_stages: dict[str, str] = getattr(package, "DATA_STAGES", {})
    fetch_commands: dict[str, str] = getattr(package, "FETCH_COMMANDS", {})  # where another pipeline fetches
    missing = {stage: path for stage, path in data_stages.items() if not (repo_root() / path).exists()}
    if not missing:
        return [pipeline]
    for stage, path in missing.items():
        command = fetch_commands.get(stage) or \
            f"dvc repro {pipeline}:{stage if stage.startswith('fetch') else 'fetch_' + stage.split('_', 1)[1]}"
        print(f"replica smoke: skipping {pipeline}:{stage}: {path} is absent (fetch it with `{command}`)",
              flush=True)
    stages = yaml.safe_load((code_root() / pipeline).read_text())["stages"]
    return [f"{pipeline}:{name}" for name in stages if name not in missing]


def _git_identity() -> dict[str, str]:
    """DVC records each experiment as a git commit; on a fresh machine without a git identity, lend one."""
    env = dict(os.environ)
    named = subprocess.run(["git", "config", "user.name"], cwd=code_root(), capture_output=True, text=True)
    if not named.stdout.strip():
        for role in ("AUTHOR", "COMMITTER"):
            env.setdefault(f"GIT_{role}_NAME", "replica smoke")
            env.setdefault(f"GIT_{role}_EMAIL", "replica-smoke@localhost")
    return env
