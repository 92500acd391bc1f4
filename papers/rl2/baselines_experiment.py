"""Entry points of the hand-designed baselines of Tables 1 (bandits) and 2 (random tabular MDPs).

The paper's protocol (§3.1-3.2; the authors' evaluate_bandits.py / evaluate_pacmdp.py): every baseline plays the
same ``instances`` tasks (1000 in the paper); a baseline with a hyperparameter is run with each value of its grid on
those same tasks and the best mean is reported (tuned on the evaluation set, as the authors did). One run of ours
is one such evaluation on its own 1000 tasks; the seeds give the spread of that whole protocol.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable

import numpy as np

from papers.rl2 import bandit_baselines as bb
from papers.rl2 import mdp_baselines as mb
from papers.rl2.gittins import gittins_table
from shared.params import ExperimentConfig
from shared.run import Run

CACHE = Path(__file__).resolve().parent / "checkpoints" / "cache"  # pure-function memo (gitignored)


def cached_gittins_table(pulls: int, grid: int, discount: float) -> np.ndarray:
    path = CACHE / f"gittins_pulls{pulls}_grid{grid}_discount{discount}.npy"
    if path.exists():
        return np.load(path)
    table = gittins_table(pulls, grid, discount)
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, table)
    tmp.replace(path)
    return table


class Tuner:
    """Runs each baseline's grid on the same tasks, keeps the best mean, and logs every value tried."""

    def __init__(self, run: Run, play: Callable[[Any], np.ndarray], steps_per_play: int) -> None:
        self.run, self.play, self.steps = run, play, steps_per_play
        self.metrics: dict[str, float] = {}
        self.env_steps = 0
        self.bar = run.progress(total=0)

    def evaluate(self, name: str, policies: dict[Any, Any], parameter: str | None = None) -> None:
        best_value, best_totals = None, None
        for value, policy in policies.items():
            totals = self.play(policy)
            self.env_steps += self.steps
            self.bar.update(self.steps)
            point = {f"{name}_mean": float(totals.mean())}
            if parameter is not None:
                point[f"{name}_{parameter}"] = float(value)
            self.run.log(self.env_steps, **point)
            if best_totals is None or totals.mean() > best_totals.mean():  # the first best, as the authors' ">"
                best_value, best_totals = value, totals
        self.metrics[name] = float(best_totals.mean())
        self.metrics[f"{name}_se"] = float(best_totals.std(ddof=1) / math.sqrt(len(best_totals)))
        if parameter is not None:
            self.metrics[f"{name}_best_{parameter}"] = float(best_value)
        self.bar.set_postfix({name: f"{best_totals.mean():.2f}"})


def evaluate_bandit_baselines(config: ExperimentConfig, run: Run) -> dict[str, float]:
    hp, budget = config.hyperparameters, config.budget
    k, n, instances = hp["n_arms"], hp["n_episodes"], budget["instances"]
    task_seed = int(run.rng.integers(2**31 - 1))  # the tasks and reward draws every baseline plays
    policy_seeds = iter(run.rng.integers(2**31 - 1, size=10_000))

    def play(policy: bb.Policy) -> np.ndarray:
        return bb.play(policy, k, n, instances, task_seed, int(next(policy_seeds)))

    tuner = Tuner(run, play, n * instances)
    tuner.evaluate("random", {None: bb.random_policy})
    tables = {d: cached_gittins_table(hp["gittins_table_pulls"], hp["gittins_grid"], d)
              for d in hp["gittins_discounts"]}
    tuner.evaluate("gittins", {d: bb.gittins(t) for d, t in tables.items()}, "discount")
    tuner.evaluate("ts", {None: bb.thompson_sampling})
    tuner.evaluate("ots", {s: bb.optimistic_thompson(s) for s in hp["ots_samples_grid"]}, "samples")
    tuner.evaluate("ucb1", {c: bb.ucb1(c) for c in hp["ucb1_c_grid"]}, "c")
    tuner.evaluate("epsilon_greedy", {e: bb.epsilon_greedy(e) for e in hp["epsilon_grid"]}, "epsilon")
    tuner.evaluate("greedy", {0.0: bb.epsilon_greedy(0.0)})
    tuner.bar.close()
    return {**tuner.metrics, "instances": instances}


def evaluate_mdp_baselines(config: ExperimentConfig, run: Run) -> dict[str, float]:
    hp, budget = config.hyperparameters, config.budget
    n, horizon, instances = hp["n_episodes"], hp["episode_horizon"], budget["instances"]
    task_seed = int(run.rng.integers(2**31 - 1))  # the MDPs and reward/transition draws every baseline plays
    policy_seeds = iter(run.rng.integers(2**31 - 1, size=10_000))

    def play(agent: mb.Agent) -> np.ndarray:
        return mb.play(agent, n, instances, task_seed, int(next(policy_seeds)), hp["n_states"], hp["n_actions"],
                       horizon)

    tuner = Tuner(run, play, n * horizon * instances)
    tuner.evaluate("random", {1.0: mb.epsilon_greedy(horizon, 1.0)})
    tuner.evaluate("psrl", {None: mb.psrl(horizon)})
    tuner.evaluate("opsrl", {s: mb.optimistic_psrl(horizon, s) for s in hp["opsrl_samples_grid"]}, "samples")
    tuner.evaluate("ucrl2", {c: mb.ucrl2(horizon, c, hp["ucrl2_delta"]) for c in hp["ucrl2_scaling_grid"]}, "scaling")
    tuner.evaluate("beb", {c: mb.beb(horizon, c) for c in hp["beb_scaling_grid"]}, "scaling")
    tuner.evaluate("epsilon_greedy", {e: mb.epsilon_greedy(horizon, e) for e in hp["epsilon_grid"]}, "epsilon")
    tuner.evaluate("greedy", {0.0: mb.epsilon_greedy(horizon, 0.0)})
    tuner.bar.close()
    return {**tuner.metrics, "instances": instances}
