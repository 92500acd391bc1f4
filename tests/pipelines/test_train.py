"""``pipelines.train``: the outputs every DVC stage declares exist after a run, even one without a training phase."""
from __future__ import annotations

import dataclasses
import json

from pipelines import train as train_module
from pipelines.registry import load_paper


def test_a_run_that_logs_no_curve_still_writes_its_declared_outputs(tmp_path, monkeypatch):
    """A from-scratch baseline with 0 meta-training iterations logs no learning curve; DVC declares curve.csv for
    every stage, so the pipeline writes it with its header only."""
    monkeypatch.setenv("REPLICA_NO_MLFLOW", "1")
    monkeypatch.setenv("REPLICA_SPOOL_DIR", str(tmp_path / "spool"))
    paper = dataclasses.replace(load_paper("mlsh", "smoke"), dir=tmp_path / "paper")
    monkeypatch.setattr(type(paper), "entry_point", lambda self, group: lambda config, run: {"value": 1.0})
    result = train_module.train(paper, "four_rooms_ppo_scratch", 1)
    out = paper.run_dir("smoke", "four_rooms_ppo_scratch", 1)
    assert (out / "curve.csv").read_text() == "step\n"
    assert json.loads((out / "metrics.json").read_text())["metrics"] == {"value": 1.0} == result["metrics"]
    assert (out / "config.json").exists()
