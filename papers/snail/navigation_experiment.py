"""Entry point of SNAIL visual navigation (§4.2, Table 5) on RL²'s random ViZDoom mazes (``shared.tasks.doom_maze``).

The paper gives the task (RL²'s: 2 episodes per trial, 250 steps each in the small mazes, 1000 in the large ones,
trained on 1000 mazes, tested on 1000 unseen mazes of each size) and "TRPO with GAE"; its training settings are in
the unavailable appendix, so they are borrowed from RL²'s navigation launcher and rllab's TRPO (paper.yaml). Each
iteration plays ``batch_steps / (2 x 250)`` trials in lockstep from fresh mazes (a finished trial waits for the
others; the causal network runs over the padded trial), computes GAE over each whole trial with the value network of
the previous iteration, takes one TRPO step, then fits the value network. Evaluation: Table 5's average time to
find the goal (the mean length of the successful episodes, RL²'s measure) in episodes 1 and 2 of 1000 trials in
unseen mazes of each size.
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from papers.snail.blocks import StepCache
from papers.snail.navigation_networks import EXTRAS, SnailNavNet
from papers.snail.rl_experiment import SnailAgent
from papers.snail.trpo import trpo_step
from shared.params import ExperimentConfig
from shared.rl.advantages import gae
from shared.run import Run
from shared.tasks import doom_maze as dm


def build_net(hp: dict[str, Any], spec: dict[str, Any], outputs: int, seq_len: int) -> SnailNavNet:
    return SnailNavNet(dm.IMAGE_SHAPE, outputs, seq_len, hp["conv_layers"], hp["conv_filters"], hp["conv_kernel"],
                       hp["conv_stride"], hp["features"], spec["blocks"])


@torch.no_grad()
def play(policy: SnailNavNet, env: dm.DoomMazeTrials, length: int, rng: np.random.Generator,
         device: torch.device) -> dict[str, torch.Tensor]:
    """One trial per game, in lockstep from fresh mazes, with the stochastic policy: (B, length, ...) tensors
    (images, extras, actions, rewards, ended, reached) and the mask of each trial's real steps."""
    n = env.num_envs
    batch = {"images": torch.zeros(n, length, *dm.IMAGE_SHAPE), "extras": torch.zeros(n, length, EXTRAS),
             "actions": torch.zeros(n, length, dtype=torch.int64), "rewards": torch.zeros(n, length),
             "ended": torch.zeros(n, length, dtype=torch.bool), "reached": torch.zeros(n, length, dtype=torch.bool),
             "mask": torch.zeros(n, length)}
    images = torch.from_numpy(env.reset(rng))
    extras = torch.zeros(n, EXTRAS)
    extras[:, 0], extras[:, 4] = 1.0, 1.0  # a trial starts with action 0, reward 0 and the flag set
    cache = StepCache(n, length, device)
    for t in range(length):
        live = torch.from_numpy(~env.trial_done)
        if not live.any():
            break
        logits = policy.step(images.to(device), extras.to(device), cache)
        actions = torch.multinomial(torch.softmax(logits, -1), 1)[:, 0].cpu()
        next_images, rewards, ended, reached = env.step(actions.numpy())
        for key, value in (("images", images), ("extras", extras), ("actions", actions),
                           ("rewards", torch.from_numpy(rewards).float()), ("ended", torch.from_numpy(ended)),
                           ("reached", torch.from_numpy(reached)), ("mask", live.float())):
            batch[key][:, t] = value * live.view(-1, *[1] * (value.dim() - 1)) if value.dtype != torch.bool \
                else value & live
        extras = torch.zeros(n, EXTRAS)
        extras[torch.arange(n), actions] = 1.0
        extras[:, 3], extras[:, 4] = torch.from_numpy(rewards).float(), torch.from_numpy(ended).float()
        images = torch.from_numpy(next_images)
    return batch


def trials_of(batch: dict[str, torch.Tensor]) -> list[dict[str, np.ndarray]]:
    """The padded batch as per-trial ``ended`` / ``reached`` arrays for ``dm.episode_table``."""
    lengths = batch["mask"].sum(1).long()
    return [{"ended": batch["ended"][b, :n].numpy(), "reached": batch["reached"][b, :n].numpy()}
            for b, n in enumerate(lengths.tolist())]


class SnailNavAgent(SnailAgent):
    """``rl_experiment.SnailAgent`` on image trials of unequal lengths: every average runs over the real steps."""

    def __init__(self, hp: dict[str, Any], seq_len: int, device: torch.device) -> None:
        super().__init__(hp, build_net(hp, hp["policy"], dm.N_ACTIONS, seq_len),
                         build_net(hp, hp["value_function"], 1, seq_len), device)

    def update(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        hp, dev = self.hp, self.device
        images, extras, actions, rewards, mask = (batch[k].to(dev) for k in
                                                  ("images", "extras", "actions", "rewards", "mask"))
        values = self.value.predict(images, extras) * mask  # the previous iteration's value network
        adv, returns = gae(rewards, values, hp["gamma"], hp["gae_lambda"])
        real = mask.bool()
        adv = (adv - adv[real].mean()) / (adv[real].std(unbiased=False) + 1e-8) * mask
        count = mask.sum()
        with torch.no_grad():
            old_logp_all = torch.log_softmax(self.policy(images, extras), dim=-1)
        old_logp = old_logp_all.gather(-1, actions[..., None])[..., 0]

        def objectives() -> tuple[torch.Tensor, torch.Tensor]:
            logp_all = torch.log_softmax(self.policy(images, extras), dim=-1)
            logp = logp_all.gather(-1, actions[..., None])[..., 0]
            surrogate = -(torch.exp(logp - old_logp) * adv * mask).sum() / count
            kl = ((old_logp_all.exp() * (old_logp_all - logp_all)).sum(-1) * mask).sum() / count
            return surrogate, kl

        stats = trpo_step(list(self.policy.parameters()), objectives, self.trpo)
        stats["value_loss"] = self.value.fit((images, extras), returns, mask)
        return stats


def games(wad: Path, hp: dict[str, Any], n_maps: int, count: int, horizon: int, seed: int) -> dm.DoomMazeTrials:
    return dm.DoomMazeTrials(wad, n_maps, count, hp["n_episodes"], horizon, seed, hp["living_reward_per_tic"],
                             hp["frame_skip"], hp["goal_reward"])


def train_snail_navigation(config: ExperimentConfig, run: Run) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="snail_mazes_") as folder:  # the WADs are rebuilt from their seeds
        return _train(config, run, Path(folder))


def _train(config: ExperimentConfig, run: Run, folder: Path) -> dict[str, float]:
    hp, budget = config.hyperparameters, config.budget
    seq_len = hp["n_episodes"] * hp["horizon"]
    wad = folder / "train.wad"
    dm.write_wad(wad, dm.maze_set(hp["maze_size"], hp["train_mazes"], hp["train_maze_seed"]), hp["goal_reward"],
                 hp["wall_penalty"])
    env = games(wad, hp, hp["train_mazes"], max(1, hp["batch_steps"] // seq_len), hp["horizon"],
                seed=int(run.rng.integers(2**31 - 1)))
    agent = SnailNavAgent(hp, seq_len, run.device)
    progress = {"iteration": 0, "env_steps": 0}
    state = run.restore()
    if state is not None:
        agent.load_state_dict(state["agent"])
        progress = state["progress"]
    iterations = budget["iterations"]
    bar = run.progress(total=iterations * env.num_envs * seq_len, initial=progress["env_steps"])
    while progress["iteration"] < iterations:
        batch = play(agent.policy, env, seq_len, run.rng, run.device)
        steps = int(batch["mask"].sum())
        average_return = float(batch["rewards"].sum(1).mean())
        success = float(batch["reached"].float().sum(1).mean() / hp["n_episodes"])
        stats = agent.update(batch)
        progress["iteration"] += 1
        progress["env_steps"] += steps
        run.log(progress["env_steps"], iteration=progress["iteration"], average_return=average_return,
                success_rate=success, **stats)
        bar.update(steps)
        bar.set_postfix(ret=f"{average_return:.2f}", success=f"{success:.2f}")
        if progress["iteration"] < iterations and run.checkpoint_due():
            run.save_checkpoint({"agent": agent.state_dict(), "progress": dict(progress)}, progress["env_steps"])
    bar.close()
    env.close()
    metrics: dict[str, float] = {"iterations": progress["iteration"], "env_steps": progress["env_steps"]}
    for name, size, horizon in (("small", hp["maze_size"], hp["test_horizon_small"]),
                                ("large", hp["large_maze_size"], hp["test_horizon_large"])):
        wad = folder / f"test_{name}.wad"
        dm.write_wad(wad, dm.maze_set(size, hp["test_mazes"], hp["test_maze_seed"]), hp["goal_reward"],
                     hp["wall_penalty"])
        trials: list[dict[str, np.ndarray]] = []
        while len(trials) < budget["evaluation_trials"]:
            count = min(hp["max_envs"], budget["evaluation_trials"] - len(trials))
            test_env = games(wad, hp, hp["test_mazes"], count, horizon, seed=int(run.rng.integers(2**31 - 1)))
            trials += trials_of(play(agent.policy, test_env, hp["n_episodes"] * horizon, run.rng, run.device))
            test_env.close()
        metrics.update({f"{name}_{k}": v for k, v in dm.episode_table(trials, hp["n_episodes"], horizon).items()})
    return metrics
