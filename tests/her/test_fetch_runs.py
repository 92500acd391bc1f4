"""Whole Fetch runs: App. A's per-worker schedule, a smoke run of every registered Fetch experiment, and a killed run
that resumes to exactly the uninterrupted result."""
from __future__ import annotations

import dataclasses
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from papers.her import fetch_experiment
from papers.her.fetch_experiment import EPISODE_STEPS, FetchDDPG, train_fetch
from pipelines.registry import load_paper
from shared.run import Run
from tests.helpers import PYTHON, kill_when, set_yaml_line

FETCH = [name for name in load_paper("her").params.experiments if name.startswith("fetch")]


def _config(name: str, **budget):
    """The smoke config with a replay capacity of 20,000 transitions per worker instead of 10^6: these runs store
    at most a few thousand, and eight full-size stores per run take gigabytes of memory in the test process."""
    cfg = load_paper("her", "smoke").params.experiment(name)
    return dataclasses.replace(cfg, budget={**cfg.budget, **budget},
                               hyperparameters={**cfg.hyperparameters, "buffer_size": 20_000})


class Spy:
    """Counts what one training run does, per epoch."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.agents: list[FetchDDPG] = []
        self.episodes: list[int] = []
        self.optimise_calls = 0
        self.target_updates = 0
        spy = self
        real_init, real_store, real_opt = FetchDDPG.__init__, FetchDDPG.store, FetchDDPG.optimise

        def init(agent, *args, **kwargs):
            real_init(agent, *args, **kwargs)
            spy.agents.append(agent)
            real_update = agent.ddpg.update_targets

            def update_targets(polyak):
                spy.target_updates += 1
                real_update(polyak)
            agent.ddpg.update_targets = update_targets

        def store(agent, episodes):
            spy.episodes.append(len(episodes["goals"]))
            real_store(agent, episodes)

        def optimise(agent):
            spy.optimise_calls += 1
            return real_opt(agent)

        monkeypatch.setattr(FetchDDPG, "__init__", init)
        monkeypatch.setattr(FetchDDPG, "store", store)
        monkeypatch.setattr(FetchDDPG, "optimise", optimise)


def test_per_worker_schedule_counts(monkeypatch, tmp_path):
    """App. A: per cycle 16 episodes (2 per worker, each into its own buffer) then 40 updates of every worker on 128
    samples each; the target networks once per cycle; tests after every epoch."""
    spy = Spy(monkeypatch)
    sampled = []
    real_sample = fetch_experiment.HindsightStore.sample
    monkeypatch.setattr(fetch_experiment.HindsightStore, "sample",
                        lambda self, n, rng: sampled.append(n) or real_sample(self, n, rng))
    cfg = _config("fetch_push_her_future_k4", epochs=2, cycles_per_epoch=3, test_episodes=4, final_test_episodes=4)
    run = Run(cfg, 1, tmp_path / "out", tmp_path / "ckpt", show_progress=False)
    metrics = train_fetch(cfg, run)
    agent = spy.agents[0]
    assert spy.episodes == [16] * 6  # 2 epochs x 3 cycles x 16 episodes
    assert spy.optimise_calls == 6 * 40 and spy.target_updates == 6
    assert sampled == [128] * (6 * 40 * 8)  # every update: each of the 8 workers draws its own 128
    # each worker stored its own 2 episodes per cycle: 6 cycles x 2 x 50 transitions x (1 + k=4) copies
    assert [b.size for b in agent.buffers] == [6 * 2 * EPISODE_STEPS * 5] * 8
    assert metrics["env_steps"] == 6 * 16 * EPISODE_STEPS and metrics["epochs"] == 2
    assert [row["epoch"] for row in run.curve] == [1.0, 2.0]
    assert [row["step"] for row in run.curve] == [3 * 800, 6 * 800]


def _copies_per_transition(hp: dict) -> float:
    if hp["her_strategy"] == "none":
        return 1
    if hp["her_strategy"] == "final":
        return 2
    if hp["her_all_goals"]:
        return 1 + (EPISODE_STEPS + 1) / 2 if hp["her_strategy"] == "future" else EPISODE_STEPS + 2
    return 1 + hp["her_k"]


@pytest.mark.parametrize("name", FETCH)
def test_smoke_run_of_every_fetch_experiment(name, monkeypatch, tmp_path):
    """Each registered experiment, with its real hyperparameters (but the replay capacity), for one cycle (budget shrunk further than the smoke
    profile: 2 test episodes), stores what its strategy prescribes and reports rates in [0, 1]."""
    spy = Spy(monkeypatch)
    cfg = _config(name, epochs=1, cycles_per_epoch=1, test_episodes=2, final_test_episodes=2)
    metrics = train_fetch(cfg, Run(cfg, 1, tmp_path / "out", tmp_path / "ckpt", show_progress=False))
    agent, hp = spy.agents[0], cfg.hyperparameters
    assert metrics["env_steps"] == 16 * EPISODE_STEPS and spy.optimise_calls == 40
    for key in ("final_test_success_rate", "best_test_success_rate", "mean_test_success_rate"):
        assert 0.0 <= metrics[key] <= 1.0
    assert [b.size for b in agent.buffers] == [2 * EPISODE_STEPS * _copies_per_transition(hp)] * 8
    rewards = np.concatenate([b.items.data["reward"][:b.size] for b in agent.buffers])
    if hp["reward"] == "sparse" and hp["exploration_bonus"] == "none":
        assert set(np.unique(rewards)) <= {-1.0, 0.0}
    elif hp["reward"] == "shaped":
        assert np.all(rewards <= 0) and len(np.unique(rewards)) > 2
    else:  # count bonus: alpha / sqrt(N) added to the binary reward, fractional from the second visit of a cell on
        assert np.any((rewards > -1) & (rewards < 0)) and np.all(rewards <= hp["count_alpha"])
    assert (agent.counts is not None) == (hp["exploration_bonus"] == "count")
    assert agent.clip == pytest.approx((-50.0, 50.0) if hp["exploration_bonus"] == "count" else (-50.0, 0.0))


def _outputs(root: Path, seed: int = 1) -> tuple[dict, str, dict]:
    folder = root / "papers/her/results/smoke/runs/fetch_reach_her_future_k4" / f"seed{seed}"
    full = json.loads((folder / "metrics.json").read_text())
    return full["metrics"], (folder / "curve.csv").read_text(), full


def test_killed_fetch_run_resumes_to_the_same_result(repo_copy, env_for):
    """SIGKILL after a checkpoint (one after every cycle) in epoch 1, restart: the same metrics and curve as an
    uninterrupted run of the same seed; another seed gives another curve."""
    params = repo_copy / "papers/her/params.yaml"
    set_yaml_line(params, r"fetch_reach: \{cycles_per_epoch: 1\}", "fetch_reach: {cycles_per_epoch: 3}")
    set_yaml_line(params, r"^(\s*budget: \{epochs:) 1, test_episodes: 16, final_test_episodes: 32",
                  r"\1 2, test_episodes: 4, final_test_episodes: 4")
    set_yaml_line(params, r"^(\s+)seeds: \[1\]$", r"\1seeds: [1, 2]")  # the smoke profile's seeds
    env = env_for(repo_copy, REPLICA_CHECKPOINT_SECONDS="0")
    cmd = [str(PYTHON), "-m", "pipelines.cli", "train", "her", "fetch_reach_her_future_k4", "--seed", "1",
           "--profile", "smoke"]
    ckpt = repo_copy / "papers/her/checkpoints/smoke/fetch_reach_her_future_k4/seed1/checkpoint.pt"
    kill_when(cmd, repo_copy, env, ckpt.exists)
    resumed = subprocess.run(cmd, cwd=repo_copy, env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    metrics_r, curve_r, full_r = _outputs(repo_copy)
    assert full_r["resumed_from_step"] is not None and 0 < full_r["resumed_from_step"] < metrics_r["env_steps"]
    again = subprocess.run(cmd, cwd=repo_copy, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    metrics_u, curve_u, full_u = _outputs(repo_copy)
    assert full_u["resumed_from_step"] is None
    assert metrics_u == metrics_r and curve_u == curve_r
    assert len(curve_u.splitlines()) == 1 + 2
    other = subprocess.run(cmd[:-3] + ["2", "--profile", "smoke"], cwd=repo_copy, env=env, capture_output=True,
                           text=True, timeout=300)
    assert other.returncode == 0, other.stderr
    assert _outputs(repo_copy, 2)[1] != curve_u
