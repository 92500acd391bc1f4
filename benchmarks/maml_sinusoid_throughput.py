"""Second-order MAML meta-training on sinusoid regression (papers/maml), meta-iterations per second, side by side:

* ``batched``: the project's code, one ``torch.func.vmap`` over the meta-batch of ``torch.func.grad`` inner steps
  (papers/maml/sinusoid_experiment.py:batched_query_losses) and one Adam step;
* ``per_task_loop``: the naive reference, a Python loop over the tasks with ``torch.autograd.grad(create_graph=True)``
  for each inner step, the same Adam step.

Both run the paper's settings (meta-batch 25, K = 10, one inner step, alpha = 0.01, the 40-40 MLP) on the same task
batches; the first iterations are warm-up. learn2learn is not compared: it needs torchvision, which has no CPU wheel
in this environment (installing it pulls the CUDA build of torch).

    .venv/bin/python benchmarks/maml_sinusoid_throughput.py --iterations 2000

Writes benchmarks/results/maml_sinusoid_throughput.<device>.json. Use otherwise idle cores for a clean number.
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from papers.maml.sinusoid import init_mlp, mlp, mse
from papers.maml.sinusoid_experiment import batched_query_losses, make_tasks
from pipelines.registry import load_paper

RESULTS = Path(__file__).resolve().parent / "results"


def loop_objective(params, x, y, shots, alpha, steps):
    """Eq. (1)-(2) one task at a time with plain autograd (second order through create_graph)."""
    total = 0.0
    for xi, yi in zip(x, y):
        fast = dict(params)
        for _ in range(steps):
            grads = torch.autograd.grad(mse(mlp(fast, xi[:shots]), yi[:shots]), list(fast.values()),
                                        create_graph=True)
            fast = {k: v - alpha * g for (k, v), g in zip(fast.items(), grads)}
        total = total + mse(mlp(fast, xi[shots:]), yi[shots:])
    return total / len(x)


def measure(kind: str, hp: dict, iterations: int, warmup: int, device: torch.device) -> dict[str, float]:
    tasks = make_tasks(hp)
    rng = np.random.default_rng(0)
    batches = [tasks.sample(rng, hp["meta_batch_size"], 2 * hp["shots"]) for _ in range(iterations + warmup)]
    params = {k: v.to(device).requires_grad_() for k, v in
              init_mlp([1, *hp["hidden_sizes"], 1], hp["init_std"], torch.Generator().manual_seed(0)).items()}
    optimiser = torch.optim.Adam(params.values(), lr=hp["meta_learning_rate"])
    inner = [hp["inner_step_size"]] * hp["inner_steps"]
    start = 0.0
    for i, batch in enumerate(batches):
        if i == warmup:
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
        x, y = batch["x"].to(device), batch["y"].to(device)
        if kind == "batched":
            loss = batched_query_losses(params, x, y, hp["shots"], inner)[:, -1].mean()
        else:
            loss = loop_objective(params, x, y, hp["shots"], hp["inner_step_size"], hp["inner_steps"])
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    return {"iterations": iterations, "seconds": seconds, "iterations_per_second": iterations / seconds,
            "final_loss": float(loss)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1, as the DVC stages)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    hp = load_paper("maml").params.experiment("sinusoid_maml").hyperparameters
    results = {kind: measure(kind, hp, args.iterations, args.warmup, device) for kind in ("batched", "per_task_loop")}
    results["speedup_batched_over_loop"] = (results["batched"]["iterations_per_second"]
                                           / results["per_task_loop"]["iterations_per_second"])
    results["paper_run_minutes_batched"] = 70000 / results["batched"]["iterations_per_second"] / 60
    results["setup"] = {"device": str(device), "threads": args.threads, "torch": torch.__version__,
                        "cpu": platform.processor() or platform.machine(), "meta_batch": hp["meta_batch_size"]}
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"maml_sinusoid_throughput.{device.type}.json"
    out.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
