"""The run context: atomic checkpoints with every RNG state, curve flushing, resume."""
from __future__ import annotations

import csv
import random

import numpy as np
import pytest
import torch

from shared.params import ExperimentConfig
from shared.run import CHECKPOINT_FILE, Run

CONFIG = ExperimentConfig(paper="toy", name="toy_run", paper_experiment="toy", profile="smoke",
                          hyperparameters={"gamma": 0.98}, budget={"epochs": 1})


class ListTracker:
    backend, run_ref = "list", "list:1"

    def __init__(self):
        self.rows = []

    def log_metrics(self, rows):
        self.rows.extend(dict(r) for r in rows)


def make_run(tmp_path, seed=3):
    return Run(CONFIG, seed, tmp_path / "out", tmp_path / "ckpt", checkpoint_seconds=0, show_progress=False)


def draws(run):
    return (run.rng.random(), random.random(), np.random.random(), torch.rand(1).item())


def test_restore_continues_every_rng_and_the_curve(tmp_path):
    run = make_run(tmp_path)
    run.tracker = ListTracker()
    draws(run)
    run.log(10, loss=1.5)
    assert run.checkpoint_due()
    run.save_checkpoint({"w": torch.arange(3)}, 10)
    expected = [draws(run) for _ in range(3)]
    assert (tmp_path / "ckpt" / CHECKPOINT_FILE).exists()
    with open(tmp_path / "out" / "curve.csv") as fh:
        assert list(csv.DictReader(fh)) == [{"step": "10", "loss": "1.5"}]

    resumed = make_run(tmp_path)
    state = resumed.restore()
    assert torch.equal(state["w"], torch.arange(3))
    assert resumed.resumed_from == 10 and resumed.curve == [{"step": 10, "loss": 1.5}]
    assert [draws(resumed) for _ in range(3)] == expected
    with pytest.raises(RuntimeError, match="seed"):
        make_run(tmp_path, seed=4).restore()


def test_no_restore_without_checkpoint_or_after_completion(tmp_path):
    run = make_run(tmp_path)
    assert run.restore() is None and run.resumed_from is None
    run.save_checkpoint({}, 1)
    run.mark_complete({"score": 1.0})
    assert make_run(tmp_path).restore() is None


def test_checkpoint_is_not_due_before_its_interval(tmp_path):
    run = Run(CONFIG, 1, tmp_path / "o", tmp_path / "c", checkpoint_seconds=3600, show_progress=False)
    assert not run.checkpoint_due()


def test_kill_between_checkpoint_and_flush_loses_no_tracked_point(tmp_path, monkeypatch):
    tracker = ListTracker()
    run = make_run(tmp_path)
    run.tracker = tracker
    run.log(10, loss=1.0)

    def killed(self):  # SIGKILL right after the checkpoint file is in place
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(Run, "flush", killed)
        with pytest.raises(KeyboardInterrupt):
            run.save_checkpoint({}, 10)
    resumed = make_run(tmp_path)
    resumed.tracker = tracker  # the resumed run continues the same tracked run
    resumed.restore()
    resumed.log(20, loss=0.5)
    resumed.flush()
    assert [r["step"] for r in resumed.curve] == [10, 20]
    assert sorted(r["step"] for r in tracker.rows) == [10, 20]
