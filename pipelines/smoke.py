"""``replica smoke``: every paper's DVC pipeline at the smoke profile, in DVC temporary experiment copies
(``dvc exp run --temp``), so the committed paper-profile results and ``dvc.lock`` are never touched."""
from __future__ import annotations

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
        done = subprocess.run(cmd, cwd=code_root())
        if done.returncode != 0:
            print(f"replica: error: the smoke pipeline of {paper_id} failed (exit {done.returncode})", file=sys.stderr)
            return done.returncode
    return 0
