"""Sinusoid regression (§5.1): tasks y = A sin(x - phi), A ~ U[0.1, 5], phi ~ U[0, pi], x ~ U[-5, 5], and the
regressor: an MLP with two hidden layers of 40 ReLU units, as a pure function of a parameter dict."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from papers.maml.inner_loop import Params


@dataclass(frozen=True)
class SinusoidTasks:
    """The task distribution p(T) of §5.1; ``sample`` draws tasks and their K-shot support and query points."""

    amplitude: tuple[float, float]
    phase: tuple[float, float]
    inputs: tuple[float, float]

    def sample(self, rng: np.random.Generator, n_tasks: int, n_points: int) -> dict[str, torch.Tensor]:
        """``n_tasks`` tasks with ``n_points`` (x, y) pairs each: x (n_tasks, n_points, 1), y likewise, plus the
        amplitudes and phases (n_tasks,)."""
        amp = rng.uniform(*self.amplitude, size=n_tasks)
        phase = rng.uniform(*self.phase, size=n_tasks)
        x = rng.uniform(*self.inputs, size=(n_tasks, n_points, 1))
        y = amp[:, None, None] * np.sin(x - phase[:, None, None])
        as_t = lambda a: torch.as_tensor(a, dtype=torch.float32)  # noqa: E731
        return {"x": as_t(x), "y": as_t(y), "amplitude": as_t(amp), "phase": as_t(phase)}


def init_mlp(sizes: Sequence[int], init_std: float, generator: torch.Generator | None = None) -> Params:
    """Weights ``w1..wL`` from a normal with ``init_std`` truncated at two standard deviations and zero biases
    ``b1..bL`` (the authors' construct_fc_weights: tf.truncated_normal(stddev=0.01), tf.zeros)."""
    params: Params = {}
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        w = torch.empty(fan_in, fan_out)
        torch.nn.init.trunc_normal_(w, std=init_std, a=-2 * init_std, b=2 * init_std, generator=generator)
        params[f"w{i}"], params[f"b{i}"] = w, torch.zeros(fan_out)
    return params


def mlp(params: Params, x: torch.Tensor) -> torch.Tensor:
    """ReLU MLP, linear output: h_{l+1} = relu(h_l w_l + b_l); works for any leading batch shape."""
    depth = len(params) // 2
    h = x
    for i in range(1, depth + 1):
        h = h @ params[f"w{i}"] + params[f"b{i}"]
        if i < depth:
            h = torch.relu(h)
    return h


def mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error over the points of one task (the authors' utils.mse: reduce_mean of the square)."""
    return ((pred - target) ** 2).mean()
