"""Entry point of few-shot classification (§5.2, Table 1): MAML on Omniglot and MiniImagenet N-way K-shot tasks.

Meta-training (Algorithm 2): each iteration draws a meta-batch of tasks from the training classes, K support and
``query_train`` query images per class; ``inner_steps_train`` steps of eq. (1) with step size alpha on the support
loss adapt every parameter but the batch-norm offsets; the meta-objective of eq. (2) is the query loss after the
last step summed over tasks and divided by the meta-batch size (the authors' total_losses2), minimised by Adam
through the inner steps (second order unless ``first_order``), its gradient clipped elementwise to
[-meta_grad_clip, meta_grad_clip] when set (the authors' MiniImagenet setting). Losses are the authors' xent:
per-example cross-entropy / K, summed (``fewshot_nets.xent``).

Evaluation, the authors' test(): ``evaluation_tasks`` fresh tasks from the test classes with K support and
``query_test`` (K in the authors' code) query images per class, ``evaluation_steps`` steps of size alpha (10 in
the authors' test), batch norm on the statistics of the batch at hand (transductive), and the query accuracy in
percent after each step j, averaged over tasks with the 95 % half-width 1.96 std / sqrt(tasks) (np.std, ddof 0).
``accuracy_step0`` is the query accuracy before adaptation (the authors' first csv column is the support accuracy
before adaptation). ``accuracy`` is the accuracy after ``inner_steps_test`` steps, the paper's test setting (App.
A.1); the validation accuracy of the learning curve is taken at that step too.

The learning curve logs, every 100 iterations (the authors' SUMMARY_INTERVAL), the mean over those iterations of
the support loss and accuracy before adaptation and the query loss and accuracy after it (the authors' "Pre-update"
and "Post-update" summaries) and, with a ``validation_tasks`` budget, the accuracy on that many validation tasks.
The data live in ``$REPLICA_DATA`` (default ``<repo>/data``): ``omniglot/`` and ``miniimagenet/``.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch.func import vmap

from papers.maml.fewshot_nets import Conv4, FullyConnected, accuracy, inner_names, make_network, xent
from papers.maml.inner_loop import Params, adapt
from shared.fewshot.episodes import ImageClasses, TaskBatch, sample_tasks
from shared.fewshot.miniimagenet import load_miniimagenet
from shared.fewshot.omniglot import QUARTER_TURNS, load_omniglot, split_characters
from shared.params import ExperimentConfig
from shared.repo import repo_root
from shared.run import Run

LOG_EVERY = 100  # iterations between learning-curve points (the authors' SUMMARY_INTERVAL)
FETCH_COMMANDS = {"omniglot": "dvc repro papers/maml/dvc.yaml:fetch_omniglot",
                  "miniimagenet": "dvc repro papers/maml/dvc.yaml:fetch_miniimagenet"}
Network = Conv4 | FullyConnected


def data_root() -> Path:
    """``$REPLICA_DATA``, else ``data/`` in the repository root."""
    return Path(os.environ.get("REPLICA_DATA") or repo_root() / "data")


def load_splits(hp: dict[str, Any]) -> tuple[dict[str, ImageClasses], tuple[int, ...]]:
    """The train/val/test classes of ``hp["dataset"]`` and the quarter turns a task may rotate a class by."""
    dataset = hp["dataset"]
    if dataset == "omniglot":
        characters = load_omniglot(data_root() / "omniglot", FETCH_COMMANDS["omniglot"])
        splits = split_characters(characters, hp["omniglot_train_characters"], hp["omniglot_validation_characters"],
                                  hp["omniglot_split_seed"])
        turns = tuple(QUARTER_TURNS) if hp["omniglot_rotations"] else (0,)
        return splits, turns
    if dataset == "miniimagenet":
        return load_miniimagenet(data_root() / "miniimagenet", FETCH_COMMANDS["miniimagenet"]), (0,)
    raise ValueError(f"unknown dataset {dataset!r} (known: omniglot, miniimagenet)")


def network_for(hp: dict[str, Any], classes: ImageClasses) -> Network:
    _, _, height, _, channels = classes.images.shape
    conv = hp["network"] == "conv4"
    return make_network(hp["network"], channels, height, hp["n_way"],
                        num_filters=hp["num_filters"] if conv else None, max_pool=bool(conv and hp["max_pool"]),
                        hidden=() if conv else hp["hidden_sizes"], bn_epsilon=hp["batch_norm_epsilon"])


def meta_batch_outcomes(net: Network, params: Params, batch: TaskBatch, k_shot: int, step_sizes: Sequence[float],
                        first_order: bool) -> tuple[torch.Tensor, ...]:
    """Per task (vmapped over the meta-batch): the query loss and accuracy after the inner steps, and the support
    loss and accuracy before them; each of shape (tasks,)."""
    names = inner_names(params)

    def one_task(sx: torch.Tensor, sy: torch.Tensor, qx: torch.Tensor, qy: torch.Tensor) -> tuple[torch.Tensor, ...]:
        adapted = adapt(lambda p: xent(net(p, sx), sy, k_shot), params, step_sizes, first_order, names)[-1]
        post, pre = net(adapted, qx), net(params, sx).detach()
        return xent(post, qy, k_shot), accuracy(post, qy), xent(pre, sy, k_shot), accuracy(pre, sy)

    return vmap(one_task)(batch.support_x, batch.support_y, batch.query_x, batch.query_y)


def query_accuracies(net: Network, params: Params, batch: TaskBatch, k_shot: int,
                     step_sizes: Sequence[float]) -> torch.Tensor:
    """Query accuracy of each task before and after each inner step: (tasks, len(step_sizes) + 1). No meta-gradient
    is needed, so the inner gradients are not differentiated (first_order=True gives the same values)."""
    frozen = {k: v.detach() for k, v in params.items()}
    names = inner_names(frozen)

    def one_task(sx: torch.Tensor, sy: torch.Tensor, qx: torch.Tensor, qy: torch.Tensor) -> torch.Tensor:
        path = adapt(lambda p: xent(net(p, sx), sy, k_shot), frozen, step_sizes, True, names)
        return torch.stack([accuracy(net(p, qx), qy) for p in [frozen, *path]])

    with torch.no_grad():
        return vmap(one_task)(batch.support_x, batch.support_y, batch.query_x, batch.query_y)


def evaluate(net: Network, params: Params, classes: ImageClasses, hp: dict[str, Any], turns: Sequence[int],
             rng: np.random.Generator, n_tasks: int, n_steps: int, device: torch.device) -> np.ndarray:
    """Query accuracies (n_tasks, n_steps + 1) of fresh tasks under the test protocol, in chunks of meta_batch_size
    tasks (tasks are independent, so the chunking does not change the numbers)."""
    steps = [hp["inner_step_size"]] * n_steps
    out = []
    for start in range(0, n_tasks, hp["meta_batch_size"]):
        count = min(hp["meta_batch_size"], n_tasks - start)
        batch = sample_tasks(classes, rng, count, hp["n_way"], hp["k_shot"], hp["query_test"], turns).to(device)
        out.append(query_accuracies(net, params, batch, hp["k_shot"], steps).cpu())
    return torch.cat(out).double().numpy()


def summarise(accuracies: np.ndarray, paper_step: int) -> dict[str, float]:
    """Per step j, the mean accuracy in percent and its 95 % half-width over tasks (1.96 std / sqrt(n), std with
    ddof 0 as the authors' np.std); ``accuracy`` is the one after ``paper_step`` steps."""
    percent = 100.0 * accuracies
    metrics: dict[str, float] = {}
    for j in range(percent.shape[1]):
        metrics[f"accuracy_step{j}"] = float(percent[:, j].mean())
        metrics[f"accuracy_step{j}_ci95"] = float(1.96 * percent[:, j].std() / math.sqrt(percent.shape[0]))
    metrics["accuracy"] = metrics[f"accuracy_step{paper_step}"]
    metrics["accuracy_ci95"] = metrics[f"accuracy_step{paper_step}_ci95"]
    return metrics


def train_fewshot(config: ExperimentConfig, run: Run) -> dict[str, float]:
    hp, budget = config.hyperparameters, config.budget
    if hp["evaluation_steps"] < hp["inner_steps_test"]:
        raise ValueError(f"evaluation_steps ({hp['evaluation_steps']}) < inner_steps_test ({hp['inner_steps_test']})")
    splits, turns = load_splits(hp)
    net = network_for(hp, splits["train"])
    torch_seed, validation_seed = (int(s) for s in run.rng.integers(2**31 - 1, size=2))
    params = {k: v.to(run.device).requires_grad_() for k, v in
              net.init(torch.Generator().manual_seed(torch_seed)).items()}
    optimiser = torch.optim.Adam(params.values(), lr=hp["meta_learning_rate"],
                                 betas=(hp["adam_beta1"], hp["adam_beta2"]), eps=hp["adam_epsilon"])
    iteration, window = 0, []  # window: per-iteration (pre loss, pre acc, post loss, post acc) since the last point
    state = run.restore()
    if state is not None:
        with torch.no_grad():
            for k, v in state["params"].items():
                params[k].copy_(v)
        optimiser.load_state_dict(state["optimiser"])
        iteration, window = state["iteration"], state["window"]
    k_shot, meta_batch, iterations = hp["k_shot"], hp["meta_batch_size"], budget["iterations"]
    inner = [hp["inner_step_size"]] * hp["inner_steps_train"]
    validation_tasks = int(budget.get("validation_tasks", 0))
    bar = run.progress(total=iterations, initial=iteration)
    while iteration < iterations:
        batch = sample_tasks(splits["train"], run.rng, meta_batch, hp["n_way"], k_shot, hp["query_train"],
                             turns).to(run.device)
        post_loss, post_acc, pre_loss, pre_acc = meta_batch_outcomes(net, params, batch, k_shot, inner,
                                                                     hp["first_order"])
        objective = post_loss.sum() / meta_batch  # eq. (2): total_losses2
        optimiser.zero_grad(set_to_none=True)
        objective.backward()
        if hp["meta_grad_clip"] is not None:
            torch.nn.utils.clip_grad_value_(params.values(), hp["meta_grad_clip"])
        optimiser.step()
        iteration += 1
        window.append([float(t.detach().mean()) for t in (pre_loss, pre_acc, post_loss, post_acc)])
        if iteration % LOG_EVERY == 0 or iteration == iterations:
            pre_l, pre_a, post_l, post_a = np.mean(window, axis=0)
            point = {"pre_update_loss": pre_l, "pre_update_accuracy": 100 * pre_a,
                     "post_update_loss": post_l, "post_update_accuracy": 100 * post_a}
            if validation_tasks:
                val_rng = np.random.default_rng([validation_seed, iteration])  # same tasks after a resume
                val = evaluate(net, params, splits["val"], hp, turns, val_rng, validation_tasks,
                               hp["inner_steps_test"], run.device)
                point["validation_accuracy"] = 100 * float(val[:, -1].mean())
            run.log(iteration, iteration=iteration, **point)
            bar.set_postfix(acc=f"{100 * post_a:.1f}")
            window = []
        bar.update(1)
        if iteration < iterations and run.checkpoint_due():
            run.save_checkpoint({"params": {k: v.detach().cpu().clone() for k, v in params.items()},
                                 "optimiser": optimiser.state_dict(), "iteration": iteration,
                                 "window": list(window)}, iteration)
    bar.close()
    accuracies = evaluate(net, params, splits["test"], hp, turns, run.rng, budget["evaluation_tasks"],
                          hp["evaluation_steps"], run.device)
    return {**summarise(accuracies, hp["inner_steps_test"]), "evaluation_tasks": int(accuracies.shape[0]),
            "iterations": iteration}
