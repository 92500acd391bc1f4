"""The MAML inner loop (Finn et al. 2017, Algorithm 2, eq. 1) as a differentiable function of the initial parameters.

    theta'_i = theta - alpha grad_theta L_Ti(f_theta)                       (eq. 1, repeated for several steps)
    theta   <- theta - beta grad_theta sum_i L_Ti(f_theta'_i)              (eq. 2, the meta-update)

``adapt`` applies eq. (1) with ``torch.func.grad``, so the meta-gradient of eq. (2) taken by the caller (autograd or
another ``torch.func`` transform) flows through the inner gradient: second-order MAML. With ``first_order=True`` the
inner gradient is treated as a constant (§5.2, "first-order approximation"), which drops the second derivatives.
Parameters are plain dicts of tensors so that one call can be ``torch.func.vmap``-ed over a meta-batch of tasks.
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch

Params = dict[str, torch.Tensor]


def sgd_step(loss: Callable[[Params], torch.Tensor], params: Params, step_size: float | torch.Tensor,
             first_order: bool = False, adapted: Sequence[str] | None = None) -> Params:
    """One step of eq. (1): ``params - step_size * grad(loss)(params)``; only the names in ``adapted`` move (all
    when None), the others (e.g. batch-norm offsets the authors' code leaves out of the inner update) stay."""
    names = list(params) if adapted is None else list(adapted)
    grads = torch.func.grad(lambda moving: loss({**params, **moving}))({k: params[k] for k in names})
    if first_order:
        grads = {k: g.detach() for k, g in grads.items()}
    return {**params, **{k: params[k] - step_size * grads[k] for k in names}}


def adapt(loss: Callable[[Params], torch.Tensor], params: Params, step_sizes: Sequence[float | torch.Tensor],
          first_order: bool = False, adapted: Sequence[str] | None = None) -> list[Params]:
    """Apply eq. (1) once per entry of ``step_sizes`` (the inner loss recomputed at the current parameters each
    time, on the same data); returns the parameters after every step (``len(step_sizes)`` dicts)."""
    out = []
    for alpha in step_sizes:
        params = sgd_step(loss, params, alpha, first_order, adapted)
        out.append(params)
    return out
