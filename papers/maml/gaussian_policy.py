"""The MAML RL policy (§5.3): an MLP with two hidden layers of 100 ReLU units giving the mean of a diagonal Gaussian,
and a state-independent log standard deviation, as a pure function of a parameter dict so that the inner update
(eq. 1) can adapt every parameter, the log std included ([maml_rl] maml_minimal_gauss_mlp_policy.py)."""
from __future__ import annotations

import math
from typing import Sequence

import torch

from papers.maml.inner_loop import Params

MIN_LOG_STD = math.log(1e-6)  # the policy's min_std = 1e-6 ('exp' parametrisation)


def init_policy(obs_dim: int, action_dim: int, hidden: Sequence[int], init_std: float,
                generator: torch.Generator | None = None) -> Params:
    """Glorot-uniform weights, zero biases (xavier_initializer), log std = log(init_std)."""
    params: Params = {}
    sizes = [obs_dim, *hidden, action_dim]
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        bound = math.sqrt(6.0 / (fan_in + fan_out))
        params[f"w{i}"] = (torch.rand(fan_in, fan_out, generator=generator) * 2 - 1) * bound
        params[f"b{i}"] = torch.zeros(fan_out)
    params["log_std"] = torch.full((action_dim,), math.log(init_std))
    return params


def distribution(params: Params, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, log std) for observations of any leading shape."""
    depth = sum(k.startswith("w") for k in params)
    h = obs
    for i in range(depth):
        h = h @ params[f"w{i}"] + params[f"b{i}"]
        if i < depth - 1:
            h = torch.relu(h)
    log_std = torch.clamp(params["log_std"], min=MIN_LOG_STD).expand_as(h)
    return h, log_std


def log_likelihood(mean: torch.Tensor, log_std: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """log N(a; mean, diag(exp(2 log_std))), summed over the action dimensions."""
    z = (actions - mean) / torch.exp(log_std)
    return -0.5 * (z ** 2).sum(-1) - log_std.sum(-1) - 0.5 * actions.shape[-1] * math.log(2 * math.pi)


def kl_divergence(old_mean: torch.Tensor, old_log_std: torch.Tensor, mean: torch.Tensor,
                  log_std: torch.Tensor) -> torch.Tensor:
    """KL(old || new) of diagonal Gaussians, summed over the action dimensions (rllab's DiagonalGaussian.kl_sym,
    with its 1e-8 in the denominator)."""
    old_var, var = torch.exp(2 * old_log_std), torch.exp(2 * log_std)
    return ((old_mean - mean) ** 2 + old_var - var).div(2 * var + 1e-8).add(log_std - old_log_std).sum(-1)
