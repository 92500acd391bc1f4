"""Throughput of the RL² GRU agent (papers/rl2) at the paper's settings: environment steps per second of a whole
iteration (rollout + baseline fit + policy update), and where the time goes (task env, policy forward during the
rollout, value-baseline fit, policy epochs + line search). Runs on CPU, and on CUDA when available.

    .venv/bin/python benchmarks/rl2_gru_throughput.py                  # bandits n = 10, k = 5, 2 iterations
    .venv/bin/python benchmarks/rl2_gru_throughput.py --experiment mdp_n10_rl2 --iterations 1

Writes benchmarks/results/rl2_gru_throughput.<device>.json. Use the cores otherwise idle for a clean number.
"""
from __future__ import annotations

import argparse
import json
import math
import platform
import time
from pathlib import Path

import numpy as np
import torch

from papers.rl2 import first_order_trpo, rl2_experiment
from pipelines.registry import load_paper
from shared.tasks.trials import TrialVecEnv

RESULTS = Path(__file__).resolve().parent / "results"


class Timer:
    def __init__(self) -> None:
        self.total: dict[str, float] = {}

    def wrap(self, name: str, fn):
        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.total[name] = self.total.get(name, 0.0) + time.perf_counter() - start
        return timed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--experiment", default="bandit_n10_k5_rl2")
    parser.add_argument("--iterations", type=int, default=2)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1, as the DVC stages)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    hp = load_paper("rl2").params.experiment(args.experiment).hyperparameters
    family = rl2_experiment.make_family(hp)
    trial = hp["n_episodes"] * family.horizon
    env = TrialVecEnv(family, hp["n_episodes"], max(1, math.ceil(hp["batch_steps"] / trial)))
    agent = rl2_experiment.RL2Agent(hp, env.obs_dim, family.n_actions, device)

    timer = Timer()
    env.step = timer.wrap("env_step", env.step)  # the numpy task env inside the rollout
    agent.baseline.fit = timer.wrap("baseline_fit", agent.baseline.fit)
    agent.baseline.predict = timer.wrap("baseline_predict", agent.baseline.predict)
    rl2_experiment.optimise_policy = timer.wrap("policy_update", first_order_trpo.optimise_policy)
    rollout = timer.wrap("rollout", rl2_experiment.rollout)

    rows = []
    for i in range(args.iterations):
        timer.total.clear()
        start = time.perf_counter()
        batch = rollout(agent.policy, env, i, agent.include_prev_action, device)
        agent.update(batch)
        if device.type == "cuda":
            torch.cuda.synchronize()
        wall = time.perf_counter() - start
        steps = env.num_envs * trial
        t = dict(timer.total)
        rows.append({"iteration": i + 1, "wall_s": wall, "env_steps": steps, "steps_per_s": steps / wall,
                     "env_s": t["env_step"], "policy_rollout_s": t["rollout"] - t["env_step"],
                     "baseline_s": t["baseline_fit"] + t["baseline_predict"], "policy_update_s": t["policy_update"],
                     "average_return": float(batch["rewards"].sum(1).mean())})
        print({k: round(v, 3) if isinstance(v, float) else v for k, v in rows[-1].items()}, flush=True)
    mean = {k: float(np.mean([r[k] for r in rows])) for k in rows[0] if k != "iteration"}
    summary = {"experiment": args.experiment, "device": str(device), "threads": args.threads,
               "torch": torch.__version__, "machine": platform.processor() or platform.machine(),
               "cpu_count": __import__("os").cpu_count(), "iterations": rows, "mean": mean,
               "share": {k: mean[k] / mean["wall_s"] for k in ("env_s", "policy_rollout_s", "baseline_s",
                                                                "policy_update_s")}}
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"rl2_gru_throughput.{args.experiment}.{device.type}.json"
    out.write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary["share"], indent=2), f"\n{mean['steps_per_s']:.0f} steps/s -> {out}")


if __name__ == "__main__":
    main()
