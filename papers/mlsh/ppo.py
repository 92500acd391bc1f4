"""PPO at both levels of MLSH, as the authors' learner computes it (openai/mlsh mlsh_code/learner.py, rollouts.py).

- GAE (gamma, lambda) over each worker's segment; an episode end cuts the recursion (V = 0 after it), and the
  segment's last step is treated the same way (the code appends V = 0): segments hold whole episodes.
- The master's GAE runs over macro-steps: one per N environment steps, rewarded with the sum of the N rewards.
- Loss per sample: -min(rho A, clip(rho, 1 - eps, 1 + eps) A) + 0.5 max((V - R)^2, (V_old + clip(V - V_old, -eps,
  eps) - R)^2), with rho = exp(log pi(a|s) - clip(log pi_old(a|s), -20, 20)), R = A + V_old (the TD(lambda)
  return), no entropy term (entcoeff 0).
"""
from __future__ import annotations

import numpy as np
import torch


def gae(rewards: np.ndarray, values: np.ndarray, starts: np.ndarray, gamma: float, lam: float
        ) -> tuple[np.ndarray, np.ndarray]:
    """Advantages and TD(lambda) returns for (workers, T) arrays; ``starts[:, t]`` marks the first step of an
    episode (rollouts.py ``new``), so the step before it is terminal."""
    workers, horizon = rewards.shape
    adv = np.zeros((workers, horizon), dtype=np.float32)
    last = np.zeros(workers, dtype=np.float64)
    for t in reversed(range(horizon)):
        nonterminal = 1.0 - starts[:, t + 1] if t + 1 < horizon else np.ones(workers)
        next_value = values[:, t + 1] if t + 1 < horizon else np.zeros(workers)
        delta = rewards[:, t] + gamma * next_value * nonterminal - values[:, t]
        last = delta + gamma * lam * nonterminal * last
        adv[:, t] = last
    return adv, adv + values.astype(np.float32)


def sample_losses(logp: torch.Tensor, old_logp: torch.Tensor, values: torch.Tensor, old_values: torch.Tensor,
                  advantages: torch.Tensor, returns: torch.Tensor, clip: float) -> torch.Tensor:
    """The per-sample PPO loss (policy surrogate plus clipped value loss) of learner.py ``policy_loss``."""
    ratio = torch.exp(logp - old_logp.clamp(-20.0, 20.0))
    surrogate = torch.minimum(ratio * advantages, ratio.clamp(1.0 - clip, 1.0 + clip) * advantages)
    clipped_values = old_values + (values - old_values).clamp(-clip, clip)
    value_loss = torch.maximum((values - returns) ** 2, (clipped_values - returns) ** 2)
    return -surrogate + 0.5 * value_loss


def pooled_normalise(adv: np.ndarray) -> np.ndarray:
    """The master's advantage normalisation: mean and std pooled over every worker of every group (learner.py
    ``updateMasterPolicy`` allgathers each worker's mean and variance over MPI.COMM_WORLD); floor 1e-6."""
    means, stds = adv.mean(axis=1), adv.std(axis=1)
    global_mean = means.mean()
    global_std = np.sqrt(np.mean(stds ** 2 + (means - global_mean) ** 2))
    return ((adv - global_mean) / max(global_std, 1e-6)).astype(np.float32)
