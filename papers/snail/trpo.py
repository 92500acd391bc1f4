"""TRPO (Schulman et al. 2015), the outer optimiser the paper names for every RL experiment ("TRPO with GAE", §4.1).

The paper gives no TRPO settings (its appendix is not available to us). This is TRPO as rllab's ``TRPO`` with
``ConjugateGradientOptimizer`` runs it, the implementation the authors' group used for RL² and MAML:
- minimise the surrogate L(theta) = -mean_t [pi(a_t|h_t) / pi_old(a_t|h_t) A_t] subject to
  mean_t KL(pi_old || pi) <= delta;
- the step direction x solves (H + lambda I) x = g by ``cg_iterations`` of conjugate gradient, with H the Hessian of
  the mean KL at theta_old (exact Hessian-vector products by double back-propagation) and g = grad L;
- the full step sqrt(2 delta / x^T H x) x, shrunk by ``backtrack_ratio``^j, j = 0 .. ``max_backtracks`` - 1, until
  the surrogate improves and the KL bound holds (both from one forward pass per candidate); if no candidate does, the step is rejected (theta_old is kept).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn


@dataclass(frozen=True)
class TRPOSettings:
    max_kl: float
    cg_iterations: int
    cg_damping: float
    backtrack_ratio: float
    max_backtracks: int


def flat(tensors: list[torch.Tensor]) -> torch.Tensor:
    return torch.cat([t.reshape(-1) for t in tensors])


def set_flat(params: list[nn.Parameter], vector: torch.Tensor) -> None:
    i = 0
    with torch.no_grad():
        for p in params:
            p.copy_(vector[i:i + p.numel()].view_as(p))
            i += p.numel()


def conjugate_gradient(hvp: Callable[[torch.Tensor], torch.Tensor], b: torch.Tensor, iterations: int,
                       residual_tol: float = 1e-10) -> torch.Tensor:
    """Solve A x = b for symmetric positive definite A given as a product (rllab krylov.cg)."""
    x = torch.zeros_like(b)
    r, p = b.clone(), b.clone()
    rr = r @ r
    for _ in range(iterations):
        z = hvp(p)
        alpha = rr / (p @ z)
        x += alpha * p
        r -= alpha * z
        new_rr = r @ r
        if new_rr < residual_tol:
            break
        p = r + (new_rr / rr) * p
        rr = new_rr
    return x


def trpo_step(params: list[nn.Parameter], objectives: Callable[[], tuple[torch.Tensor, torch.Tensor]],
              s: TRPOSettings) -> dict[str, float]:
    """One constrained step of ``params``; ``objectives`` recomputes, from one forward pass at the current
    parameters, the surrogate loss and the mean KL(pi_old || pi). Returns diagnostics (the accepted fraction of the
    full step, 0 if rejected)."""
    loss, kl = objectives()
    grad = flat(torch.autograd.grad(loss, params, retain_graph=True))
    kl_grad = flat(torch.autograd.grad(kl, params, create_graph=True))

    def hvp(v: torch.Tensor) -> torch.Tensor:
        hv = flat(torch.autograd.grad(kl_grad @ v, params, retain_graph=True))
        return hv + s.cg_damping * v

    direction = conjugate_gradient(hvp, grad, s.cg_iterations)
    shs = direction @ hvp(direction)
    step = torch.sqrt(2 * s.max_kl / (shs + 1e-8)) * direction
    old = flat([p.detach() for p in params])
    loss_before = float(loss.detach())
    accepted, new_loss, new_kl = 0.0, loss_before, 0.0
    with torch.no_grad():
        for j in range(s.max_backtracks):
            ratio = s.backtrack_ratio ** j
            set_flat(params, old - ratio * step)
            new_loss, new_kl = (float(v) for v in objectives())
            if new_loss < loss_before and new_kl <= s.max_kl:
                accepted = ratio
                break
        else:
            set_flat(params, old)
            new_loss, new_kl = loss_before, 0.0
    return {"surrogate_before": loss_before, "surrogate_after": new_loss, "mean_kl": new_kl,
            "step_accepted": accepted}
