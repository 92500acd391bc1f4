"""Entry point of the Table 2 baselines (random tabular MDPs), tuned by the protocol of ``baseline_tuning``."""
from __future__ import annotations

import numpy as np

from papers.rl2 import mdp_baselines as mb
from papers.rl2.baseline_tuning import Tuner
from shared.params import ExperimentConfig
from shared.run import Run


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
