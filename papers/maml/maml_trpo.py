"""MAML for RL (§3.2, Algorithm 3): a vanilla policy-gradient inner step per task and a TRPO meta-step on the
post-update policies, as the authors' MAMLNPO / MAMLTRPO ([maml_rl] sandbox/rocky/tf/algos/maml_npo.py) computes it.

Per task i, with pre-update paths D_i (sampled with theta) and post-update paths D'_i (sampled with theta'_i):

    L_in_i(theta)  = - mean_{t in D_i} log pi_theta(a_t|s_t) A_t                      (REINFORCE surrogate)
    theta'_i       = theta - alpha grad L_in_i(theta)                                  (eq. 1, through autograd)
    L_out(theta)   = mean_i [ - mean_{t in D'_i} pi_{theta'_i}(a_t|s_t) / pi_old(a_t|s_t) A'_t ]
    KL(theta)      = mean_{t in all D'_i} KL(pi_old(.|s_t) || pi_{theta'_i}(.|s_t))   (pooled over tasks)

and one TRPO step: minimise L_out subject to KL <= delta, with conjugate gradient on Hessian-vector products of KL
taken by finite differences of its gradient ("to avoid computing third derivatives", §5.3).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch.func import vmap

from papers.maml.gaussian_policy import distribution, kl_divergence, log_likelihood
from papers.maml.inner_loop import Params, sgd_step


@dataclass(frozen=True)
class Paths:
    """A batch of paths stacked over tasks: obs (tasks, paths, T, d), actions (.., a), advantages and mask (tasks,
    paths, T), and the sampling policy's mean / log std (.., a). Padding after a path's end has mask 0."""

    obs: torch.Tensor
    actions: torch.Tensor
    advantages: torch.Tensor
    mask: torch.Tensor
    old_mean: torch.Tensor
    old_log_std: torch.Tensor


def inner_loss(params: Params, obs: torch.Tensor, actions: torch.Tensor, advantages: torch.Tensor,
               mask: torch.Tensor) -> torch.Tensor:
    """L_in of one task: minus the mean over its valid steps of log pi(a|s) A (the authors' tf.reduce_mean)."""
    mean, log_std = distribution(params, obs)
    return -(log_likelihood(mean, log_std, actions) * advantages * mask).sum() / mask.sum()


def adapted_params(params: Params, pre: Paths, step_size: float, first_order: bool = False) -> Params:
    """theta'_i for every task at once: a dict of tensors with a leading task axis."""
    def one(obs, actions, advantages, mask):
        return sgd_step(lambda p: inner_loss(p, obs, actions, advantages, mask), params, step_size, first_order)
    return vmap(one)(pre.obs, pre.actions, pre.advantages, pre.mask.float())


def meta_objective(params: Params, pre: Paths, post: Paths, step_size: float,
                   first_order: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """(L_out, KL) of the module docstring as functions of theta."""
    fast = adapted_params(params, pre, step_size, first_order)
    mean, log_std = vmap(distribution)(fast, post.obs)
    mask = post.mask.float()
    ratio = torch.exp(log_likelihood(mean, log_std, post.actions)
                      - log_likelihood(post.old_mean, post.old_log_std, post.actions))
    per_task = -(ratio * post.advantages * mask).sum(dim=(1, 2)) / mask.sum(dim=(1, 2))
    kl = (kl_divergence(post.old_mean, post.old_log_std, mean, log_std) * mask).sum() / mask.sum()
    return per_task.mean(), kl


@dataclass(frozen=True)
class TRPOSettings:
    max_kl: float
    cg_iters: int
    cg_damping: float
    backtrack_ratio: float
    max_backtracks: int
    fd_base_eps: float


def flatten(params: Params) -> torch.Tensor:
    return torch.cat([p.reshape(-1) for p in params.values()])


def unflatten(flat: torch.Tensor, like: Params) -> Params:
    out, i = {}, 0
    for k, p in like.items():
        out[k] = flat[i:i + p.numel()].view_as(p)
        i += p.numel()
    return out


def conjugate_gradient(hvp: Callable[[torch.Tensor], torch.Tensor], b: torch.Tensor, iters: int,
                       residual_tol: float = 1e-10) -> torch.Tensor:
    """Solve H x = b from x = 0 (rllab misc/krylov.py:cg)."""
    x, r, p = torch.zeros_like(b), b.clone(), b.clone()
    rdotr = r.dot(r)
    for _ in range(iters):
        z = hvp(p)
        v = rdotr / p.dot(z)
        x, r = x + v * p, r - v * z
        new_rdotr = r.dot(r)
        p, rdotr = r + (new_rdotr / rdotr) * p, new_rdotr
        if rdotr < residual_tol:
            break
    return x


def trpo_step(params: Params, objective: Callable[[Params], tuple[torch.Tensor, torch.Tensor]],
              settings: TRPOSettings) -> tuple[Params, dict[str, float]]:
    """One step of rllab's ConjugateGradientOptimizer with FiniteDifferenceHvp on ``objective`` = (loss, KL):
    s = CG(H, g) with H x = (grad KL(theta + eps x) - grad KL(theta - eps x)) / (2 eps) + damping x and
    eps = base_eps / (||theta|| + 1e-8); beta = sqrt(2 delta / (s^T H s + 1e-8)); backtrack theta - ratio^k beta s
    until the loss decreases and KL <= delta; keep theta when no candidate qualifies."""
    theta = flatten({k: v.detach() for k, v in params.items()})

    def loss_kl(flat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return objective(unflatten(flat, params))

    def grad_of(index: int, flat: torch.Tensor) -> torch.Tensor:
        flat = flat.detach().requires_grad_()
        return torch.autograd.grad(loss_kl(flat)[index], flat)[0]

    with torch.no_grad():
        loss_before = float(loss_kl(theta)[0])
    g = grad_of(0, theta)
    eps = settings.fd_base_eps / (float(theta.norm()) + 1e-8)

    def hvp(x: torch.Tensor) -> torch.Tensor:
        return (grad_of(1, theta + eps * x) - grad_of(1, theta - eps * x)) / (2 * eps) + settings.cg_damping * x

    direction = conjugate_gradient(hvp, g, settings.cg_iters)
    with np.errstate(all="ignore"):  # as rllab: a negative s^T H s (finite differences) gives NaN, then beta = 1
        beta = float(np.sqrt(2.0 * settings.max_kl * (1.0 / (np.float64(direction.dot(hvp(direction))) + 1e-8))))
    if math.isnan(beta):
        beta = 1.0
    loss, kl, accepted = loss_before, float("nan"), theta
    with torch.no_grad():
        for k in range(settings.max_backtracks):
            candidate = theta - settings.backtrack_ratio ** k * beta * direction
            loss, kl = (float(v) for v in loss_kl(candidate))
            if loss < loss_before and kl <= settings.max_kl:
                break
        if not (math.isnan(loss) or math.isnan(kl) or loss >= loss_before or kl >= settings.max_kl):
            accepted = candidate
    new = {k: v.clone() for k, v in unflatten(accepted, params).items()}
    return new, {"loss_before": loss_before, "loss_after": loss if accepted is not theta else loss_before,
                 "mean_kl": kl if accepted is not theta else 0.0, "backtracks": k,
                 "step_accepted": float(accepted is not theta)}
