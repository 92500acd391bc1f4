"""Entry point of the RL^2 agent (§2, §3.1-3.2; Tables 1-2): a GRU policy trained by first-order TRPO on trials of
n episodes of tasks drawn from a family (Bernoulli bandits or random tabular MDPs).

Each iteration samples ``batch_steps`` environment steps as ceil(batch_steps / (n T)) trials played in lockstep
(every trial a freshly drawn task), computes GAE advantages across the whole trial with the baseline fitted on the
previous batch, fits the baseline, then updates the policy. The learning curve's ``average_return`` is the mean
undiscounted total reward per training trial (the authors' ``AverageReturn``); the final number is the last policy
evaluated on fresh trials with its stochastic actions (the authors' evaluate_bandits_rnn.py).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from papers.rl2.first_order_trpo import ValueBaseline, adam, optimise_policy, settings_from
from papers.rl2.gru import GRUHead, categorical_sample, policy_inputs
from shared.params import ExperimentConfig
from shared.rl.advantages import gae
from shared.run import Run
from shared.tasks.families import make_family
from shared.tasks.trials import TrialVecEnv


def rollout(policy: GRUHead, env: TrialVecEnv, seed: int, include_prev_action: bool,
            device: torch.device) -> dict[str, torch.Tensor]:
    """Play one batch of trials with the stochastic policy: obs (N, T, D), actions (N, T), action probabilities
    (N, T, A) and rewards (N, T)."""
    n_actions = env.family.n_actions
    obs, _ = env.reset(seed=seed)
    steps = env.trial_length
    all_obs = torch.zeros(env.num_envs, steps, env.obs_dim)
    actions = torch.zeros(env.num_envs, steps, dtype=torch.int64)
    probs = torch.zeros(env.num_envs, steps, n_actions)
    rewards = torch.zeros(env.num_envs, steps)
    with torch.no_grad():
        w_x, w_h = policy.gru.weights()
        h = torch.zeros(env.num_envs, policy.gru.hidden, device=device)
        prev = torch.zeros(env.num_envs, n_actions, device=device)
        for t in range(steps):
            x = torch.from_numpy(obs).to(device)
            all_obs[:, t] = x.cpu()
            if include_prev_action:
                x = torch.cat([x, prev], dim=-1)
            h = policy.gru.step(x @ w_x + policy.gru.b, h, w_h)
            p = torch.softmax(policy.out(h), dim=-1)
            a = categorical_sample(p)
            obs, r, _, _, _ = env.step(a.cpu().numpy())
            actions[:, t], probs[:, t], rewards[:, t] = a.cpu(), p.cpu(), torch.from_numpy(r).float()
            if include_prev_action:
                prev = torch.nn.functional.one_hot(a, n_actions).float()
    return {"obs": all_obs, "actions": actions, "probs": probs, "rewards": rewards}


class RL2Agent:
    """Policy GRU, baseline GRU and their optimisers."""

    def __init__(self, hp: dict[str, Any], obs_dim: int, n_actions: int, device: torch.device) -> None:
        self.hp, self.device, self.n_actions = hp, device, n_actions
        self.include_prev_action = bool(hp["policy_prev_action_input"])
        policy_in = obs_dim + (n_actions if self.include_prev_action else 0)
        self.policy = GRUHead(policy_in, hp["hidden_units"], n_actions).to(device)
        self.settings = settings_from(hp)
        self.optimiser = adam(self.policy.parameters(), self.settings)
        self.baseline = ValueBaseline(GRUHead(obs_dim, hp["hidden_units"], 1).to(device), self.settings,
                                      hp["baseline_moments_rate"])

    def update(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        hp, dev = self.hp, self.device
        obs, actions = batch["obs"].to(dev), batch["actions"].to(dev)
        probs, rewards = batch["probs"].to(dev), batch["rewards"].to(dev)
        values = self.baseline.predict(obs)  # the baseline of the previous batch (fitted below)
        adv, returns = gae(rewards, values, hp["gamma"], hp["gae_lambda"])
        adv = (adv - adv.mean()) / (adv.std(unbiased=False) + 1e-8)  # center_adv over every step of the batch
        baseline_loss = self.baseline.fit(obs, returns)
        inputs = policy_inputs(obs, actions, self.n_actions, self.include_prev_action)
        stats = optimise_policy(self.policy, self.optimiser, inputs, actions, probs, adv, self.settings)
        return {**stats, "baseline_loss": baseline_loss}

    def state_dict(self) -> dict[str, Any]:
        return {"policy": self.policy.state_dict(), "optimiser": self.optimiser.state_dict(),
                "baseline": self.baseline.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.policy.load_state_dict(state["policy"])
        self.optimiser.load_state_dict(state["optimiser"])
        self.baseline.load_state_dict(state["baseline"])


def evaluate(agent: RL2Agent, family: Any, n_episodes: int, trials: int, seed: int) -> np.ndarray:
    """Total reward of each of ``trials`` fresh trials under the stochastic policy."""
    env = TrialVecEnv(family, n_episodes, trials)
    batch = rollout(agent.policy, env, seed, agent.include_prev_action, agent.device)
    return batch["rewards"].sum(dim=1).double().numpy()


def train_rl2(config: ExperimentConfig, run: Run) -> dict[str, float]:
    hp, budget = config.hyperparameters, config.budget
    family = make_family(hp)
    n = hp["n_episodes"]
    trial_steps = n * family.horizon
    n_trials = max(1, math.ceil(hp["batch_steps"] / trial_steps))
    env = TrialVecEnv(family, n, n_trials)
    agent = RL2Agent(hp, env.obs_dim, family.n_actions, run.device)
    progress = {"iteration": 0, "env_steps": 0}
    state = run.restore()
    if state is not None:
        agent.load_state_dict(state["agent"])
        progress = state["progress"]
    iterations = budget["iterations"]
    bar = run.progress(total=iterations * n_trials * trial_steps, initial=progress["env_steps"])
    while progress["iteration"] < iterations:
        batch = rollout(agent.policy, env, int(run.rng.integers(2**31 - 1)), agent.include_prev_action, run.device)
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
    totals = evaluate(agent, family, n, budget["evaluation_trials"], int(run.rng.integers(2**31 - 1)))
    returns = [row["average_return"] for row in run.curve]
    window = hp["selection_window"]
    return {"evaluation_return": float(totals.mean()),
            "evaluation_return_se": float(totals.std(ddof=1) / math.sqrt(len(totals))),
            "train_return_last_window": float(np.mean(returns[-window:])),
            "iterations": progress["iteration"], "env_steps": progress["env_steps"]}
