"""A probe of trained Four Rooms sub-policies (§6.3): can *any* fixed sequence of them reach an unseen goal?

Fig. 4's transfer claim rests on the sub-policies being skills a fresh master can combine to reach a new goal. This
probe separates the two halves of that claim: for each held-out goal it plays every one of the K^(T/N) fixed
sequences of sub-policy choices (one choice per macro-step, 4^4 = 256 with K = 4, N = 25, T = 100) for ``episodes``
episodes each, and reports the best sequence's mean return next to the scripted oracle's. A master that learns
well cannot do much better than the best fixed sequence (it sees the cell at each of its 4 decisions, nothing more),
so a best sequence far below the oracle says the sub-policies, not the master, limit the transfer.

It reads a finished run's ``config.json`` and the last checkpoint of its training (the agent is checkpointed during
meta-training; the iteration it holds is reported). Not from the paper: our diagnostic.

    python -m papers.mlsh.subpolicy_probe four_rooms_mlsh --profile paper
"""
from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from papers.mlsh.experiment import make_env, oracle_return, settings
from papers.mlsh.four_rooms import FourRooms
from papers.mlsh.hierarchy import MLSH

PAPER_DIR = Path(__file__).resolve().parent


def fixed_sequences(subpolicies: int, decisions: int) -> np.ndarray:
    """(K^decisions, decisions): every sequence of sub-policy choices, in lexicographic order."""
    return np.array(list(itertools.product(range(subpolicies), repeat=decisions)), dtype=np.int64)


def sequence_returns(agent: MLSH, goal: int, episodes: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(sequences, mean episode return of each) on Four Rooms with ``goal``, the sub-policies acting stochastically
    and each sequence played for ``episodes`` episodes, all in one batch."""
    N, T = agent.s.macro_duration, agent.env.horizon
    seqs = fixed_sequences(agent.s.subpolicies, T // N)
    env = FourRooms(len(seqs) * episodes, T, tuple(agent.env.held_out_goals), agent.env.slip)
    env.set_tasks(np.arange(env.workers), np.full(env.workers, goal))
    choices = np.repeat(seqs, episodes, axis=0)
    obs, total = env.reset(rng), np.zeros(env.workers)
    for t in range(T):
        actions, _ = agent.act(torch.from_numpy(obs), choices[:, t // N])
        obs, reward = env.step(actions, rng)
        total += reward
    return seqs, total.reshape(len(seqs), episodes).mean(axis=1)


def load_agent(run_dir: Path, checkpoint_dir: Path) -> tuple[MLSH, int]:
    """The agent of a run's last training checkpoint and the iteration it holds."""
    config = json.loads((run_dir / "config.json").read_text())
    hp = {k[len("hp."):]: v for k, v in config.items() if k.startswith("hp.")}
    if hp["env"] != "four_rooms" or hp["subpolicies"] < 2:
        raise SystemExit(f"{run_dir}: the probe needs a Four Rooms run with sub-policies (env {hp['env']!r}, "
                         f"K = {hp['subpolicies']})")
    agent = MLSH(make_env(hp), settings(hp))
    state = torch.load(checkpoint_dir / "checkpoint.pt", weights_only=False)["state"]
    agent.load_state_dict(state["agent"])
    return agent, int(state["progress"]["iteration"])


def probe(agent: MLSH, episodes: int, seed: int) -> dict[str, Any]:
    """Per held-out goal: the best fixed sequence, its return, the median over sequences and the oracle's return."""
    rng, T = np.random.default_rng(seed), agent.env.horizon
    torch.manual_seed(seed)  # the sub-policies sample their actions from torch's global generator
    goals = {}
    for goal in agent.env.held_out_goals.tolist():
        seqs, returns = sequence_returns(agent, goal, episodes, rng)
        best = int(returns.argmax())
        goals[str(goal)] = {"best_sequence": seqs[best].tolist(), "best_sequence_return": float(returns[best]),
                            "median_sequence_return": float(np.median(returns)),
                            "oracle_return": oracle_return(  # an environment whose only held-out goal is this one
                                FourRooms(episodes * 10, T, (goal,), agent.env.slip), rng, episodes * 10)}
    return {"goals": goals,
            "mean_best_sequence_return": float(np.mean([g["best_sequence_return"] for g in goals.values()])),
            "mean_oracle_return": float(np.mean([g["oracle_return"] for g in goals.values()]))}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiment")
    parser.add_argument("--profile", default="paper")
    parser.add_argument("--episodes", type=int, default=20, help="episodes per fixed sequence")
    parser.add_argument("--seed", type=int, default=0, help="seed of the probe's own randomness")
    args = parser.parse_args(argv)
    runs = PAPER_DIR / "results" / args.profile / "runs" / args.experiment
    seeds = sorted(int(p.name[len("seed"):]) for p in runs.glob("seed*") if (p / "metrics.json").exists())
    if not seeds:
        raise SystemExit(f"no finished run of {args.experiment} under {runs}")
    out: dict[str, Any] = {"experiment": args.experiment, "episodes_per_sequence": args.episodes,
                           "probe_seed": args.seed, "seeds": {}}
    for s in seeds:
        run_dir = runs / f"seed{s}"
        checkpoint_dir = PAPER_DIR / "checkpoints" / args.profile / args.experiment / f"seed{s}"
        if not (checkpoint_dir / "checkpoint.pt").exists():  # a run too short to checkpoint (the smoke profile)
            out["seeds"][str(s)] = {"checkpoint_iteration": None}
            print(f"seed {s}: no training checkpoint in {checkpoint_dir}, not probed")
            continue
        agent, iteration = load_agent(run_dir, checkpoint_dir)
        result = probe(agent, args.episodes, args.seed)
        out["seeds"][str(s)] = {"checkpoint_iteration": iteration,
                                "tracking_run": json.loads((run_dir / "metrics.json").read_text())["tracking_run"],
                                **result}
        print(f"seed {s} (iteration {iteration}): best fixed sequence {result['mean_best_sequence_return']:.2f} "
              f"vs oracle {result['mean_oracle_return']:.2f} (mean over held-out goals)")
    target = PAPER_DIR / "results" / args.profile / "analysis" / f"{args.experiment}_subpolicy_probe.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {target.relative_to(PAPER_DIR.parent.parent)}")


if __name__ == "__main__":
    main()
