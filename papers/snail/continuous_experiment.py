"""Entry point of SNAIL on continuous control (§4.3, Fig. 4): the half-cheetah and ant goal-velocity and
goal-direction tasks of Finn et al. (MAML §5.3), in the rllab-matched MuJoCo envs of ``shared.tasks.locomotion``.

A trial is 2 episodes of at most 200 steps on one task (Fig. 4: SNAIL "gets 2 episodes"); the agent's input at each
step is the RL² trial input (observation, previous action, previous reward, termination flag). The policy is a
Gaussian whose mean is a SNAIL network over the trial so far and whose log standard deviation is a free parameter
(rllab's GaussianMLPPolicy convention, initial std 1); the value function is a second SNAIL network. Training is
TRPO with GAE on ``batch_steps / 400`` trials per iteration played in lockstep (an ant episode that terminates
early starts the next one at once; a finished trial waits, masked). The paper plots the average return of
episodes 1 and 2 on test tasks (Fig. 4) and prints no number: the run reports both.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

from papers.snail.blocks import StepCache
from papers.snail.rl_experiment import SnailAgent
from papers.snail.rl_networks import SnailTrialNet
from papers.snail.trpo import trpo_step
from shared.params import ExperimentConfig
from shared.rl.advantages import gae
from shared.run import Run
from shared.tasks.locomotion import LOCOMOTION_ENVS, make_locomotion_env


class GaussianSnail(nn.Module):
    """The mean from a ``SnailTrialNet``; a state-independent log standard deviation per action dimension."""

    def __init__(self, net: SnailTrialNet, action_dim: int) -> None:
        super().__init__()
        self.net = net
        self.log_std = nn.Parameter(torch.zeros(action_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def step(self, x: torch.Tensor, cache: StepCache) -> torch.Tensor:
        return self.net.step(x, cache)

    def log_prob(self, mean: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        z = (actions - mean) / self.log_std.exp()
        return (-0.5 * z ** 2 - self.log_std - 0.5 * math.log(2 * math.pi)).sum(-1)


def gaussian_kl(mean_old: torch.Tensor, log_std_old: torch.Tensor, mean: torch.Tensor,
                log_std: torch.Tensor) -> torch.Tensor:
    """KL(N(mean_old, std_old) || N(mean, std)) summed over action dimensions, per step."""
    var_old, var = (2 * log_std_old).exp(), (2 * log_std).exp()
    return (log_std - log_std_old + (var_old + (mean_old - mean) ** 2) / (2 * var) - 0.5).sum(-1)


@torch.no_grad()
def play(policy: GaussianSnail, task_name: str, tasks: np.ndarray, n_episodes: int, horizon: int, seed: int,
         device: torch.device) -> dict[str, torch.Tensor]:
    """One trial per task in lockstep: inputs (B, T, obs + action + 2), actions, rewards, the mask of real steps,
    and each trial's episode returns (B, n_episodes)."""
    envs = [make_locomotion_env(task_name, max_episode_steps=horizon) for _ in tasks]
    for env, task in zip(envs, tasks):
        env.unwrapped.set_task(float(task))
    obs = np.stack([env.reset(seed=seed + i)[0] for i, env in enumerate(envs)])
    n, length, a_dim = len(tasks), n_episodes * horizon, envs[0].action_space.shape[0]
    width = obs.shape[1] + a_dim + 2
    batch = {"inputs": torch.zeros(n, length, width), "actions": torch.zeros(n, length, a_dim),
             "rewards": torch.zeros(n, length), "mask": torch.zeros(n, length)}
    returns = np.zeros((n, n_episodes))
    episode = np.zeros(n, dtype=np.int64)
    prev = np.zeros((n, a_dim + 2), dtype=np.float32)
    prev[:, -1] = 1.0  # a trial starts with action 0, reward 0 and the flag set
    cache = StepCache(n, length, device)
    for t in range(length):
        live = episode < n_episodes
        if not live.any():
            break
        x = torch.from_numpy(np.concatenate([obs, prev], axis=1)).float()
        mean = policy.step(x.to(device), cache).cpu()
        actions = (mean + policy.log_std.exp().cpu() * torch.randn_like(mean)).numpy()
        prev = np.zeros_like(prev)
        for i in np.nonzero(live)[0]:
            o, r, terminated, truncated, _ = envs[i].step(actions[i])
            batch["inputs"][i, t], batch["actions"][i, t] = x[i], torch.from_numpy(actions[i])
            batch["rewards"][i, t], batch["mask"][i, t] = r, 1.0
            returns[i, episode[i]] += r
            prev[i, :a_dim], prev[i, a_dim] = actions[i], r
            if terminated or truncated:
                prev[i, -1] = 1.0
                episode[i] += 1
                if episode[i] < n_episodes:
                    o, _ = envs[i].reset()  # the same task: the goal is kept across the trial's episodes
            obs[i] = o
    for env in envs:
        env.close()
    batch["episode_returns"] = torch.from_numpy(returns)
    return batch


class SnailControlAgent(SnailAgent):
    """``rl_experiment.SnailAgent`` with a Gaussian policy on padded trials."""

    def __init__(self, hp: dict[str, Any], input_dim: int, action_dim: int, seq_len: int,
                 device: torch.device) -> None:
        p, v = hp["policy"], hp["value_function"]
        policy = GaussianSnail(SnailTrialNet(input_dim, action_dim, seq_len, p["embedding"], p["filters"],
                                             p["key_size"], p["value_size"]), action_dim)
        value = SnailTrialNet(input_dim, 1, seq_len, v["embedding"], v["filters"], v["key_size"], v["value_size"])
        super().__init__(hp, policy, value, device)

    def update(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        hp, dev = self.hp, self.device
        inputs, actions, rewards, mask = (batch[k].to(dev) for k in ("inputs", "actions", "rewards", "mask"))
        values = self.value.predict(inputs) * mask
        adv, returns = gae(rewards, values, hp["gamma"], hp["gae_lambda"])
        real = mask.bool()
        adv = (adv - adv[real].mean()) / (adv[real].std(unbiased=False) + 1e-8) * mask
        count = mask.sum()
        with torch.no_grad():
            mean_old, log_std_old = self.policy(inputs), self.policy.log_std.detach().clone()
            logp_old = self.policy.log_prob(mean_old, actions)

        def objectives() -> tuple[torch.Tensor, torch.Tensor]:
            mean = self.policy(inputs)
            ratio = torch.exp(self.policy.log_prob(mean, actions) - logp_old)
            kl = gaussian_kl(mean_old, log_std_old, mean, self.policy.log_std)
            return -(ratio * adv * mask).sum() / count, (kl * mask).sum() / count

        stats = trpo_step(list(self.policy.parameters()), objectives, self.trpo)
        stats["value_loss"] = self.value.fit(inputs, returns, mask)
        return stats


def train_snail_control(config: ExperimentConfig, run: Run) -> dict[str, float]:
    hp, budget = config.hyperparameters, config.budget
    name, n, horizon = hp["task"], hp["n_episodes"], hp["horizon"]
    probe = make_locomotion_env(name, max_episode_steps=horizon)
    obs_dim, action_dim = probe.observation_space.shape[0], probe.action_space.shape[0]
    probe.close()
    seq_len = n * horizon
    n_trials = max(1, hp["batch_steps"] // seq_len)
    agent = SnailControlAgent(hp, obs_dim + action_dim + 2, action_dim, seq_len, run.device)
    progress = {"iteration": 0, "env_steps": 0}
    state = run.restore()
    if state is not None:
        agent.load_state_dict(state["agent"])
        progress = state["progress"]
    iterations = budget["iterations"]
    bar = run.progress(total=iterations * n_trials * seq_len, initial=progress["env_steps"])
    while progress["iteration"] < iterations:
        tasks = LOCOMOTION_ENVS[name].sample_tasks(run.rng, n_trials)
        batch = play(agent.policy, name, tasks, n, horizon, int(run.rng.integers(2**31 - 1)), run.device)
        steps = int(batch["mask"].sum())
        episode_returns = batch["episode_returns"].mean(0)
        stats = agent.update(batch)
        progress["iteration"] += 1
        progress["env_steps"] += steps
        run.log(progress["env_steps"], iteration=progress["iteration"],
                average_return=float(batch["episode_returns"].sum(1).mean()),
                **{f"episode{k + 1}_return": float(v) for k, v in enumerate(episode_returns)}, **stats)
        bar.update(steps)
        bar.set_postfix(ret=f"{float(episode_returns.sum()):.1f}")
        if progress["iteration"] < iterations and run.checkpoint_due():
            run.save_checkpoint({"agent": agent.state_dict(), "progress": dict(progress)}, progress["env_steps"])
    bar.close()
    tasks = LOCOMOTION_ENVS[name].sample_tasks(run.rng, budget["evaluation_trials"])
    test = play(agent.policy, name, tasks, n, horizon, int(run.rng.integers(2**31 - 1)), run.device)
    per_episode = test["episode_returns"]
    metrics: dict[str, float] = {"iterations": progress["iteration"], "env_steps": progress["env_steps"]}
    for k in range(n):
        metrics[f"test_episode{k + 1}_return"] = float(per_episode[:, k].mean())
        metrics[f"test_episode{k + 1}_return_se"] = float(per_episode[:, k].std() / math.sqrt(len(per_episode)))
    return metrics
