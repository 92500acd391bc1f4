"""Tracking: MLflow unreachable -> spool -> import loses nothing; the normal SQLite path with its tags."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import torch

from shared import tracking
from tests.helpers import git_init, replica, shrink_params

PARAMS = {"hp.gamma": 0.98, "hp.hidden_layers": [256], "budget.epochs": 2, "seed": 1}
TAGS = {"paper": "toy", "experiment": "toy_run", "seed": "1", "profile": "smoke", "device": "cpu"}
ROWS = [{"step": 100 * i, "test_success_rate": i / 10, "loss": 1.0 / (i + 1)} for i in range(1, 13)]


def client_for(uri: str):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def history(client, run_id: str, key: str) -> list[tuple[int, float]]:
    return sorted((m.step, m.value) for m in client.get_metric_history(run_id, key))


@pytest.fixture
def no_server(monkeypatch, tmp_path):
    monkeypatch.delenv("REPLICA_NO_MLFLOW", raising=False)
    monkeypatch.setenv("DVC_ROOT", str(tmp_path / "root"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")  # discard port: nothing listens
    return tmp_path


def test_unreachable_server_spools_quickly_and_import_loses_nothing(no_server, monkeypatch, capsys):
    tmp_path = no_server
    artifact = tmp_path / "curve.csv"
    artifact.write_text("step,loss\n100,0.5\n")
    started = time.monotonic()
    tracker = tracking.start_tracking("replica/toy", "toy_run/seed1/smoke", TAGS, PARAMS)
    assert time.monotonic() - started < 10
    assert tracker.backend == "spool" and tracker.run_ref.startswith("spool:")
    tracker.log_metrics(ROWS[:5])
    tracker.log_metrics(ROWS[5:])
    tracker.log_artifact(artifact)
    tracker.end("FINISHED")
    err = capsys.readouterr().err
    assert err.count("MLflow unavailable") == 1 and "127.0.0.1:9" in err
    folder = tmp_path / "spool" / tracker.run_ref.split(":", 1)[1]
    assert (folder / "run.json").exists() and (folder / "artifacts" / "curve.csv").exists()

    # importing while the server is still unreachable refuses and keeps the spool
    with pytest.raises(ConnectionError):
        tracking.import_spool()
    assert folder.exists()

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mapping = tracking.import_spool()
    assert list(mapping) == [tracker.run_ref]
    client = client_for(uri)
    run = client.get_run(mapping[tracker.run_ref])
    assert run.info.status == "FINISHED" and run.info.run_name == "toy_run/seed1/smoke"
    assert client.get_experiment(run.info.experiment_id).name == "replica/toy"
    assert run.data.params == {k: str(v) for k, v in PARAMS.items()}
    assert {k: run.data.tags[k] for k in TAGS} == TAGS
    assert run.data.tags["replica.spooled"] == folder.name
    for key in ("test_success_rate", "loss"):
        assert history(client, run.info.run_id, key) == sorted((r["step"], r[key]) for r in ROWS)
    assert [a.path for a in client.list_artifacts(run.info.run_id)] == ["curve.csv"]
    local = Path(client.download_artifacts(run.info.run_id, "curve.csv", str(tmp_path / "dl")))
    assert local.read_text() == artifact.read_text()
    # the folder moved to imported/: a second import adds nothing
    assert not folder.exists() and (tmp_path / "spool" / "imported" / folder.name / "imported.json").exists()
    assert tracking.import_spool() == {}
    assert len(history(client, run.info.run_id, "loss")) == len(ROWS)


def test_running_spool_is_not_imported(no_server, monkeypatch):
    tmp_path = no_server
    tracker = tracking.start_tracking("replica/toy", "live", TAGS, PARAMS)
    tracker.log_metrics(ROWS[:2])
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert tracking.import_spool() == {}
    tracker.end("FINISHED")
    assert list(tracking.import_spool()) == [tracker.run_ref]


def test_resume_of_a_spooled_run_appends_to_the_same_folder(no_server):
    tracker = tracking.start_tracking("replica/toy", "r", TAGS, PARAMS)
    tracker.log_metrics(ROWS[:3])
    again = tracking.start_tracking("replica/toy", "r", TAGS, PARAMS, resume=tracker.run_ref)
    assert again.run_ref == tracker.run_ref
    again.log_metrics(ROWS[3:4])
    lines = (no_server / "spool" / tracker.run_ref.split(":", 1)[1] / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [r["step"] for r in ROWS[:4]]


def test_mlflow_failing_mid_run_spools_the_rest_into_the_same_run(monkeypatch, tmp_path):
    monkeypatch.delenv("REPLICA_NO_MLFLOW", raising=False)
    monkeypatch.setenv("DVC_ROOT", str(tmp_path / "root"))
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    tracker = tracking.start_tracking("replica/toy", "mid", TAGS, PARAMS)
    assert tracker.backend == "mlflow"
    run_id = tracker.run_ref
    tracker.log_metrics(ROWS[:4])
    client = tracker.primary.client

    def down(*args, **kwargs):
        raise ConnectionError("server went away")

    with monkeypatch.context() as patch:
        patch.setattr(client, "log_batch", down)
        tracker.log_metrics(ROWS[4:])
        assert tracker.backend == "spool" and tracker.run_ref == run_id
        tracker.end("FINISHED")
    mapping = tracking.import_spool()
    assert list(mapping.values()) == [run_id]
    fresh = client_for(uri)
    assert history(fresh, run_id, "loss") == sorted((r["step"], r["loss"]) for r in ROWS)
    assert fresh.get_run(run_id).info.status == "FINISHED"
    assert len(fresh.search_runs([fresh.get_experiment_by_name("replica/toy").experiment_id])) == 1


def test_training_tracks_to_sqlite_with_tags(repo_copy, env_for, tmp_path):
    shrink_params(repo_copy / "papers/her/params.yaml", cycles=2, steps=2, smoke_epochs=2)
    commit = git_init(repo_copy)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    env = env_for(repo_copy, REPLICA_NO_MLFLOW=None, MLFLOW_TRACKING_URI=uri)
    done = replica(repo_copy, "train", "her", "bitflip_n5_dqn", "--seed", "1", "--profile", "smoke", env=env)
    assert done.returncode == 0, done.stderr
    metrics = json.loads((repo_copy / "papers/her/results/smoke/runs/bitflip_n5_dqn/seed1/metrics.json").read_text())
    assert metrics["tracking_backend"] == "mlflow"
    client = client_for(uri)
    run = client.get_run(metrics["tracking_run"])
    tags = run.data.tags
    assert tags["git.commit"] == commit == metrics["commit"]
    assert tags["git.dirty"] == "False"
    assert tags["profile"] == "smoke" and tags["device"] == "cpu" and tags["experiment"] == "bitflip_n5_dqn"
    assert tags["version.torch"] == torch.__version__
    assert client.get_experiment(run.info.experiment_id).name == "replica/her"
    assert run.data.params["hp.gamma"] == "0.98" and run.data.params["budget.epochs"] == "2"
    assert run.data.params["seed"] == "1" and run.data.params["profile"] == "smoke"
    curve = (repo_copy / "papers/her/results/smoke/runs/bitflip_n5_dqn/seed1/curve.csv").read_text().splitlines()
    assert len(history(client, run.info.run_id, "test_success_rate")) == len(curve) - 1 == 2
    assert sorted(a.path for a in client.list_artifacts(run.info.run_id)) == ["config.json", "curve.csv",
                                                                             "metrics.json"]
    assert run.info.status == "FINISHED"
    # nothing of it went to the real repository's store
    assert not (repo_copy / "mlflow.db").exists()


def test_training_with_unreachable_server_then_replica_import_spool(repo_copy, env_for, tmp_path):
    shrink_params(repo_copy / "papers/her/params.yaml", cycles=2, steps=2, smoke_epochs=2)
    env = env_for(repo_copy, REPLICA_NO_MLFLOW=None, MLFLOW_TRACKING_URI="http://127.0.0.1:9")
    started = time.monotonic()
    done = replica(repo_copy, "train", "her", "bitflip_n5_her", "--seed", "1", "--profile", "smoke", env=env)
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - started < 120
    assert done.stderr.count("MLflow unavailable") == 1
    path = repo_copy / "papers/her/results/smoke/runs/bitflip_n5_her/seed1/metrics.json"
    spooled = json.loads(path.read_text())
    assert spooled["tracking_backend"] == "spool"
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    imported = replica(repo_copy, "import-spool", env={**env, "MLFLOW_TRACKING_URI": uri})
    assert imported.returncode == 0, imported.stderr
    assert "imported 1 spooled run(s)" in imported.stdout and "updated 1 results file(s)" in imported.stdout
    after = json.loads(path.read_text())
    assert after["tracking_backend"] == "mlflow" and after["spooled_as"] == spooled["tracking_run"]
    client = client_for(uri)
    run = client.get_run(after["tracking_run"])
    assert run.data.tags["profile"] == "smoke" and "version.torch" in run.data.tags
    assert len(history(client, run.info.run_id, "test_success_rate")) == 2
    assert sorted(a.path for a in client.list_artifacts(run.info.run_id)) == ["config.json", "curve.csv",
                                                                             "metrics.json"]
