"""``replica train <paper> <experiment> --seed N``: one run, tracked, checkpointed, resumable."""
from __future__ import annotations

import hashlib
import json
import shutil
import sys
import time
from typing import Any

from pipelines.registry import Paper
from shared.errors import SpecError
from shared.repo import code_root, dvc_tags, file_hashes, git_commit, git_dirty, package_versions
from shared.run import COMPLETE_FILE, Run, atomic_write_text
from shared.tracking import end_run, start_tracking

TRACKING_FILE = "tracking.json"


def config_hash(paper: Paper, experiment: str) -> str:
    config = paper.params.experiment(experiment)
    blob = json.dumps({"hp": config.hyperparameters, "budget": config.budget}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def run_fingerprint(paper: Paper, experiment: str) -> dict[str, Any]:
    """What makes a result stale when it changes: each source file the run executed (its SHA-256) and the
    experiment's resolved config. Call after the run, when the paper's modules are imported."""
    return {"files": file_hashes(paper.loaded_code()), "config": config_hash(paper, experiment)}


def stale_reason(paper: Paper, experiment: str, recorded: dict[str, Any] | None) -> str | None:
    """Why a result recorded with fingerprint ``recorded`` no longer matches the code and config, or None."""
    if not recorded or "files" not in recorded:
        return "no fingerprint recorded"
    # fingerprints written before 2d745b9 also list the package __init__.py, which only names the entry points and
    # is no longer part of a run's code (Paper.loaded_code): it is ignored here too
    files = [f for f in recorded["files"] if f != f"papers/{paper.id}/__init__.py"]
    changed = [f for f, digest in file_hashes([code_root() / f for f in files]).items()
               if recorded["files"][f] != digest]
    if changed:
        return "changed: " + ", ".join(changed)
    if recorded["config"] != config_hash(paper, experiment):
        return "params changed"
    return None


def train(paper: Paper, experiment: str, seed: int) -> dict[str, Any]:
    """Validate everything first (bad input writes nothing), then train, resuming from a checkpoint if one exists."""
    config = paper.params.experiment(experiment)
    profile = paper.params.profile
    if seed not in paper.params.profile_seeds[profile]:
        raise SpecError(str(paper.params.path), f"profiles.{profile}.seeds",
                        f"seed {seed} is not listed (listed: {list(paper.params.profile_seeds[profile])})")
    entry = paper.entry_point(config.paper_experiment)
    fingerprint = run_fingerprint(paper, experiment)  # the code imported now is the code that will run
    out_dir = paper.run_dir(profile, experiment, seed)
    ckpt_dir = paper.checkpoint_dir(profile, experiment, seed)
    tracking_file = ckpt_dir / TRACKING_FILE
    previous = json.loads(tracking_file.read_text()) if tracking_file.exists() else None
    if (ckpt_dir / COMPLETE_FILE).exists():  # a finished run being forced again starts afresh
        shutil.rmtree(ckpt_dir)
        previous = None
    elif previous is not None and previous.get("config", fingerprint["config"]) != fingerprint["config"]:
        print(f"[train] params of {experiment} changed since its checkpoint; starting afresh", file=sys.stderr)
        end_run(previous["run_ref"], "KILLED")
        shutil.rmtree(ckpt_dir)
        previous = None
    run = Run(config, seed, out_dir, ckpt_dir)
    commit, dirty = git_commit(), git_dirty()
    tags = {"paper": paper.id, "experiment": experiment, "seed": str(seed), "profile": profile,
            "device": str(run.device), "git.commit": commit, "git.dirty": str(dirty),
            **{f"version.{k}": v for k, v in package_versions().items()}, **dvc_tags()}
    tracker = start_tracking(f"replica/{paper.id}", f"{experiment}/seed{seed}/{profile}", tags,
                             {**config.as_flat_dict(), "seed": seed}, resume=previous and previous["run_ref"])
    atomic_write_text(tracking_file, json.dumps({"run_ref": tracker.run_ref, "config": fingerprint["config"]}))
    run.tracker = tracker
    started = time.time()
    try:
        final = entry(config, run)
    except BaseException as err:
        run.flush()
        tracker.end("FAILED" if isinstance(err, Exception) else "KILLED")
        raise
    run.flush()
    if not (out_dir / "curve.csv").exists():  # a run without a training phase (a from-scratch baseline's budget of
        atomic_write_text(out_dir / "curve.csv", "step\n")  # 0 iterations) still has its declared output
    metrics = {
        "paper": paper.id, "experiment": experiment, "paper_experiment": config.paper_experiment, "seed": seed,
        "profile": profile, "budget": config.budget, "hyperparameters": config.hyperparameters,
        "metrics": final, "device": str(run.device), "commit": commit, "dirty": dirty,
        "fingerprint": fingerprint, "tracking_backend": tracker.backend,
        "tracking_run": tracker.run_ref, "resumed_from_step": run.resumed_from,
        "wall_time_s": round(time.time() - started, 1), "dvc_stage": dvc_tags().get("dvc.stage"),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out_dir / "metrics.json", json.dumps(metrics, indent=2, sort_keys=True, default=str) + "\n")
    atomic_write_text(out_dir / "config.json", json.dumps(config.as_flat_dict(), indent=2, sort_keys=True) + "\n")
    for name in ("config.json", "curve.csv", "metrics.json"):
        if (out_dir / name).exists():
            tracker.log_artifact(out_dir / name)
    tracker.end("FINISHED")
    run.mark_complete(final)
    return metrics

