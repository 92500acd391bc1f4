"""The "standard linear feature baseline" of §5.3 (Duan et al. 2016), fitted separately for each task on the paths
it then predicts for (rllab's LinearFeatureBaseline and BaseSampler.process_samples), and the advantages
A_t = GAE(gamma, lambda) normalised over the task's batch (center_adv)."""
from __future__ import annotations

import torch

from shared.rl.advantages import gae


def features(obs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """[o, o^2, t/100, (t/100)^2, (t/100)^3, 1] with o clipped to [-10, 10]; obs (paths, T, d) -> (paths, T, 2d+4)."""
    o = torch.clamp(obs.double(), -10, 10)
    t = (torch.arange(obs.shape[1], dtype=torch.float64) / 100.0).expand(obs.shape[0], -1)[..., None]
    feats = torch.cat([o, o ** 2, t, t ** 2, t ** 3, torch.ones_like(t)], dim=-1)
    return feats * mask.double()[..., None]


def fit_predict(obs: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor, reg_coeff: float = 1e-5) -> torch.Tensor:
    """Ridge regression of the returns on the features over the valid steps (regularisation x10 up to 5 times
    while the solution has NaNs), then its prediction on the same steps (0 on padding)."""
    f = features(obs, mask).reshape(-1, 2 * obs.shape[-1] + 4)
    r = (returns.double() * mask.double()).reshape(-1)
    gram, target = f.T @ f, f.T @ r
    coeffs = torch.full((f.shape[1],), float("nan"), dtype=torch.float64)
    for attempt in range(5):
        coeffs = torch.linalg.lstsq(gram + reg_coeff * 10 ** attempt * torch.eye(f.shape[1], dtype=torch.float64),
                                    target[:, None], driver="gelsd").solution[:, 0]
        if not torch.isnan(coeffs).any():
            break
    return (f @ coeffs).reshape(mask.shape) * mask.double()


def task_advantages(obs: torch.Tensor, rewards: torch.Tensor, mask: torch.Tensor, gamma: float, gae_lambda: float,
                    reg_coeff: float = 1e-5) -> tuple[torch.Tensor, torch.Tensor]:
    """One task's paths (paths, T, ...) padded after their end: (normalised advantages, discounted returns), both
    (paths, T) and zero on padding. Padding has zero reward and zero baseline, so GAE over the padded path equals
    GAE over the path (rllab appends a 0 baseline at each path's end)."""
    rewards = rewards.double() * mask.double()
    _, returns = gae(rewards, torch.zeros_like(rewards), gamma, 1.0)  # R_t = sum_k gamma^k r_{t+k}
    baseline = fit_predict(obs, returns, mask, reg_coeff)
    advantages, _ = gae(rewards, baseline, gamma, gae_lambda)
    valid = advantages[mask]
    normalised = (advantages - valid.mean()) / (valid.std(unbiased=False) + 1e-8)
    return (normalised * mask.double()).float(), returns.float()
