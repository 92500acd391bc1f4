"""The RL^2 networks (§2.3): a GRU whose output feeds a fully connected layer (softmax policy, or a value).

The cell is the authors' (florensacc/rllab-curriculum sandbox/rocky/tf/core/layers.py:1112-1121, GRULayer without
layer norm), which differs from ``torch.nn.GRU``: a ReLU candidate, the reset gate applied after the hidden matmul
and no hidden-side bias::

    r  = sigmoid(x W_xr + b_r + h W_hr)
    u  = sigmoid(x W_xu + b_u + h W_hu)
    c  = relu(x W_xc + b_c + r * (h W_hc))
    h' = (1 - u) * h + u * c

Every W is weight-normalised (Salimans & Kingma 2016): W = v g / ||v||, one norm per output column, g initialised to 1
(layers.py:165-180). v_x starts Xavier-uniform, v_h as the left singular vectors of a U[0, 1) matrix times 1.1
(layers.py:302-340); h_0 = 0 and is not trained. Per-column normalisation means the three gates' matrices can be
stacked column-wise into one (in, 3H) matrix without changing anything.
"""
from __future__ import annotations

import math

import torch
from torch import nn


def _xavier_uniform(fan_in: int, fan_out: int, generator: torch.Generator | None = None) -> torch.Tensor:
    bound = math.sqrt(6.0 / (fan_in + fan_out))
    return (torch.rand(fan_in, fan_out, generator=generator) * 2 - 1) * bound


def _orthogonal_from_uniform(n: int, scale: float = 1.1) -> torch.Tensor:
    """The authors' ``OrthogonalInitializer``: U of the SVD of an (n, n) U[0, 1) matrix, times ``scale``."""
    u, _, _ = torch.linalg.svd(torch.rand(n, n, dtype=torch.float64))
    return (u * scale).float()


class WeightNormGRU(nn.Module):
    """The authors' GRU layer with weight normalisation; ``hidden`` units, ReLU candidate."""

    def __init__(self, input_dim: int, hidden: int) -> None:
        super().__init__()
        self.hidden = hidden
        self.v_x = nn.Parameter(torch.cat([_xavier_uniform(input_dim, hidden) for _ in range(3)], dim=1))
        self.v_h = nn.Parameter(torch.cat([_orthogonal_from_uniform(hidden) for _ in range(3)], dim=1))
        self.g_x = nn.Parameter(torch.ones(3 * hidden))
        self.g_h = nn.Parameter(torch.ones(3 * hidden))
        self.b = nn.Parameter(torch.zeros(3 * hidden))  # b_r, b_u, b_c

    def weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(W_x, W_h) = v g / ||v|| per column, gates stacked [r | u | c]."""
        return (self.v_x * (self.g_x / self.v_x.norm(dim=0)), self.v_h * (self.g_h / self.v_h.norm(dim=0)))

    def step(self, x_proj: torch.Tensor, h: torch.Tensor, w_h: torch.Tensor) -> torch.Tensor:
        """One step from the input projection x W_x + b (batch, 3H) and the previous h."""
        xr, xu, xc = x_proj.chunk(3, dim=1)  # chunk/unbind, not slicing: their backward is one cat, not zero-fills
        hr, hu, hc = (h @ w_h).chunk(3, dim=1)
        r = torch.sigmoid(xr + hr)
        u = torch.sigmoid(xu + hu)
        c = torch.relu(xc + r * hc)
        return h + u * (c - h)  # (1 - u) h + u c

    def forward(self, x: torch.Tensor, h0: torch.Tensor | None = None) -> torch.Tensor:
        """Hidden states for a batch of whole sequences ``x`` (batch, T, in), from h_0 = 0: (batch, T, H)."""
        w_x, w_h = self.weights()
        proj = x @ w_x + self.b
        h = torch.zeros(x.shape[0], self.hidden, dtype=x.dtype, device=x.device) if h0 is None else h0
        out = []
        for x_t in proj.unbind(dim=1):
            h = self.step(x_t, h, w_h)
            out.append(h)
        return torch.stack(out, dim=1)


class GRUHead(nn.Module):
    """GRU then a dense layer (Xavier-uniform W, b = 0, not weight-normalised): logits of the softmax policy
    (``CategoricalRNNPolicy``) or the value (``L2RNNBaseline``, ``outputs = 1``)."""

    def __init__(self, input_dim: int, hidden: int, outputs: int) -> None:
        super().__init__()
        self.gru = WeightNormGRU(input_dim, hidden)
        self.out = nn.Linear(hidden, outputs)
        with torch.no_grad():
            self.out.weight.copy_(_xavier_uniform(hidden, outputs).T)
            self.out.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.gru(x))


def policy_inputs(obs: torch.Tensor, actions: torch.Tensor, n_actions: int, include_prev_action: bool
                  ) -> torch.Tensor:
    """The policy's input per step. With ``include_prev_action`` (the authors' ``state_include_action``, on for the
    MDP launcher by default) the policy's own previous action is appended: zeros at the first step of a trial, then
    one-hot a_{t-1} (categorical_rnn_policy.py:245, 381-417)."""
    if not include_prev_action:
        return obs
    prev = torch.zeros(*actions.shape, n_actions, dtype=obs.dtype, device=obs.device)
    prev[:, 1:] = nn.functional.one_hot(actions[:, :-1], n_actions).to(obs.dtype)
    return torch.cat([obs, prev], dim=-1)


def categorical_sample(probs: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Inverse-CDF sampling from each row of ``probs`` (rllab misc/special.py:22-27)."""
    u = torch.rand(probs.shape[0], 1, generator=generator, dtype=probs.dtype, device=probs.device)
    index = (probs.cumsum(dim=-1) < u).sum(dim=-1)
    return index.clamp_(max=probs.shape[-1] - 1)
