"""Same seed on CPU -> identical metrics and curve; a run killed at a checkpoint and restarted ends identically."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.helpers import PYTHON, kill_when, replica, set_yaml_line, shrink_params

RUN = Path("papers/her/results/smoke/runs")
CKPT = Path("papers/her/checkpoints/smoke")


def outputs(root: Path, experiment: str, seed: int = 1) -> tuple[dict, str, dict]:
    folder = root / RUN / experiment / f"seed{seed}"
    metrics = json.loads((folder / "metrics.json").read_text())
    return metrics["metrics"], (folder / "curve.csv").read_text(), metrics


def test_same_seed_gives_identical_metrics_and_curve(repo_copy, env_for):
    """The real smoke profile (1 epoch of 50 cycles x 40 updates of 8 workers), twice; a different seed differs."""
    env = env_for(repo_copy)
    args = ("train", "her", "bitflip_n5_her", "--seed", "1", "--profile", "smoke")
    first = replica(repo_copy, *args, env=env)
    assert first.returncode == 0, first.stderr
    metrics_a, curve_a, full_a = outputs(repo_copy, "bitflip_n5_her")
    assert full_a["resumed_from_step"] is None and full_a["profile"] == "smoke"
    assert metrics_a["env_steps"] == 50 * 16 * 5 and metrics_a["epochs"] == 1
    assert len(curve_a.splitlines()) == 2  # header + one epoch
    second = replica(repo_copy, *args, env=env)  # a finished run forced again starts afresh
    assert second.returncode == 0, second.stderr
    metrics_b, curve_b, full_b = outputs(repo_copy, "bitflip_n5_her")
    assert metrics_b == metrics_a
    assert curve_b == curve_a
    assert full_b["tracking_run"] != full_a["tracking_run"]
    # the comparison can fail: training with another seed gives another curve (its loss at least)
    shrink_params(repo_copy / "papers/her/params.yaml", cycles=3, steps=3, smoke_epochs=1)
    set_yaml_line(repo_copy / "papers/her/params.yaml", r"^(\s+)seeds: \[1\]$", r"\1seeds: [1, 2]")  # smoke seeds
    runs = [replica(repo_copy, "train", "her", "bitflip_n5_her", "--seed", str(s), "--profile", "smoke", env=env)
            for s in (1, 2)]
    assert all(r.returncode == 0 for r in runs), [r.stderr for r in runs]
    assert outputs(repo_copy, "bitflip_n5_her", 1)[1] != outputs(repo_copy, "bitflip_n5_her", 2)[1]


@pytest.mark.parametrize("after_first_epoch", [False, True], ids=["kill-in-epoch-1", "kill-after-epoch-1"])
def test_killed_run_resumes_to_the_same_result(repo_copy, env_for, after_first_epoch):
    """SIGKILL after a checkpoint (one after every cycle), restart with the same command: the same metrics and curve
    as an uninterrupted run, and metrics.json records where it resumed."""
    shrink_params(repo_copy / "papers/her/params.yaml", cycles=6, steps=8, smoke_epochs=3)
    env = env_for(repo_copy, REPLICA_CHECKPOINT_SECONDS="0")
    cmd = [str(PYTHON), "-m", "pipelines.cli", "train", "her", "bitflip_n5_her", "--seed", "1", "--profile", "smoke"]
    ckpt = repo_copy / CKPT / "bitflip_n5_her" / "seed1" / "checkpoint.pt"
    curve = repo_copy / RUN / "bitflip_n5_her" / "seed1" / "curve.csv"
    # curve.csv is first written by the checkpoint after epoch 1 is logged: then the kill lands in epoch 2 or 3
    kill_when(cmd, repo_copy, env, lambda: ckpt.exists() and (curve.exists() or not after_first_epoch))
    assert not (ckpt.parent / "complete.json").exists()

    resumed = subprocess.run(cmd, cwd=repo_copy, env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming bitflip_n5_her seed 1 from step" in resumed.stderr
    metrics_r, curve_r, full_r = outputs(repo_copy, "bitflip_n5_her")
    assert full_r["resumed_from_step"] is not None and 0 < full_r["resumed_from_step"] < metrics_r["env_steps"]
    assert (ckpt.parent / "complete.json").exists()

    again = subprocess.run(cmd, cwd=repo_copy, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    metrics_u, curve_u, full_u = outputs(repo_copy, "bitflip_n5_her")
    assert full_u["resumed_from_step"] is None
    assert metrics_r == metrics_u
    assert curve_r == curve_u
    assert len(curve_u.splitlines()) == 1 + 3


def _tiny(paper, experiment: str, **hp):
    """``paper`` with one experiment shrunk to 2 epochs x 2 cycles x 2 updates and ``hp`` overrides (in memory)."""
    import dataclasses

    cfg = paper.params.experiment(experiment)
    cfg = dataclasses.replace(cfg, budget={**cfg.budget, "epochs": 2, "test_episodes": 8, "final_test_episodes": 8},
                              hyperparameters={**cfg.hyperparameters, "cycles_per_epoch": 2,
                                               "optimization_steps_per_cycle": 2, **hp})
    params = dataclasses.replace(paper.params, experiments={**paper.params.experiments, experiment: cfg})
    return dataclasses.replace(paper, params=params)


def test_changed_config_does_not_resume_an_old_checkpoint(real_paper, tmp_results, monkeypatch):
    from pipelines.train import train
    from shared.run import Run

    monkeypatch.setenv("REPLICA_NO_MLFLOW", "1")
    monkeypatch.setenv("REPLICA_CHECKPOINT_SECONDS", "0")
    saves = []
    real_save = Run.save_checkpoint

    def save_then_die(self, state, step):
        real_save(self, state, step)
        saves.append(step)
        raise KeyboardInterrupt  # killed right after the first checkpoint

    with monkeypatch.context() as patch:
        patch.setattr(Run, "save_checkpoint", save_then_die)
        with pytest.raises(KeyboardInterrupt):
            train(_tiny(real_paper, "bitflip_n5_her"), "bitflip_n5_her", 1)
    assert saves
    changed = _tiny(real_paper, "bitflip_n5_her", learning_rate=0.002)
    metrics = train(changed, "bitflip_n5_her", 1)
    assert metrics["hyperparameters"]["learning_rate"] == 0.002
    assert metrics["resumed_from_step"] is None  # the old checkpoint was trained with another config
