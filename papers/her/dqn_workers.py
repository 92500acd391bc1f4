"""DQN as App. A describes it for bit-flipping, with the 8 workers "which average the parameters after every
update" (§4.1) emulated in one process: every tensor carries a leading worker axis W, each worker computes its
gradient on its own minibatch and takes its own Adam step (Adam is elementwise, so one Adam over the stacked
tensors is exactly W independent optimisers), then the parameters are replaced by their mean over workers.
"""
from __future__ import annotations

import torch
from torch import nn


class WorkerQNetworks(nn.Module):
    """W copies of an MLP Q(s||g, .) with ReLU hidden layers; all copies start from the same initialisation."""

    def __init__(self, workers: int, in_dim: int, hidden: list[int], n_actions: int) -> None:
        super().__init__()
        sizes = [in_dim, *hidden, n_actions]
        template = [nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:])]  # PyTorch's default init
        self.weights = nn.ParameterList(
            [nn.Parameter(layer.weight.detach().T.unsqueeze(0).repeat(workers, 1, 1).contiguous()) for layer in template])
        self.biases = nn.ParameterList(
            [nn.Parameter(layer.bias.detach().view(1, 1, -1).repeat(workers, 1, 1).contiguous()) for layer in template])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: [W, B, in] -> Q-values [W, B, n_actions]."""
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            x = torch.baddbmm(b, x, w)
            if i < len(self.weights) - 1:
                x = torch.relu(x)
        return x

    def forward_worker(self, x: torch.Tensor, worker: int = 0) -> torch.Tensor:
        """x: [B, in] through one worker's copy (all copies are equal after averaging)."""
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            x = torch.addmm(b[worker, 0], x, w[worker])
            if i < len(self.weights) - 1:
                x = torch.relu(x)
        return x

    @torch.no_grad()
    def average_workers(self) -> None:
        """theta_w <- mean_w theta_w for every parameter (the §4.1 averaging)."""
        for p in self.parameters():
            p.copy_(p.mean(0, keepdim=True).expand_as(p))

    @torch.no_grad()
    def polyak_from(self, online: "WorkerQNetworks", decay: float) -> None:
        """theta' <- decay * theta' + (1 - decay) * theta (App. A: after every cycle, decay 0.95)."""
        for target, source in zip(self.parameters(), online.parameters()):
            target.mul_(decay).add_(source[: target.shape[0]], alpha=1.0 - decay)


def dqn_targets(target_net: WorkerQNetworks, next_inputs: torch.Tensor, rewards: torch.Tensor, gamma: float,
                clip_low: float, clip_high: float) -> torch.Tensor:
    """y = clip(r + gamma * max_a' Q'(s'||g, a'), [-1/(1-gamma), 0]); gamma applies to every transition, also the
    ones that end an episode (App. A), so there is no terminal mask."""
    with torch.no_grad():  # one target network (the workers' parameters are equal after averaging)
        flat = target_net.forward_worker(next_inputs.reshape(-1, next_inputs.shape[-1]))
        next_q = flat.max(dim=-1).values.view(next_inputs.shape[:-1])
        return (rewards + gamma * next_q).clamp_(clip_low, clip_high)


def dqn_loss(online: WorkerQNetworks, inputs: torch.Tensor, actions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Sum over workers of each worker's mean squared TD error, so each worker's slice gets its own gradient."""
    q = online(inputs).gather(-1, actions.unsqueeze(-1)).squeeze(-1)  # [W, B]
    return ((q - targets) ** 2).mean(dim=1).sum()
