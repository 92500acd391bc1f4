"""Entry point of SNAIL few-shot classification (§4.2, Tables 1-2): Omniglot 5- and 20-way, mini-ImageNet 5-way.

An episode is the NK labelled examples of an N-way K-shot task in random order, then one query image drawn from
one of the N classes; the loss is the cross-entropy of the query's prediction (the last step). One model per N is
trained with K drawn uniformly from 1..5 for each minibatch of episodes (§4.2: "trained with K ~ U{1, ..., 5}"), by
Adam. Omniglot: 1200 characters for training, the other 423 for testing, each class of an episode rotated by a
multiple of 90 degrees (§4.2); mini-ImageNet: the Ravi & Larochelle 64 / 16 / 20 split. Evaluation: accuracy on the
query of ``evaluation_tasks`` test episodes for K = 1 and K = 5, with the 95 % half-width 1.96 sd / sqrt(episodes).
The data live in ``$REPLICA_DATA`` (default ``<repo>/data``), fetched by ``python -m shared.fewshot.fetch``.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from papers.snail.fewshot_networks import MiniImagenetEmbedding, OmniglotEmbedding, SnailClassifier
from shared.fewshot.episodes import ImageClasses, sample_tasks
from shared.fewshot.miniimagenet import load_miniimagenet
from shared.fewshot.omniglot import QUARTER_TURNS, load_omniglot, split_characters
from shared.params import ExperimentConfig
from shared.repo import repo_root
from shared.run import Run

LOG_EVERY = 100  # iterations between learning-curve points


def data_root() -> Path:
    return Path(os.environ.get("REPLICA_DATA") or repo_root() / "data")


def load_splits(hp: dict[str, Any]) -> tuple[ImageClasses, ImageClasses, tuple[int, ...]]:
    """(training classes, test classes, the quarter turns a class may be rotated by)."""
    if hp["dataset"] == "omniglot":
        characters = load_omniglot(data_root() / "omniglot")
        splits = split_characters(characters, hp["omniglot_train_characters"], 0, hp["omniglot_split_seed"])
        return splits["train"], splits["test"], tuple(QUARTER_TURNS) if hp["omniglot_rotations"] else (0,)
    if hp["dataset"] == "miniimagenet":
        splits = load_miniimagenet(data_root() / "miniimagenet")
        return splits["train"], splits["test"], (0,)
    raise ValueError(f"unknown dataset {hp['dataset']!r} (known: omniglot, miniimagenet)")


def episodes(classes: ImageClasses, rng: np.random.Generator, count: int, n_way: int, shots: int,
             turns: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """``count`` episodes: images (count, NK + 1, C, H, W) and labels (count, NK + 1); the NK support examples in
    random order, then one query from a uniformly chosen class."""
    tasks = sample_tasks(classes, rng, count, n_way, shots, 1, turns)
    rows = torch.arange(count)[:, None]
    order = torch.from_numpy(rng.random((count, n_way * shots)).argsort(axis=1))
    which = torch.from_numpy(rng.integers(0, n_way, size=count))
    every = torch.arange(count)
    images = torch.cat([tasks.support_x[rows, order], tasks.query_x[every, which][:, None]], dim=1)
    labels = torch.cat([tasks.support_y[rows, order], tasks.query_y[every, which][:, None]], dim=1)
    return images, labels


def build_model(hp: dict[str, Any], classes: ImageClasses) -> SnailClassifier:
    channels = classes.images.shape[-1]
    embedding = (OmniglotEmbedding(channels) if hp["dataset"] == "omniglot"
                 else MiniImagenetEmbedding(hp["dropout"], channels))
    return SnailClassifier(embedding, hp["n_way"], max(hp["train_shots"]))


@torch.no_grad()
def evaluate(model: SnailClassifier, classes: ImageClasses, hp: dict[str, Any], shots: int, tasks: int,
             rng: np.random.Generator, device: torch.device, batch: int = 100) -> tuple[float, float]:
    """(accuracy %, 95 % half-width %) on ``tasks`` test episodes with ``shots`` examples per class."""
    model.eval()
    correct = []
    for start in range(0, tasks, batch):
        images, labels = episodes(classes, rng, min(batch, tasks - start), hp["n_way"], shots, (0,))
        logits = model(images.to(device), labels.to(device))
        correct.append((logits.argmax(-1).cpu() == labels[:, -1]).double())
    model.train()
    c = torch.cat(correct).numpy()
    return 100 * float(c.mean()), 100 * 1.96 * float(c.std()) / math.sqrt(len(c))


def train_fewshot_snail(config: ExperimentConfig, run: Run) -> dict[str, float]:
    hp, budget = config.hyperparameters, config.budget
    train_classes, test_classes, turns = load_splits(hp)
    model = build_model(hp, train_classes).to(run.device)
    optimiser = torch.optim.Adam(model.parameters(), lr=hp["learning_rate"])
    iteration, window = 0, []
    state = run.restore()
    if state is not None:
        model.load_state_dict(state["model"])
        optimiser.load_state_dict(state["optimiser"])
        iteration, window = state["iteration"], state["window"]
    iterations, per_batch = budget["iterations"], hp["episodes_per_batch"]
    bar = run.progress(total=iterations * per_batch, initial=iteration * per_batch)
    while iteration < iterations:
        shots = int(run.rng.choice(hp["train_shots"]))
        images, labels = episodes(train_classes, run.rng, per_batch, hp["n_way"], shots, turns)
        images, labels = images.to(run.device), labels.to(run.device)
        logits = model(images, labels)
        loss = torch.nn.functional.cross_entropy(logits, labels[:, -1])
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        iteration += 1
        window.append((float(loss.detach()), float((logits.argmax(-1) == labels[:, -1]).float().mean())))
        bar.update(per_batch)
        if iteration % LOG_EVERY == 0 or iteration == iterations:
            losses, accs = zip(*window)
            run.log(iteration * per_batch, iteration=iteration, train_loss=float(np.mean(losses)),
                    train_accuracy=100 * float(np.mean(accs)))
            bar.set_postfix(loss=f"{np.mean(losses):.3f}")
            window = []
        if iteration < iterations and run.checkpoint_due():
            run.save_checkpoint({"model": model.state_dict(), "optimiser": optimiser.state_dict(),
                                 "iteration": iteration, "window": window}, iteration * per_batch)
    bar.close()
    metrics: dict[str, float] = {"iterations": iteration, "episodes": iteration * per_batch}
    for shots in hp["evaluation_shots"]:
        accuracy, half_width = evaluate(model, test_classes, hp, shots, budget["evaluation_tasks"], run.rng,
                                        run.device)
        metrics[f"accuracy_{shots}shot"], metrics[f"accuracy_{shots}shot_ci95"] = accuracy, half_width
    return metrics
