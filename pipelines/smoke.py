"""``replica smoke``: every paper's DVC pipeline at the smoke profile, in DVC temporary experiment copies
(``dvc exp run --temp``), so the committed paper-profile results and ``dvc.lock`` are never touched."""
from __future__ import annotations

import os
import subprocess
import sys

from pipelines.registry import load_paper
from shared.repo import code_root


def run_smoke(papers: list[str]) -> int:
    for paper_id in papers:
        paper = load_paper(paper_id, "smoke")
        seeds = ",".join(map(str, paper.params.profile_seeds["smoke"]))
        params = f"papers/{paper_id}/params.yaml"
        cmd = ["dvc", "exp", "run", "--temp", f"papers/{paper_id}/dvc.yaml", "-S", f"{params}:profile=smoke",
               "-S", f"{params}:seeds=[{seeds}]"]
        print("$ " + " ".join(cmd), flush=True)
        done = subprocess.run(cmd, cwd=code_root(), env=_git_identity())
        if done.returncode != 0:
            print(f"replica: error: the smoke pipeline of {paper_id} failed (exit {done.returncode})", file=sys.stderr)
            return done.returncode
    return 0


def _git_identity() -> dict[str, str]:
    """DVC records each experiment as a git commit; on a fresh machine without a git identity, lend one."""
    env = dict(os.environ)
    named = subprocess.run(["git", "config", "user.name"], cwd=code_root(), capture_output=True, text=True)
    if not named.stdout.strip():
        for role in ("AUTHOR", "COMMITTER"):
            env.setdefault(f"GIT_{role}_NAME", "replica smoke")
            env.setdefault(f"GIT_{role}_EMAIL", "replica-smoke@localhost")
    return env
