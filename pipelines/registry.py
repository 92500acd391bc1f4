"""The one place that knows the papers: id -> package. Nothing else imports a paper."""
from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Callable

from shared.errors import SpecError
from shared.paper_spec import PaperSpec, load_paper_spec
from shared.params import Params, load_params
from shared.repo import code_root

PAPERS: dict[str, str] = {"her": "papers.her", "maml": "papers.maml", "mlsh": "papers.mlsh", "rl2": "papers.rl2",
                          "snail": "papers.snail"}
# shared code that runs inside an experiment (task families, advantage estimators): part of a run's fingerprint
SHARED_ALGORITHM_PACKAGES = ("shared.tasks", "shared.rl", "shared.fewshot")


@dataclass(frozen=True)
class Paper:
    id: str
    dir: Path
    spec: PaperSpec
    params: Params

    def results_dir(self, profile: str) -> Path:
        return self.dir / "results" / profile

    def run_dir(self, profile: str, experiment: str, seed: int) -> Path:
        return self.results_dir(profile) / "runs" / experiment / f"seed{seed}"

    def checkpoint_dir(self, profile: str, experiment: str, seed: int) -> Path:
        return self.dir / "checkpoints" / profile / experiment / f"seed{seed}"

    def loaded_code(self) -> list[Path]:
        """The source files of this paper's modules imported so far, the shared algorithm code they use
        (``shared.tasks``, ``shared.rl``) and ``shared/run.py`` (seeding, checkpoints): once the entry point is
        imported, exactly the code a run executes. Package ``__init__.py`` files only name things and are left out,
        so registering a new experiment does not stale the others."""
        prefixes = tuple(f"{p}." for p in (PAPERS[self.id], *SHARED_ALGORITHM_PACKAGES))
        files = [Path(m.__file__) for name, m in list(sys.modules.items())
                 if name.startswith(prefixes) and getattr(m, "__file__", None)
                 and not m.__file__.endswith("__init__.py")]
        return sorted(set(files + [code_root() / "shared" / "run.py"]))

    def entry_point(self, group: str) -> Callable:
        """Import and return the ``train(config, run)`` function registered for paper experiment ``group``."""
        package: ModuleType = importlib.import_module(PAPERS[self.id])
        if group not in package.ENTRY_POINTS:
            raise SpecError(str(self.dir / "paper.yaml"), f"experiments.{group}", "has no entry point in "
                            f"{PAPERS[self.id]}.ENTRY_POINTS")
        module_name, function = package.ENTRY_POINTS[group].split(":")
        return getattr(importlib.import_module(module_name), function)


def load_paper(paper_id: str, profile: str | None = None) -> Paper:
    """Load and cross-validate a paper's ``paper.yaml`` and ``params.yaml``."""
    if paper_id not in PAPERS:
        raise SpecError("pipelines/registry.py", paper_id, f"unknown paper (known: {', '.join(sorted(PAPERS))})")
    folder = code_root() / "papers" / paper_id
    spec = load_paper_spec(folder / "paper.yaml")
    params = load_params(folder / "params.yaml", paper_id, spec, profile)
    for claim in spec.claims:
        for name in filter(None, (claim.experiment, claim.other_experiment)):
            if name not in params.experiments:
                raise SpecError(str(spec.path), f"claims.{claim.id}.experiment",
                                f"{name!r} is not an experiment of {params.path}")
    return Paper(id=paper_id, dir=folder, spec=spec, params=params)
