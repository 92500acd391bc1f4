"""The outer optimiser: the paper's "first-order implementation of TRPO" (§2.4), as the authors ran it
(florensacc/rllab-curriculum sandbox/rocky/neural_learner/algos/pposgd_clip_ratio.py, optimizers/tbptt_optimizer.py,
baselines/l2_rnn_baseline.py):

- the clipped surrogate L = -mean min(rho A, clip(rho, 1 - eps, 1 + eps) A), rho = (pi(a) + 1e-8) / (pi_old(a) + 1e-8);
- Adam (lr 1e-3, TF defaults, state kept across iterations) over minibatches of 128 whole trials in sampler order,
  full back-propagation through each trial, gradients clipped element-wise to +-40, 5 epochs;
- after each epoch, the parameters are kept if that epoch's mean KL (measured before each minibatch's update) is
  <= delta and its unclipped surrogate is the lowest so far; the best kept ones are restored after the epochs;
- then a backtracking line search on the whole batch's mean KL(pi_old || pi) <= delta: theta_old + 0.5^j (theta -
  theta_old), j = 1..10; if all 10 fail the last one is kept (no revert).

The value baseline is a second GRU fitted the same way (5 epochs, Adam, clip 40) on the discounted trial returns,
normalised by running moments (update rate 0.9), after it has predicted the values this batch's advantages use.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import nn

EPS = 1e-8


@dataclass(frozen=True)
class OptimiserSettings:
    clip: float             # clip_lr
    max_kl: float           # step_size (delta)
    epochs: int
    minibatch_trials: int
    learning_rate: float
    adam_betas: tuple[float, float]
    adam_epsilon: float
    grad_clip: float
    backtrack_ratio: float
    max_backtracks: int
    entropy_bonus: float


def settings_from(hp: dict[str, Any]) -> OptimiserSettings:
    """The optimiser settings from an experiment's hyperparameters (params.yaml names)."""
    return OptimiserSettings(
        clip=hp["clip_ratio"], max_kl=hp["max_mean_kl"], epochs=hp["epochs"], minibatch_trials=hp["minibatch_trials"],
        learning_rate=hp["learning_rate"], adam_betas=(hp["adam_beta1"], hp["adam_beta2"]),
        adam_epsilon=hp["adam_epsilon"], grad_clip=hp["grad_clip"], backtrack_ratio=hp["backtrack_ratio"],
        max_backtracks=hp["max_backtracks"], entropy_bonus=hp["entropy_bonus"])


def minibatches(n_trials: int, size: int) -> list[slice]:
    """Contiguous blocks of ``size`` whole trials in sampler order (no shuffling: tbptt_optimizer.py:178-179)."""
    return [slice(i, min(i + size, n_trials)) for i in range(0, n_trials, size)]


def adam(params, s: OptimiserSettings) -> torch.optim.Adam:
    """The optimiser of the policy and of the baseline (each its own, state kept across iterations)."""
    return torch.optim.Adam(params, lr=s.learning_rate, betas=s.adam_betas, eps=s.adam_epsilon)


def clipped_adam_step(params: list[nn.Parameter], optimiser: torch.optim.Optimizer, loss: torch.Tensor,
                      grad_clip: float) -> None:
    optimiser.zero_grad(set_to_none=True)
    loss.backward()
    for p in params:
        if p.grad is not None:
            p.grad.clamp_(-grad_clip, grad_clip)
    optimiser.step()


def categorical_kl(p_old: torch.Tensor, logp_new: torch.Tensor) -> torch.Tensor:
    """KL(pi_old || pi) per step, as the authors compute it: sum_a p_old (log(p_old + 1e-8) - log(p_new + 1e-8))."""
    p_new = logp_new.exp()
    return (p_old * (torch.log(p_old + EPS) - torch.log(p_new + EPS))).sum(-1)


def policy_terms(policy: nn.Module, inputs: torch.Tensor, actions: torch.Tensor, p_old: torch.Tensor,
                 advantages: torch.Tensor, clip: float, entropy_bonus: float = 0.0
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(clipped surrogate loss minus the entropy bonus, unclipped surrogate loss, mean KL) over one minibatch of
    whole trials."""
    logp = torch.log_softmax(policy(inputs), dim=-1)
    p_new_a = logp.gather(-1, actions[..., None]).squeeze(-1).exp()
    p_old_a = p_old.gather(-1, actions[..., None]).squeeze(-1)
    ratio = (p_new_a + EPS) / (p_old_a + EPS)
    clipped = torch.minimum(ratio * advantages, ratio.clamp(1 - clip, 1 + clip) * advantages)
    loss = -clipped.mean()
    if entropy_bonus:
        loss = loss - entropy_bonus * (-(logp.exp() * logp).sum(-1)).mean()
    return loss, -(ratio * advantages).mean(), categorical_kl(p_old, logp).mean()


def batch_kl(policy: nn.Module, inputs: torch.Tensor, p_old: torch.Tensor, size: int) -> float:
    """The whole batch's KL as the authors' ``loss_diagnostics``: the mean over 128-trial minibatches of each one's
    mean KL."""
    with torch.no_grad():
        return float(torch.stack([categorical_kl(p_old[mb], torch.log_softmax(policy(inputs[mb]), -1)).mean()
                                  for mb in minibatches(len(inputs), size)]).mean())


def optimise_policy(policy: nn.Module, optimiser: torch.optim.Optimizer, inputs: torch.Tensor,
                    actions: torch.Tensor, p_old: torch.Tensor, advantages: torch.Tensor,
                    s: OptimiserSettings) -> dict[str, float]:
    """One iteration's policy update (epochs, best-epoch restore, KL line search); returns diagnostics."""
    def terms(mb: slice) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return policy_terms(policy, inputs[mb], actions[mb], p_old[mb], advantages[mb], s.clip, s.entropy_bonus)

    return optimise(list(policy.parameters()), optimiser, terms,
                    lambda: batch_kl(policy, inputs, p_old, s.minibatch_trials), len(inputs), s)


def optimise(params: list[nn.Parameter], optimiser: torch.optim.Optimizer,
             terms: Callable[[slice], tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
             whole_batch_kl: Callable[[], float], n_trials: int, s: OptimiserSettings) -> dict[str, float]:
    """The update loop of ``pposgd_clip_ratio`` / ``pposgd_joint_ac``: ``s.epochs`` epochs of Adam steps on
    ``terms(minibatch)`` = (loss, unclipped surrogate, mean KL), keeping the parameters of the epoch with the lowest
    unclipped surrogate among those whose mean KL is <= delta, then the backtracking line search on
    ``whole_batch_kl()``."""
    params = [p for p in params if p.requires_grad]
    theta_old = [p.detach().clone() for p in params]
    best, best_loss = None, float("inf")
    epoch_kl = epoch_unclipped = float("nan")
    for _ in range(s.epochs):
        kls, unclipped = [], []
        for mb in minibatches(n_trials, s.minibatch_trials):
            loss, surr, kl = terms(mb)
            clipped_adam_step(params, optimiser, loss, s.grad_clip)
            kls.append(float(kl.detach()))
            unclipped.append(float(surr.detach()))
        epoch_kl, epoch_unclipped = sum(kls) / len(kls), sum(unclipped) / len(unclipped)
        if epoch_kl <= s.max_kl and epoch_unclipped < best_loss:
            best, best_loss = [p.detach().clone() for p in params], epoch_unclipped
    with torch.no_grad():
        if best is not None:
            for p, b in zip(params, best):
                p.copy_(b)
        theta_new = [p.detach().clone() for p in params]
        kl = whole_batch_kl()
        backtracks = 0
        while kl > s.max_kl and backtracks < s.max_backtracks:
            backtracks += 1
            scale = s.backtrack_ratio ** backtracks
            for p, old, new in zip(params, theta_old, theta_new):
                p.copy_(old + scale * (new - old))
            kl = whole_batch_kl()
    return {"mean_kl": kl, "backtracks": float(backtracks), "best_epoch_kept": float(best is not None),
            "last_epoch_kl": epoch_kl, "last_epoch_unclipped_surrogate": epoch_unclipped}


class ValueBaseline:
    """``L2RNNBaseline``: a GRU value function on the observations, fitted to running-normalised discounted returns."""

    def __init__(self, net: nn.Module, settings: OptimiserSettings, moments_rate: float) -> None:
        self.net, self.s, self.rate = net, settings, moments_rate
        self.optimiser = adam(net.parameters(), settings)
        self.mean, self.std = 0.0, 1.0

    def predict(self, obs: torch.Tensor, chunk: int = 4096) -> torch.Tensor:
        with torch.no_grad():
            return torch.cat([self.net(obs[i:i + chunk]).squeeze(-1) for i in range(0, len(obs), chunk)]) \
                * self.std + self.mean

    def fit(self, obs: torch.Tensor, returns: torch.Tensor) -> float:
        """Update the running moments (m <- 0.1 m + 0.9 mean R, then s <- 0.1 s + 0.9 sqrt(mean (R - m)^2) with the
        new m) and run the epochs on the normalised targets; returns the last epoch's mean loss."""
        self.mean = (1 - self.rate) * self.mean + self.rate * float(returns.mean())
        self.std = (1 - self.rate) * self.std + self.rate * float(((returns - self.mean) ** 2).mean().sqrt())
        targets = (returns - self.mean) / self.std
        params = list(self.net.parameters())
        losses: list[float] = []
        for _ in range(self.s.epochs):
            losses = []
            for mb in minibatches(len(obs), self.s.minibatch_trials):
                loss = ((self.net(obs[mb]).squeeze(-1) - targets[mb]) ** 2).mean()
                clipped_adam_step(params, self.optimiser, loss, self.s.grad_clip)
                losses.append(float(loss.detach()))
        return sum(losses) / len(losses)

    def state_dict(self) -> dict:
        return {"net": self.net.state_dict(), "optimiser": self.optimiser.state_dict(), "mean": self.mean,
                "std": self.std}

    def load_state_dict(self, state: dict) -> None:
        self.net.load_state_dict(state["net"])
        self.optimiser.load_state_dict(state["optimiser"])
        self.mean, self.std = state["mean"], state["std"]
