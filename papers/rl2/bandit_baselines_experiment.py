"""Entry point of the Table 1 baselines (Bernoulli bandits), tuned by the protocol of ``baseline_tuning``."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from papers.rl2 import bandit_baselines as bb
from papers.rl2.baseline_tuning import Tuner
from papers.rl2 import gittins
from shared.params import ExperimentConfig
from shared.run import Run

def cache_dir() -> Path:
    """Where computed Gittins tables are kept: ``$REPLICA_CACHE`` or ~/.cache/replica (outside the repository, so
    DVC's temporary copies and every checkout share them)."""
    return Path(os.environ.get("REPLICA_CACHE", Path.home() / ".cache" / "replica"))


def cached_gittins_table(pulls: int, grid: int, discount: float) -> np.ndarray:
    """``gittins.gittins_table``, memoised on disk under a name that includes the hash of gittins.py."""
    code = hashlib.sha256(Path(gittins.__file__).read_bytes()).hexdigest()[:12]
    path = cache_dir() / f"gittins_pulls{pulls}_grid{grid}_discount{discount}_{code}.npy"
    if path.exists():
        return np.load(path)
    table = gittins.gittins_table(pulls, grid, discount)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp.npy")
    np.save(tmp, table)
    tmp.replace(path)
    return table


def evaluate_bandit_baselines(config: ExperimentConfig, run: Run) -> dict[str, float]:
    hp, budget = config.hyperparameters, config.budget
    k, n, instances = hp["n_arms"], hp["n_episodes"], budget["instances"]
    task_seed = int(run.rng.integers(2**31 - 1))  # the tasks and reward draws every baseline plays
    policy_seeds = iter(run.rng.integers(2**31 - 1, size=10_000))

    def play(policy: bb.Policy) -> np.ndarray:
        return bb.play(policy, k, n, instances, task_seed, int(next(policy_seeds)))

    tuner = Tuner(run, play, n * instances)
    tuner.evaluate("random", {None: bb.random_policy})
    table = cached_gittins_table(hp["gittins_table_pulls"], hp["gittins_grid"], hp["gittins_table_discount"])
    # "the best-performing approximation for each setup" (§3.1): variant 0 the closed form, 1 the table
    tuner.evaluate("gittins", {0: bb.gittins_closed_form(hp["gittins_closed_form_discount"]),
                               1: bb.gittins_table_policy(table, hp["gittins_table_lookup_offset"])}, "variant")
    tuner.evaluate("ts", {None: bb.thompson_sampling})
    tuner.evaluate("ots", {s: bb.optimistic_thompson(s) for s in hp["ots_samples_grid"]}, "samples")
    tuner.evaluate("ucb1", {c: bb.ucb1(c) for c in hp["ucb1_c_grid"]}, "c")
    tuner.evaluate("epsilon_greedy", {e: bb.epsilon_greedy(e) for e in hp["epsilon_grid"]}, "epsilon")
    tuner.evaluate("greedy", {0.0: bb.epsilon_greedy(0.0)})
    tuner.bar.close()
    return {**tuner.metrics, "instances": instances}
