"""Entry point of sinusoid regression (§5.1, Fig. 2-3, App. C Table 2): MAML and the "pretrained on all tasks"
baseline, both trained with Adam on meta-batches of tasks, then evaluated by fine-tuning on K points of new tasks.

* ``method: maml``: each iteration draws a meta-batch of tasks with 2K points, K for the inner update (eq. 1) and K
  for the meta-objective (eq. 2), which is the mean over tasks of the query MSE after the inner steps; second order
  unless ``first_order``.
* ``method: pretrain``: the same batches, the MSE of the shared parameters on the K support points (the authors'
  ``pretrain_op``: Adam on total_loss1); at test time it is fine-tuned "using an automatically tuned step size"
  (§5.1): the step size of the grid with the lowest mean MSE over steps 1..S on separate validation tasks.

Evaluation follows the authors' test(): per K, fresh tasks with 2K points, the first K to fine-tune (the same K
points at every step), the other K to measure the MSE after 0..S steps. Tasks whose MSE is not finite are counted
as diverged and left out of the mean (the count is reported beside it).
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import torch
from torch.func import vmap

from papers.maml.inner_loop import Params, adapt
from papers.maml.sinusoid import SinusoidTasks, init_mlp, mlp, mse
from shared.params import ExperimentConfig
from shared.run import Run

LOG_EVERY = 100  # iterations between learning-curve points (the authors' SUMMARY_INTERVAL)


def make_tasks(hp: dict[str, Any]) -> SinusoidTasks:
    return SinusoidTasks(tuple(hp["amplitude_range"]), tuple(hp["phase_range"]), tuple(hp["input_range"]))


def query_losses(params: Params, x: torch.Tensor, y: torch.Tensor, shots: int, step_sizes: Sequence[float],
                 first_order: bool = False) -> torch.Tensor:
    """One task: the query MSE before and after each inner step, shape (len(step_sizes) + 1,). The first ``shots``
    points are the support set, the rest the query set."""
    xs, ys, xq, yq = x[:shots], y[:shots], x[shots:], y[shots:]
    steps = adapt(lambda p: mse(mlp(p, xs), ys), params, step_sizes, first_order)
    return torch.stack([mse(mlp(p, xq), yq) for p in [params, *steps]])


def batched_query_losses(params: Params, x: torch.Tensor, y: torch.Tensor, shots: int,
                         step_sizes: Sequence[float], first_order: bool = False) -> torch.Tensor:
    """``query_losses`` for a batch of tasks at once (torch.func.vmap over the task axis): (tasks, steps + 1)."""
    fn = lambda p, xi, yi: query_losses(p, xi, yi, shots, step_sizes, first_order)  # noqa: E731
    return vmap(fn, in_dims=(None, 0, 0))(params, x, y)


def finetune_mse(params: Params, tasks: SinusoidTasks, rng: np.random.Generator, n_tasks: int, shots: int,
                 step_size: float, steps: int, chunk: int = 100) -> np.ndarray:
    """Query MSE of ``n_tasks`` fresh tasks after 0..steps fine-tuning steps: (n_tasks, steps + 1), float64."""
    frozen = {k: v.detach() for k, v in params.items()}
    out = []
    for start in range(0, n_tasks, chunk):
        batch = tasks.sample(rng, min(chunk, n_tasks - start), 2 * shots)
        out.append(batched_query_losses(frozen, batch["x"], batch["y"], shots, [step_size] * steps).detach())
    return torch.cat(out).double().numpy()


def summarise(losses: np.ndarray, prefix: str) -> dict[str, float]:
    """Per step j: the mean MSE over finite tasks, its 95 % interval half-width over tasks (1.96 sd / sqrt(n), as
    the authors' test()) and the number of diverged tasks."""
    metrics: dict[str, float] = {}
    for j in range(losses.shape[1]):
        finite = losses[np.isfinite(losses[:, j]), j]
        metrics[f"{prefix}_step{j}"] = float(finite.mean()) if finite.size else float("nan")
        metrics[f"{prefix}_step{j}_ci95"] = float(1.96 * finite.std() / math.sqrt(max(finite.size, 1)))
        metrics[f"{prefix}_step{j}_diverged"] = int(losses.shape[0] - finite.size)
    return metrics


def train_sinusoid(config: ExperimentConfig, run: Run) -> dict[str, float]:
    hp, budget = config.hyperparameters, config.budget
    tasks = make_tasks(hp)
    shots, meta_batch = hp["shots"], hp["meta_batch_size"]
    torch_gen = torch.Generator().manual_seed(int(run.rng.integers(2**31 - 1)))
    params = {k: v.requires_grad_() for k, v in
              init_mlp([1, *hp["hidden_sizes"], 1], hp["init_std"], torch_gen).items()}
    optimiser = torch.optim.Adam(params.values(), lr=hp["meta_learning_rate"])
    iteration, window = 0, []  # window: (pre, post) losses of the iterations since the last curve point
    state = run.restore()
    if state is not None:
        with torch.no_grad():
            for k, v in state["params"].items():
                params[k].copy_(v)
        optimiser.load_state_dict(state["optimiser"])
        iteration, window = state["iteration"], state["window"]
    iterations = budget["iterations"]
    bar = run.progress(total=iterations, initial=iteration)
    while iteration < iterations:
        batch = tasks.sample(run.rng, meta_batch, 2 * shots)
        if hp["method"] == "maml":
            inner = [hp["inner_step_size"]] * hp["inner_steps"]
            losses = batched_query_losses(params, batch["x"], batch["y"], shots, inner, hp["first_order"])
            objective = losses[:, -1].mean()  # eq. (2): sum over tasks / meta-batch (total_losses2)
        else:
            support = vmap(lambda xi, yi: mse(mlp(params, xi), yi))(batch["x"][:, :shots], batch["y"][:, :shots])
            losses = support[:, None]
            objective = support.mean()  # total_loss1
        optimiser.zero_grad(set_to_none=True)
        objective.backward()
        optimiser.step()
        iteration += 1
        window.append((float(losses[:, 0].detach().mean()), float(losses[:, -1].detach().mean())))
        if iteration % LOG_EVERY == 0 or iteration == iterations:
            pre, post = np.mean(window, axis=0)
            run.log(iteration, iteration=iteration, pre_update_loss=pre, post_update_loss=post)
            bar.set_postfix(pre=f"{pre:.3f}", post=f"{post:.3f}")
            window = []
        bar.update(1)
        if iteration < iterations and run.checkpoint_due():
            run.save_checkpoint({"params": {k: v.detach().clone() for k, v in params.items()},
                                 "optimiser": optimiser.state_dict(), "iteration": iteration,
                                 "window": list(window)}, iteration)
    bar.close()
    return {**evaluate(params, tasks, hp, budget, run.rng), "iterations": iteration}


def evaluate(params: Params, tasks: SinusoidTasks, hp: dict[str, Any], budget: dict[str, Any],
             rng: np.random.Generator) -> dict[str, float]:
    """The test protocol of the module docstring for every K of ``evaluation_shots``."""
    metrics: dict[str, float] = {}
    steps, n_tasks = hp["evaluation_steps"], budget["evaluation_tasks"]
    for shots in hp["evaluation_shots"]:
        if hp["method"] == "maml":
            step_size = hp["inner_step_size"]
        else:
            scores = {}
            for candidate in hp["finetune_step_size_grid"]:
                val = finetune_mse(params, tasks, rng, budget["validation_tasks"], shots, candidate, steps)
                with np.errstate(invalid="ignore"):
                    scores[candidate] = float(np.nanmean(np.where(np.isfinite(val[:, 1:]), val[:, 1:], np.nan)))
            step_size = min(scores, key=lambda c: (not math.isfinite(scores[c]), scores[c]))
            metrics[f"k{shots}_step_size"] = step_size
        losses = finetune_mse(params, tasks, rng, n_tasks, shots, step_size, steps)
        metrics.update(summarise(losses, f"mse_k{shots}"))
    return metrics
