"""DDPG (Lillicrap et al. 2015) as App. A configures it, with the 8 workers "which average the parameters after every
update" (§4.1) emulated in one process like the bit-flipping DQN: stacked per-worker copies of actor and critic, each
worker's loss on its own minibatch, one Adam step per worker (Adam is elementwise), then the parameter mean.

Actor: 3 x 64 ReLU, tanh output (actions in [-1, 1], which the env scales to +-5 cm); its cost is
-Q(s, pi(s)) plus ``action_l2`` x the mean squared tanh pre-activation (App. A "Network architecture").
Critic: 3 x 64 ReLU on (critic features, action); target y = clip(r + gamma Q'(s', pi'(s')), [lo, hi]) with gamma on
every transition (no terminal mask) and the clip range [-1/(1-gamma), 0] of App. A "Training procedure".
"""
from __future__ import annotations

import torch

from papers.her.dqn_workers import WorkerQNetworks


class DDPGWorkers:
    """W online actor/critic copies with their optimisers, and one target actor/critic (W = 1)."""

    def __init__(self, workers: int, actor_in: int, critic_in: int, action_dim: int, hidden: list[int],
                 lr_actor: float, lr_critic: float, betas: tuple[float, float], eps: float, device: torch.device) -> None:
        self.workers, self.actor_in = workers, actor_in
        self.actor = WorkerQNetworks(workers, actor_in, hidden, action_dim).to(device)
        self.critic = WorkerQNetworks(workers, critic_in + action_dim, hidden, 1).to(device)
        self.target_actor = WorkerQNetworks(1, actor_in, hidden, action_dim).to(device)
        self.target_critic = WorkerQNetworks(1, critic_in + action_dim, hidden, 1).to(device)
        with torch.no_grad():
            for target, online in ((self.target_actor, self.actor), (self.target_critic, self.critic)):
                for t, o in zip(target.parameters(), online.parameters()):
                    t.copy_(o[:1])
        fused = device.type in ("cpu", "cuda")
        self.actor_opt = torch.optim.Adam(self.actor.parameters(), lr=lr_actor, betas=betas, eps=eps, fused=fused)
        self.critic_opt = torch.optim.Adam(self.critic.parameters(), lr=lr_critic, betas=betas, eps=eps, fused=fused)

    def act(self, actor_features: torch.Tensor, use_target: bool) -> torch.Tensor:
        """Deterministic pi(s) in [-1, 1] of one copy (all copies are equal after averaging): [B, in] -> [B, A]."""
        with torch.no_grad():
            net = self.target_actor if use_target else self.actor
            return torch.tanh(net.forward_worker(actor_features))

    def critic_targets(self, next_critic_x: torch.Tensor, rewards: torch.Tensor, gamma: float,
                       clip: tuple[float, float]) -> torch.Tensor:
        """y = clip(r + gamma Q'(s', pi'(s')), clip) from the target networks; gamma on every transition (App. A)."""
        a_in = self.actor_in
        with torch.no_grad():
            flat = next_critic_x.reshape(-1, next_critic_x.shape[-1])
            next_pi = torch.tanh(self.target_actor.forward_worker(flat[:, :a_in]))
            next_q = self.target_critic.forward_worker(torch.cat([flat, next_pi], -1)).view(rewards.shape)
            return (rewards + gamma * next_q).clamp_(*clip)

    def update(self, critic_x: torch.Tensor, actions: torch.Tensor, rewards: torch.Tensor, next_critic_x: torch.Tensor,
               gamma: float, clip: tuple[float, float], action_l2: float) -> dict[str, float]:
        """One optimisation step of every worker on its own minibatch ([W, B, ...]), then parameter averaging.
        The actor features are the first ``actor_in`` critic features."""
        a_in = self.actor_in
        y = self.critic_targets(next_critic_x, rewards, gamma, clip)
        q = self.critic(torch.cat([critic_x, actions], -1)).squeeze(-1)  # [W, B]
        critic_loss = ((q - y) ** 2).mean(1).sum()  # each worker's mean, summed so each gets its own gradient

        preact = self.actor(critic_x[..., :a_in])
        q_pi = self.critic(torch.cat([critic_x, torch.tanh(preact)], -1)).squeeze(-1)
        actor_loss = (-q_pi.mean(1) + action_l2 * (preact ** 2).mean((1, 2))).sum()

        actor_params = list(self.actor.parameters())
        actor_grads = torch.autograd.grad(actor_loss, actor_params)  # leaves the critic's .grad alone
        self.critic_opt.zero_grad(set_to_none=True)
        critic_loss.backward()
        for p, g in zip(actor_params, actor_grads):
            p.grad = g
        self.critic_opt.step()
        self.actor_opt.step()
        self.actor.average_workers()
        self.critic.average_workers()
        return {"critic_loss": float(critic_loss.detach()) / self.workers,
                "actor_loss": float(actor_loss.detach()) / self.workers, "q": float(q.detach().mean())}

    def update_targets(self, polyak: float) -> None:
        """App. A: target networks updated after every cycle with decay 0.95."""
        self.target_actor.polyak_from(self.actor, polyak)
        self.target_critic.polyak_from(self.critic, polyak)

    def state_dict(self) -> dict:
        return {name: getattr(self, name).state_dict() for name in
                ("actor", "critic", "target_actor", "target_critic", "actor_opt", "critic_opt")}

    def load_state_dict(self, state: dict) -> None:
        for name, value in state.items():
            getattr(self, name).load_state_dict(value)
