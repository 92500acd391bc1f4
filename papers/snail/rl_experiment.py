"""Entry point of SNAIL on Bernoulli bandits and random tabular MDPs (§4.1, Tables 3-4).

Each iteration plays ceil(batch_steps / T) trials of T = n x episode-length steps in lockstep (every trial a freshly
drawn task, ``shared.tasks``), computes GAE advantages over each whole trial with the value network of the previous
iteration, takes one TRPO step on the policy, then fits the value network. Acting recomputes the causal network on
the trial so far at every step, incrementally (each block caches its past; the output at t depends only on steps
<= t). The reported number is the mean total
reward of ``evaluation_trials`` fresh trials under the final stochastic policy, as Tables 3-4 report it.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from papers.snail.blocks import StepCache
from papers.snail.rl_networks import SnailTrialNet
from papers.snail.trpo import TRPOSettings, trpo_step
from shared.params import ExperimentConfig
from shared.rl.advantages import gae
from shared.run import Run
from shared.tasks.families import make_family
from shared.tasks.trials import TrialVecEnv


def build_networks(hp: dict[str, Any], obs_dim: int, n_actions: int, seq_len: int
                   ) -> tuple[SnailTrialNet, SnailTrialNet]:
    p, v = hp["policy"], hp["value_function"]
    policy = SnailTrialNet(obs_dim, n_actions, seq_len, p["embedding"], p["filters"], p["key_size"], p["value_size"])
    value = SnailTrialNet(obs_dim, 1, seq_len, v["embedding"], v["filters"], v["key_size"], v["value_size"])
    return policy, value


@torch.no_grad()
def rollout(policy: SnailTrialNet, env: TrialVecEnv, seed: int, device: torch.device) -> dict[str, torch.Tensor]:
    """Play one batch of trials with the stochastic policy: inputs (N, T, D), actions (N, T), rewards (N, T)."""
    obs, _ = env.reset(seed=seed)
    steps = env.trial_length
    inputs = torch.zeros(env.num_envs, steps, env.obs_dim, device=device)
    actions = torch.zeros(env.num_envs, steps, dtype=torch.int64)
    rewards = torch.zeros(env.num_envs, steps)
    cache = StepCache(env.num_envs, steps, device)
    for t in range(steps):
        inputs[:, t] = torch.from_numpy(obs).to(device)
        probs = torch.softmax(policy.step(inputs[:, t], cache), dim=-1)
        a = torch.multinomial(probs, 1)[:, 0]
        obs, r, _, _, _ = env.step(a.cpu().numpy())
        actions[:, t], rewards[:, t] = a.cpu(), torch.from_numpy(r).float()
    return {"inputs": inputs.cpu(), "actions": actions, "rewards": rewards}


class ValueFunction:
    """The SNAIL value network, fitted by Adam to the discounted trial returns standardised by the batch's mean and
    standard deviation (predictions are mapped back with the last fit's statistics)."""

    def __init__(self, net: SnailTrialNet, hp: dict[str, Any]) -> None:
        self.net, self.hp = net, hp
        self.optimiser = torch.optim.Adam(net.parameters(), lr=hp["value_learning_rate"])
        self.mean, self.std = 0.0, 1.0

    @torch.no_grad()
    def predict(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.net(*inputs)[..., 0] * self.std + self.mean

    def fit(self, inputs: torch.Tensor | tuple[torch.Tensor, ...], returns: torch.Tensor,
            mask: torch.Tensor | None = None) -> float:
        """Adam epochs on the standardised returns; ``inputs`` is the network's input (or a tuple of them) over
        whole trials, ``mask`` marks the real steps of padded trials."""
        parts = inputs if isinstance(inputs, tuple) else (inputs,)
        mask = torch.ones_like(returns) if mask is None else mask
        real = returns[mask.bool()]
        self.mean, self.std = float(real.mean()), float(real.std()) + 1e-8
        targets = (returns - self.mean) / self.std
        size = self.hp["value_minibatch_trials"]
        losses = []
        for _ in range(self.hp["value_epochs"]):
            for i in range(0, len(returns), size):
                m = mask[i:i + size]
                error = (self.net(*(x[i:i + size] for x in parts))[..., 0] - targets[i:i + size]) ** 2
                loss = (error * m).sum() / m.sum()
                self.optimiser.zero_grad(set_to_none=True)
                loss.backward()
                self.optimiser.step()
                losses.append(float(loss.detach()))
        return float(np.mean(losses))

    def state_dict(self) -> dict[str, Any]:
        return {"net": self.net.state_dict(), "optimiser": self.optimiser.state_dict(), "mean": self.mean,
                "std": self.std}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.net.load_state_dict(state["net"])
        self.optimiser.load_state_dict(state["optimiser"])
        self.mean, self.std = state["mean"], state["std"]


class SnailAgent:
    """The policy network, the value function and the TRPO settings."""

    def __init__(self, hp: dict[str, Any], policy: torch.nn.Module, value: torch.nn.Module,
                 device: torch.device) -> None:
        self.hp, self.device = hp, device
        self.policy = policy.to(device)
        self.value = ValueFunction(value.to(device), hp)
        self.trpo = TRPOSettings(hp["max_kl"], hp["cg_iterations"], hp["cg_damping"], hp["backtrack_ratio"],
                                 hp["max_backtracks"])

    def update(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        hp, dev = self.hp, self.device
        inputs, actions, rewards = (batch[k].to(dev) for k in ("inputs", "actions", "rewards"))
        values = self.value.predict(inputs)  # the value function of the previous iteration (fitted below)
        adv, returns = gae(rewards, values, hp["gamma"], hp["gae_lambda"])
        adv = (adv - adv.mean()) / (adv.std(unbiased=False) + 1e-8)  # rllab center_adv over the whole batch
        with torch.no_grad():
            old_logp_all = torch.log_softmax(self.policy(inputs), dim=-1)
        old_logp = old_logp_all.gather(-1, actions[..., None])[..., 0]

        def objectives() -> tuple[torch.Tensor, torch.Tensor]:
            """(surrogate loss, mean KL(pi_old || pi)) from one forward pass of the policy."""
            logp_all = torch.log_softmax(self.policy(inputs), dim=-1)
            logp = logp_all.gather(-1, actions[..., None])[..., 0]
            surrogate = -(torch.exp(logp - old_logp) * adv).mean()
            return surrogate, (old_logp_all.exp() * (old_logp_all - logp_all)).sum(-1).mean()

        stats = trpo_step(list(self.policy.parameters()), objectives, self.trpo)
        stats["value_loss"] = self.value.fit(inputs, returns)
        return stats

    def state_dict(self) -> dict[str, Any]:
        return {"policy": self.policy.state_dict(), "value": self.value.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.policy.load_state_dict(state["policy"])
        self.value.load_state_dict(state["value"])


def train_snail_rl(config: ExperimentConfig, run: Run) -> dict[str, float]:
    hp, budget = config.hyperparameters, config.budget
    family = make_family(hp)
    n = hp["n_episodes"]
    trial_steps = n * family.horizon
    n_trials = max(1, math.ceil(hp["batch_steps"] / trial_steps))
    env = TrialVecEnv(family, n, n_trials)
    agent = SnailAgent(hp, *build_networks(hp, env.obs_dim, family.n_actions, trial_steps), run.device)
    progress = {"iteration": 0, "env_steps": 0}
    state = run.restore()
    if state is not None:
        agent.load_state_dict(state["agent"])
        progress = state["progress"]
    iterations = budget["iterations"]
    bar = run.progress(total=iterations * n_trials * trial_steps, initial=progress["env_steps"])
    while progress["iteration"] < iterations:
        batch = rollout(agent.policy, env, int(run.rng.integers(2**31 - 1)), run.device)
        average_return = float(batch["rewards"].sum(dim=1).mean())
        stats = agent.update(batch)
        progress["iteration"] += 1
        progress["env_steps"] += n_trials * trial_steps
        run.log(progress["env_steps"], iteration=progress["iteration"], average_return=average_return, **stats)
        bar.update(n_trials * trial_steps)
        bar.set_postfix(ret=f"{average_return:.2f}", kl=f"{stats['mean_kl']:.4f}")
        if progress["iteration"] < iterations and run.checkpoint_due():
            run.save_checkpoint({"agent": agent.state_dict(), "progress": dict(progress)}, progress["env_steps"])
    bar.close()
    eval_env = TrialVecEnv(family, n, budget["evaluation_trials"])
    totals = rollout(agent.policy, eval_env, int(run.rng.integers(2**31 - 1)), run.device)["rewards"].sum(dim=1)
    totals = totals.double().numpy()
    return {"evaluation_return": float(totals.mean()),
            "evaluation_return_se": float(totals.std(ddof=1) / math.sqrt(len(totals))),
            "iterations": progress["iteration"], "env_steps": progress["env_steps"]}
