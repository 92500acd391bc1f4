"""The run context handed to every experiment entry point: ``train(config, run) -> metrics``.

It owns seeding, the device, the learning curve (logged over environment steps), atomic checkpoints with every RNG
state, the progress bar and the tracker. Entry points do no file naming, tracking or argument parsing themselves.
"""
from __future__ import annotations

import csv
import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from shared.params import ExperimentConfig
from shared.tracking import Tracker

CHECKPOINT_FILE = "checkpoint.pt"
COMPLETE_FILE = "complete.json"


def choose_device() -> torch.device:
    """``$REPLICA_DEVICE`` if set, else CUDA when available, else CPU. Never part of a run's identity."""
    name = os.environ.get("REPLICA_DEVICE") or ("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def seed_everything(seed: int) -> np.random.Generator:
    """Seed Python, NumPy's legacy global state and torch; return the run's own NumPy generator."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return np.random.default_rng(seed)


def atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class Run:
    """One (experiment, seed) run. Create with ``Run(...)``; the pipeline opens the tracker and finishes it."""

    def __init__(self, config: ExperimentConfig, seed: int, out_dir: Path, ckpt_dir: Path,
                 checkpoint_seconds: float | None = None, show_progress: bool | None = None) -> None:
        self.config, self.seed = config, seed
        self.out_dir, self.ckpt_dir = out_dir, ckpt_dir
        self.device = choose_device()
        self.rng = seed_everything(seed)
        self.curve: list[dict[str, float]] = []
        self._pending: list[dict[str, float]] = []
        self.tracker: Tracker | None = None
        env_seconds = os.environ.get("REPLICA_CHECKPOINT_SECONDS")
        self.checkpoint_seconds = float(checkpoint_seconds if checkpoint_seconds is not None
                                        else env_seconds if env_seconds else 600)
        self._last_checkpoint = time.monotonic()
        self.show_progress = show_progress if show_progress is not None else os.environ.get("REPLICA_PROGRESS") != "0"
        self.resumed_from: int | None = None

    # -- learning curve -------------------------------------------------------------------------------------------
    def log(self, step: int, **metrics: float) -> None:
        """Record one point of the learning curve at ``step`` environment steps."""
        row = {"step": int(step), **{k: float(v) for k, v in metrics.items()}}
        self.curve.append(row)
        self._pending.append({**row, "_ts": int(time.time() * 1000)})  # fixed timestamp: a re-send is a duplicate

    def flush(self) -> None:
        """Write ``curve.csv`` and send pending points to the tracker (done at each checkpoint and at the end)."""
        if self.curve:
            keys = list(dict.fromkeys(k for row in self.curve for k in row))
            tmp = self.out_dir / "curve.csv.tmp"
            self.out_dir.mkdir(parents=True, exist_ok=True)
            with open(tmp, "w", newline="") as fh:
                writer = csv.DictWriter(fh, fieldnames=keys)
                writer.writeheader()
                writer.writerows(self.curve)
            os.replace(tmp, self.out_dir / "curve.csv")
        if self._pending and self.tracker is not None:
            self.tracker.log_metrics(self._pending)
        self._pending = []

    # -- checkpoints ----------------------------------------------------------------------------------------------
    def checkpoint_due(self) -> bool:
        return time.monotonic() - self._last_checkpoint >= self.checkpoint_seconds

    def save_checkpoint(self, state: dict[str, Any], step: int) -> None:
        """Atomically save ``state`` plus every RNG state, the curve and ``step``; then flush the curve.

        The points not yet sent to the tracker go into the checkpoint too: a run killed between the save and the
        flush sends them again after resuming (MLflow drops exact duplicates), so no point is lost."""
        payload = {
            "state": state, "step": int(step), "curve": self.curve, "seed": self.seed, "pending": self._pending,
            "rng": {"numpy": self.rng.bit_generator.state, "python": random.getstate(),
                    "numpy_global": np.random.get_state(), "torch": torch.get_rng_state(),
                    "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None},
        }
        self.ckpt_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.ckpt_dir / (CHECKPOINT_FILE + ".tmp")
        with open(tmp, "wb") as fh:
            torch.save(payload, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.ckpt_dir / CHECKPOINT_FILE)
        self._last_checkpoint = time.monotonic()
        self.flush()

    def restore(self) -> dict[str, Any] | None:
        """The state of the last checkpoint of an unfinished run (RNGs and curve restored), or None."""
        path = self.ckpt_dir / CHECKPOINT_FILE
        if not path.exists() or (self.ckpt_dir / COMPLETE_FILE).exists():
            return None
        payload = torch.load(path, map_location="cpu", weights_only=False)
        if payload["seed"] != self.seed:
            raise RuntimeError(f"{path} belongs to seed {payload['seed']}, not {self.seed}")
        rng = payload["rng"]
        self.rng.bit_generator.state = rng["numpy"]
        random.setstate(rng["python"])
        np.random.set_state(rng["numpy_global"])
        torch.set_rng_state(rng["torch"])
        if rng["cuda"] is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])
        self.curve = list(payload["curve"])
        self._pending = list(payload.get("pending", []))
        self.resumed_from = payload["step"]
        print(f"[run] resuming {self.config.name} seed {self.seed} from step {payload['step']}", file=sys.stderr)
        return payload["state"]

    def mark_complete(self, metrics: dict[str, Any]) -> None:
        atomic_write_text(self.ckpt_dir / COMPLETE_FILE, json.dumps(metrics, indent=2, default=str))

    # -- progress -------------------------------------------------------------------------------------------------
    def progress(self, total: int, initial: int = 0) -> tqdm:
        """A progress bar over environment steps (shows steps/s); update with ``bar.update(n)`` and
        ``bar.set_postfix(ret=...)`` for the latest return."""
        interactive = sys.stderr.isatty()
        return tqdm(total=total, initial=initial, unit="step", unit_scale=True, dynamic_ncols=True,
                    desc=f"{self.config.paper}/{self.config.name}/s{self.seed}", disable=not self.show_progress,
                    mininterval=0.5 if interactive else 30.0, file=sys.stderr)
