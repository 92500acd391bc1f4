"""Input scaling of App. A: rescale to mean 0 / std 1 with statistics of all observations so far, clip to [-c, c]."""
from __future__ import annotations

import numpy as np
import torch


class RunningNormalizer:
    """Running mean and std (float64 sums); ``eps`` floors the std (the paper does not state one)."""

    def __init__(self, size: int, clip: float, eps: float) -> None:
        self.sum = np.zeros(size)
        self.sumsq = np.zeros(size)
        self.count = 0
        self.clip, self.eps = clip, eps
        self.mean = np.zeros(size, dtype=np.float32)
        self.std = np.ones(size, dtype=np.float32)

    def update(self, x: np.ndarray) -> None:
        x = x.reshape(-1, self.sum.shape[0]).astype(np.float64)
        self.sum += x.sum(0)
        self.sumsq += (x ** 2).sum(0)
        self.count += len(x)
        mean = self.sum / self.count
        var = np.maximum(self.eps ** 2, self.sumsq / self.count - mean ** 2)
        self.mean, self.std = mean.astype(np.float32), np.sqrt(var).astype(np.float32)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        mean = torch.as_tensor(self.mean, device=x.device)
        std = torch.as_tensor(self.std, device=x.device)
        return ((x - mean) / std).clamp_(-self.clip, self.clip)

    def state_dict(self) -> dict:
        return {"sum": self.sum.copy(), "sumsq": self.sumsq.copy(), "count": self.count}

    def load_state_dict(self, state: dict) -> None:
        self.sum, self.sumsq, self.count = state["sum"].copy(), state["sumsq"].copy(), int(state["count"])
        if self.count:
            self.update(np.zeros((0, self.sum.shape[0])))
