"""N-way K-shot tasks ("episodes") drawn from images grouped by class.

A task picks N distinct classes in random order and labels them 0..N-1 in that order (so labels are shuffled per
task), then K support and Q query images per class without replacement, optionally rotating each class as a whole
by a multiple of 90 degrees (Omniglot's augmentation: a rotated character is a new class). This is the sampling of
cbfinn/maml data_generator.py (random.sample of classes, shuffled labels, random.sample of K+Q images per class,
one rotation per class drawn uniformly, tf.image.rot90 being counter-clockwise).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch


@dataclass(frozen=True)
class ImageClasses:
    """The images of one split, as stored: uint8 of shape (classes, examples per class, height, width, channels),
    and the class names. ``invert`` maps pixel p to 1 - p/255 instead of p/255 (Omniglot: strokes become 1)."""

    images: np.ndarray
    names: tuple[str, ...]
    invert: bool = False

    def __post_init__(self) -> None:
        if self.images.ndim != 5 or self.images.dtype != np.uint8:
            raise ValueError(f"images must be uint8 (classes, examples, H, W, C), got {self.images.dtype} "
                             f"{self.images.shape}")
        if len(self.names) != self.images.shape[0]:
            raise ValueError(f"{len(self.names)} names for {self.images.shape[0]} classes")

    @property
    def n_classes(self) -> int:
        return self.images.shape[0]

    @property
    def n_examples(self) -> int:
        return self.images.shape[1]

    def subset(self, index: Sequence[int]) -> "ImageClasses":
        """The classes at ``index``, in that order."""
        index = np.asarray(index, dtype=np.int64)
        return ImageClasses(self.images[index], tuple(self.names[i] for i in index), self.invert)


@dataclass(frozen=True)
class TaskBatch:
    """A meta-batch of T tasks: support x (T, N*K, C, H, W) float32 with labels (T, N*K) int64, query likewise
    with N*Q rows. Rows are ordered example-major (the k-th image of every class, then the (k+1)-th), as in the
    authors' batches."""

    support_x: torch.Tensor
    support_y: torch.Tensor
    query_x: torch.Tensor
    query_y: torch.Tensor

    def to(self, device: torch.device | str) -> "TaskBatch":
        return TaskBatch(*(t.to(device) for t in (self.support_x, self.support_y, self.query_x, self.query_y)))


def _example_major(x: torch.Tensor) -> torch.Tensor:
    """(T, N, S, ...) -> (T, S*N, ...): row s*N + n holds example s of class n."""
    return x.transpose(1, 2).reshape(x.shape[0], x.shape[1] * x.shape[2], *x.shape[3:])


def sample_tasks(classes: ImageClasses, rng: np.random.Generator, n_tasks: int, n_way: int, k_shot: int,
                 n_query: int, quarter_turns: Sequence[int] = (0,)) -> TaskBatch:
    """Draw ``n_tasks`` N-way tasks with ``k_shot`` support and ``n_query`` query images per class; each class of
    each task is rotated counter-clockwise by 90 degrees times a uniform draw from ``quarter_turns``."""
    if n_way > classes.n_classes:
        raise ValueError(f"{n_way}-way tasks need at least {n_way} classes, the split has {classes.n_classes}")
    per_class = k_shot + n_query
    if per_class > classes.n_examples:
        raise ValueError(f"{k_shot} support + {n_query} query images per class, but classes hold "
                         f"{classes.n_examples}")
    chosen = rng.random((n_tasks, classes.n_classes)).argsort(axis=1)[:, :n_way]  # label n = chosen[:, n]
    picks = rng.random((n_tasks, n_way, classes.n_examples)).argsort(axis=2)[:, :, :per_class]
    images = classes.images[chosen[:, :, None], picks]  # (T, N, K+Q, H, W, C)
    turns = rng.choice(np.asarray(quarter_turns), size=(n_tasks, n_way))
    for k in np.unique(turns):
        if k % 4:
            mask = turns == k
            images[mask] = np.rot90(images[mask], k, axes=(2, 3))  # (M, K+Q, H, W, C): rotate H toward W
    x = torch.from_numpy(np.ascontiguousarray(images)).float().div_(255.0)
    if classes.invert:
        x = 1.0 - x
    x = x.permute(0, 1, 2, 5, 3, 4)  # channels first: (T, N, K+Q, C, H, W)
    labels = torch.arange(n_way).expand(n_tasks, per_class, n_way).transpose(1, 2)  # (T, N, K+Q)
    return TaskBatch(_example_major(x[:, :, :k_shot]).contiguous(), _example_major(labels[:, :, :k_shot]),
                     _example_major(x[:, :, k_shot:]).contiguous(), _example_major(labels[:, :, k_shot:]))
