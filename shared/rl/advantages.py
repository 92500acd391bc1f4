"""Generalized advantage estimation (Schulman et al. 2016, GAE, eq. 16) over batches of fixed-length paths."""
from __future__ import annotations

import torch


def gae(rewards: torch.Tensor, values: torch.Tensor, gamma: float, lam: float,
        last_values: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Advantages A_t = sum_l (gamma lam)^l delta_{t+l}, delta_t = r_t + gamma V(s_{t+1}) - V(s_t) (GAE eq. 16),
    and discounted returns R_t = sum_l gamma^l r_{t+l}, for paths of shape (batch, T).

    A path ends at T: V(s_T) is ``last_values`` (0, a terminal state, when None). Nothing inside a path is masked,
    so a trial of several episodes is one path (RL^2 §2.2: the objective runs across episode boundaries)."""
    batch, horizon = rewards.shape
    next_value = torch.zeros(batch, dtype=values.dtype, device=values.device) if last_values is None else last_values
    advantages = torch.empty_like(rewards)
    returns = torch.empty_like(rewards)
    running_adv = torch.zeros(batch, dtype=rewards.dtype, device=rewards.device)
    running_ret = torch.zeros_like(running_adv) if last_values is None else last_values.clone()
    for t in reversed(range(horizon)):
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        running_adv = delta + gamma * lam * running_adv
        running_ret = rewards[:, t] + gamma * running_ret
        advantages[:, t], returns[:, t] = running_adv, running_ret
        next_value = values[:, t]
    return advantages, returns
