"""Experiment tracking: MLflow (SQLite store at the repo root by default) with an offline spool.

When MLflow is not installed or its server is unreachable, a run goes on, writes its params, tags, metrics and
artifacts to ``<repo>/mlflow-spool/<id>/`` and says so once; ``import_spool`` later replays every spooled run into
MLflow, so no metric is lost.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Protocol

from shared.repo import repo_root

SPOOL_DIR_NAME = "mlflow-spool"
_WARNED: set[str] = set()


def tracking_uri() -> str:
    """``$MLFLOW_TRACKING_URI`` when set, else the embedded SQLite store ``<repo>/mlflow.db``."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{repo_root() / 'mlflow.db'}"


def spool_root() -> Path:
    return Path(os.environ.get("REPLICA_SPOOL_DIR") or repo_root() / SPOOL_DIR_NAME)


def _say_once(message: str) -> None:
    if message not in _WARNED:
        _WARNED.add(message)
        print(f"[tracking] {message}", file=sys.stderr, flush=True)


class Tracker(Protocol):
    backend: str
    run_ref: str

    def log_metrics(self, rows: list[dict[str, float]]) -> None: ...
    def log_artifact(self, path: Path) -> None: ...
    def end(self, status: str) -> None: ...


def _probe(uri: str) -> str | None:
    """One attempt, 3 s, no retries; returns the reason it failed or None."""
    if not uri.startswith(("http://", "https://")):
        return None
    try:
        with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=3) as response:  # noqa: S310
            return None if response.status == 200 else f"HTTP {response.status}"
    except Exception as err:  # noqa: BLE001 - any failure means: spool
        return f"{type(err).__name__}: {err}"


def _numeric(metrics: dict[str, Any]) -> dict[str, float]:
    """The metric values of a curve row (keys starting with '_' and 'step' are bookkeeping)."""
    return {k: float(v) for k, v in metrics.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and not k.startswith("_") and k != "step"}


def _timestamp(row: dict[str, Any]) -> int:
    return int(row.get("_ts") or time.time() * 1000)


class MlflowTracker:
    backend = "mlflow"

    def __init__(self, client: Any, run_id: str) -> None:
        self.client, self.run_ref = client, run_id

    def log_metrics(self, rows: list[dict[str, float]]) -> None:
        from mlflow.entities import Metric

        metrics = [Metric(k, v, _timestamp(row), int(row["step"])) for row in rows for k, v in _numeric(row).items()]
        for i in range(0, len(metrics), 1000):
            self.client.log_batch(self.run_ref, metrics=metrics[i:i + 1000], synchronous=True)

    def log_artifact(self, path: Path) -> None:
        self.client.log_artifact(self.run_ref, str(path))

    def end(self, status: str) -> None:
        self.client.set_terminated(self.run_ref, status=status)


class SpoolTracker:
    """Writes what MLflow would have received to a folder; ``import_spool`` replays it."""

    backend = "spool"

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.run_ref = f"spool:{folder.name}"

    @classmethod
    def create(cls, experiment: str, run_name: str, tags: dict[str, str], params: dict[str, Any],
               mlflow_run_id: str | None = None) -> "SpoolTracker":
        folder = spool_root() / uuid.uuid4().hex
        (folder / "artifacts").mkdir(parents=True)
        _write_json(folder / "run.json", {"experiment": experiment, "run_name": run_name, "tags": tags,
                                          "params": {k: str(v) for k, v in params.items()},
                                          "mlflow_run_id": mlflow_run_id, "status": "RUNNING"})
        return cls(folder)

    def log_metrics(self, rows: list[dict[str, float]]) -> None:
        with open(self.folder / "metrics.jsonl", "a") as fh:
            for row in rows:
                fh.write(json.dumps({"step": int(row["step"]), "ts": _timestamp(row), "metrics": _numeric(row)}) + "\n")

    def log_artifact(self, path: Path) -> None:
        shutil.copy2(path, self.folder / "artifacts" / path.name)

    def end(self, status: str) -> None:
        info = json.loads((self.folder / "run.json").read_text())
        info["status"] = status
        _write_json(self.folder / "run.json", info)


class FallbackTracker:
    """MLflow first; on the first failure of any call, the rest of the run goes to a spool (said once)."""

    def __init__(self, primary: MlflowTracker, experiment: str, run_name: str, tags: dict, params: dict) -> None:
        self.primary: Tracker = primary
        self._spool_args = (experiment, run_name, tags, params)
        self.mlflow_run_id = primary.run_ref

    @property
    def backend(self) -> str:
        return self.primary.backend

    @property
    def run_ref(self) -> str:
        return self.mlflow_run_id

    def _call(self, name: str, *args: Any) -> None:
        try:
            getattr(self.primary, name)(*args)
        except Exception as err:  # noqa: BLE001
            if self.primary.backend == "spool":
                raise
            _say_once(f"MLflow failed mid-run ({type(err).__name__}: {err}); spooling the rest to {spool_root()}")
            self.primary = SpoolTracker.create(*self._spool_args, mlflow_run_id=self.mlflow_run_id)
            getattr(self.primary, name)(*args)

    def log_metrics(self, rows: list[dict[str, float]]) -> None:
        self._call("log_metrics", rows)

    def log_artifact(self, path: Path) -> None:
        self._call("log_artifact", path)

    def end(self, status: str) -> None:
        self._call("end", status)


def _client(uri: str) -> Any:
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def _experiment_id(client: Any, name: str, uri: str) -> str:
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    location = (repo_root() / "mlartifacts" / name).as_uri() if uri.startswith("sqlite:") else None
    try:
        return client.create_experiment(name, artifact_location=location)
    except Exception:  # noqa: BLE001 - another process created it first
        return client.get_experiment_by_name(name).experiment_id


def start_tracking(experiment: str, run_name: str, tags: dict[str, str], params: dict[str, Any],
                   resume: str | None = None) -> Tracker:
    """Open (or, with ``resume`` = a previous ``run_ref``, continue) a run; never raises for tracking trouble."""
    if resume and resume.startswith("spool:"):
        folder = spool_root() / resume.split(":", 1)[1]
        if folder.is_dir():
            return SpoolTracker(folder)
    uri = tracking_uri()
    reason = None
    if os.environ.get("REPLICA_NO_MLFLOW"):
        reason = "REPLICA_NO_MLFLOW is set"
    else:
        try:
            import mlflow  # noqa: F401
        except ImportError:
            reason = "mlflow is not installed"
    reason = reason or _probe(uri)
    if reason is None:
        try:
            client = _client(uri)
            if resume and not resume.startswith("spool:"):
                client.update_run(resume, status="RUNNING")
                run_id = resume
            else:
                run = client.create_run(_experiment_id(client, experiment, uri), run_name=run_name, tags=tags)
                run_id = run.info.run_id
                _log_params(client, run_id, params)
            return FallbackTracker(MlflowTracker(client, run_id), experiment, run_name, tags, params)
        except Exception as err:  # noqa: BLE001
            reason = f"{type(err).__name__}: {err}"
    _say_once(f"MLflow unavailable at {uri} ({reason}); spooling this run to {spool_root()} "
              "(import later with `replica import-spool`)")
    return SpoolTracker.create(experiment, run_name, tags, params)


def end_run(run_ref: str, status: str) -> None:
    """Close a run left open by an abandoned checkpoint (best effort: tracking trouble never stops training)."""
    try:
        if run_ref.startswith("spool:"):
            folder = spool_root() / run_ref.split(":", 1)[1]
            if folder.is_dir():
                SpoolTracker(folder).end(status)
        elif not os.environ.get("REPLICA_NO_MLFLOW") and not _probe(tracking_uri()):
            _client(tracking_uri()).set_terminated(run_ref, status=status)
    except Exception as err:  # noqa: BLE001
        _say_once(f"could not close run {run_ref} ({type(err).__name__}: {err})")


def _log_params(client: Any, run_id: str, params: dict[str, Any]) -> None:
    from mlflow.entities import Param

    items = [Param(k, str(v)[:6000]) for k, v in params.items()]
    for i in range(0, len(items), 100):
        client.log_batch(run_id, params=items[i:i + 100], synchronous=True)


def import_spool() -> dict[str, str]:
    """Replay every finished spooled run into MLflow; returns ``{"spool:<id>": mlflow_run_id}``.

    Imported folders move to ``<spool>/imported/``. Raises when MLflow itself is unreachable.
    """
    root = spool_root()
    uri = tracking_uri()
    reason = _probe(uri)
    if reason:
        raise ConnectionError(f"MLflow at {uri} is unreachable ({reason}); nothing imported")
    from mlflow.entities import Metric, RunTag

    client = _client(uri)
    mapping: dict[str, str] = {}
    for folder in sorted(p for p in root.glob("*") if p.is_dir() and p.name != "imported"):
        info = json.loads((folder / "run.json").read_text())
        if info["status"] == "RUNNING":
            continue  # still being written by a live run
        run_id = info.get("mlflow_run_id")
        if run_id is None:
            run = client.create_run(_experiment_id(client, info["experiment"], uri), run_name=info["run_name"],
                                    tags=info["tags"])
            run_id = run.info.run_id
            _log_params(client, run_id, info["params"])
        client.log_batch(run_id, tags=[RunTag("replica.spooled", folder.name)], synchronous=True)
        metrics_file = folder / "metrics.jsonl"
        if metrics_file.exists():
            metrics = [Metric(k, v, rec["ts"], rec["step"])
                       for rec in map(json.loads, metrics_file.read_text().splitlines())
                       for k, v in rec["metrics"].items()]
            for i in range(0, len(metrics), 1000):
                client.log_batch(run_id, metrics=metrics[i:i + 1000], synchronous=True)
        for artifact in sorted((folder / "artifacts").glob("*")):
            client.log_artifact(run_id, str(artifact))
        client.set_terminated(run_id, status=info["status"])
        mapping[f"spool:{folder.name}"] = run_id
        (root / "imported").mkdir(exist_ok=True)
        _write_json(folder / "imported.json", {"mlflow_run_id": run_id})
        shutil.move(str(folder), root / "imported" / folder.name)
    return mapping


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str))
    os.replace(tmp, path)
