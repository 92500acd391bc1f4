"""Entry point of RL^2 visual navigation (§3.3, Table 3) on the random ViZDoom mazes of ``shared.tasks.doom_maze``.

Training follows the authors' run behind Table 3 (florensacc/rllab-curriculum@6e0bbae9
launchers/102016/1030/doom_maze_77.py, algos/pposgd_joint_ac.py): trials of 2 episodes of at most 250 steps in
one of 1000 fixed small mazes; each iteration restarts every game and collects whole trials until the batch holds
``batch_steps`` steps (the rllab vectorized sampler; unfinished trials are dropped); advantages by GAE over each
whole trial from the shared value head (gamma 0.99; lambda 1: the launcher's 0.99 never reaches the algorithm),
centred and scaled; the joint loss of the clipped surrogate (clip 0.1) and 0.5 x the squared error of the value
in units of the running return scale, minimised by Adam over minibatches of 32 trials with full back-propagation
through time, 5 epochs, then the KL line search of ``first_order_trpo.optimise``.

Evaluation as the authors' analysis script (scripts/visual_nav/doom_maze_analysis.py and
doom_maze_post_analysis.py): 1000 trials of 5 episodes in 1000 unseen mazes (seed 1) of each size, small (5 x 5,
episodes of at most 250 steps) and large (9 x 9, 1000 steps), stochastic policy; per episode the success rate and
the mean length of the successful episodes; and the share of trials whose episode 2 is no longer than episode 1
(a failed episode counted at the horizon).
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from papers.rl2.first_order_trpo import adam, categorical_kl, minibatches, optimise, settings_from
from papers.rl2.navigation_network import EXTRAS, NavigationNet
from shared.params import ExperimentConfig
from shared.rl.advantages import gae
from shared.run import Run
from shared.tasks import doom_maze as dm

EPS = 1e-8


def build_wad(folder: Path, name: str, size: int, count: int, seed: int, hp: dict[str, Any]) -> Path:
    path = folder / f"{name}.wad"
    dm.write_wad(path, dm.maze_set(size, count, seed), hp["goal_reward"], hp["wall_penalty"])
    return path


def make_trials(wad: Path, hp: dict[str, Any], n_maps: int, num_envs: int, n_episodes: int, horizon: int,
                seed: int) -> dm.DoomMazeTrials:
    return dm.DoomMazeTrials(wad, n_maps, num_envs, n_episodes, horizon, seed, hp["living_reward_per_tic"],
                             hp["frame_skip"], hp["goal_reward"])


@torch.no_grad()
def collect(net: NavigationNet, env: dm.DoomMazeTrials, min_steps: int | None, trials: int | None,
            rng: np.random.Generator, device: torch.device) -> list[dict[str, np.ndarray]]:
    """Whole trials played by the stochastic policy, every game restarted first: until ``min_steps`` steps are in
    finished trials (training), or exactly ``trials`` trials (evaluation). Each trial: images, extras (previous
    action one-hot, reward, flag), actions, rewards, old probabilities, episode ends and goal reaches."""
    n = env.num_envs
    images = env.reset(rng)
    extras = np.zeros((n, EXTRAS), dtype=np.float32)
    extras[:, 0], extras[:, 4] = 1.0, 1.0  # a trial starts with action 0, reward 0 and the flag set
    h = torch.zeros(n, net.gru.hidden, device=device)
    running = [_empty() for _ in range(n)]
    done: list[dict[str, np.ndarray]] = []
    steps, started = 0, n
    while (min_steps is not None and steps < min_steps) or (trials is not None and len(done) < trials):
        logits, _, h = net.step(torch.from_numpy(images).to(device), torch.from_numpy(extras).to(device), h)
        probs = torch.softmax(logits, -1)
        actions = torch.multinomial(probs, 1)[:, 0].cpu().numpy()
        probs_np = probs.cpu().numpy()
        live = ~env.trial_done
        next_images, rewards, ended, reached = env.step(actions)
        for i in np.nonzero(live)[0]:
            for key, value in (("images", images[i]), ("extras", extras[i]), ("actions", actions[i]),
                               ("rewards", rewards[i]), ("probs", probs_np[i]),
                               ("ended", ended[i]), ("reached", reached[i])):
                running[i][key].append(value)
        extras = np.zeros((n, EXTRAS), dtype=np.float32)
        extras[np.arange(n), actions] = 1.0
        extras[:, 3], extras[:, 4] = rewards, ended
        images = next_images
        for i in np.nonzero(live & env.trial_done)[0]:
            trial = {k: np.stack(v) for k, v in running[i].items()}
            done.append(trial)
            steps += len(trial["rewards"])
            running[i] = _empty()
            if trials is None or started < trials:  # another trial in this game, in a fresh map
                started += 1
                images[i] = env.start_trial(i, int(rng.integers(env.n_maps)))
                extras[i] = 0.0
                extras[i, 0], extras[i, 4] = 1.0, 1.0
                h[i] = 0.0
        if trials is not None and env.trial_done.all():
            break
    return done[:trials] if trials is not None else done


def _empty() -> dict[str, list]:
    return {k: [] for k in ("images", "extras", "actions", "rewards", "probs", "ended", "reached")}


def pad(trials: list[dict[str, np.ndarray]], length: int) -> dict[str, torch.Tensor]:
    """Trials stacked to (B, length, ...), zero-padded, with the mask of real steps."""
    out: dict[str, torch.Tensor] = {}
    for key in ("images", "extras", "actions", "rewards", "probs"):
        first = trials[0][key]
        block = np.zeros((len(trials), length, *first.shape[1:]), dtype=first.dtype)
        for b, trial in enumerate(trials):
            block[b, :len(trial[key])] = trial[key]
        out[key] = torch.from_numpy(block)
    out["mask"] = torch.from_numpy(np.array([[t < len(tr["rewards"]) for t in range(length)] for tr in trials],
                                            dtype=np.float32))
    return out


class NavigationAgent:
    """The network, its Adam state and the running return moments of the value head."""

    def __init__(self, hp: dict[str, Any], device: torch.device) -> None:
        self.hp, self.device = hp, device
        self.net = NavigationNet(dm.IMAGE_SHAPE, dm.N_ACTIONS, hp["conv_filters"], hp["conv_kernel"],
                                 hp["conv_stride"], hp["hidden_units"]).to(device)
        self.settings = settings_from(hp)
        self.optimiser = adam(self.net.parameters(), self.settings)
        self.return_mean, self.return_std = 0.0, 1.0

    def _forward(self, batch: dict[str, torch.Tensor], mb: slice) -> tuple[torch.Tensor, torch.Tensor]:
        return self.net(batch["images"][mb].to(self.device), batch["extras"][mb].to(self.device))

    def update(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        hp, dev, s = self.hp, self.device, self.settings
        mask, rewards = batch["mask"].to(dev), batch["rewards"].float().to(dev)
        actions, p_old = batch["actions"].long().to(dev), batch["probs"].to(dev)
        with torch.no_grad():  # the value head before this update, back in return units
            values = torch.cat([self._forward(batch, mb)[1] for mb in minibatches(len(mask), s.minibatch_trials)])
            values = (values * self.return_std + self.return_mean) * mask
        adv, returns = gae(rewards, values, hp["gamma"], hp["gae_lambda"])
        valid = mask.bool()
        adv = (adv - adv[valid].mean()) / (adv[valid].std(unbiased=False) + EPS) * mask
        rate = hp["return_moments_rate"]  # the running moments move before the epochs, as the baseline's fit
        self.return_mean = (1 - rate) * self.return_mean + rate * float(returns[valid].mean())
        self.return_std = (1 - rate) * self.return_std + rate * float(
            ((returns[valid] - self.return_mean) ** 2).mean().sqrt())
        targets = (returns - self.return_mean) / (self.return_std + EPS)

        def masked(x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
            return (x * m).sum() / m.sum()

        def terms(mb: slice) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
            logits, v = self._forward(batch, mb)
            logp = torch.log_softmax(logits, -1)
            ratio = (logp.gather(-1, actions[mb, :, None]).squeeze(-1).exp() + EPS) / \
                (p_old[mb].gather(-1, actions[mb, :, None]).squeeze(-1) + EPS)
            a, m = adv[mb], mask[mb]
            clipped = masked(torch.minimum(ratio * a, ratio.clamp(1 - s.clip, 1 + s.clip) * a), m)
            value_loss = masked((v - targets[mb]) ** 2, m)
            loss = -clipped + hp["value_loss_coeff"] * value_loss
            return loss, -masked(ratio * a, m), masked(categorical_kl(p_old[mb], logp), m)

        def whole_batch_kl() -> float:
            with torch.no_grad():
                return float(torch.stack([masked(categorical_kl(p_old[mb], torch.log_softmax(
                    self._forward(batch, mb)[0], -1)), mask[mb]) for mb in minibatches(len(mask),
                                                                                         s.minibatch_trials)]).mean())

        return optimise(list(self.net.parameters()), self.optimiser, terms, whole_batch_kl, len(mask), s)

    def state_dict(self) -> dict[str, Any]:
        return {"net": self.net.state_dict(), "optimiser": self.optimiser.state_dict(),
                "moments": (self.return_mean, self.return_std)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.net.load_state_dict(state["net"])
        self.optimiser.load_state_dict(state["optimiser"])
        self.return_mean, self.return_std = state["moments"]


def train_navigation(config: ExperimentConfig, run: Run) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="rl2_mazes_") as folder:  # the WADs are rebuilt from their seeds
        return _train_navigation(config, run, Path(folder))


def _train_navigation(config: ExperimentConfig, run: Run, folder: Path) -> dict[str, float]:
    hp, budget = config.hyperparameters, config.budget
    train_wad = build_wad(folder, "train", hp["maze_size"], hp["train_mazes"], hp["train_maze_seed"], hp)
    max_trial = hp["n_episodes"] * hp["horizon"]
    num_envs = min(hp["max_envs"], max(1, hp["batch_steps"] // max_trial))
    env = make_trials(train_wad, hp, hp["train_mazes"], num_envs, hp["n_episodes"], hp["horizon"],
                      seed=int(run.rng.integers(2**31 - 1)))
    agent = NavigationAgent(hp, run.device)
    progress = {"iteration": 0, "env_steps": 0}
    state = run.restore()
    if state is not None:
        agent.load_state_dict(state["agent"])
        progress = state["progress"]
    iterations = budget["iterations"]
    bar = run.progress(total=iterations * hp["batch_steps"], initial=progress["env_steps"])
    while progress["iteration"] < iterations:
        trials = collect(agent.net, env, hp["batch_steps"], None, run.rng, run.device)
        steps = sum(len(t["rewards"]) for t in trials)
        average_return = float(np.mean([t["rewards"].sum() for t in trials]))
        success = float(np.mean([t["reached"].sum() / hp["n_episodes"] for t in trials]))
        stats = agent.update(pad(trials, max_trial))
        progress["iteration"] += 1
        progress["env_steps"] += steps
        run.log(progress["env_steps"], iteration=progress["iteration"], average_return=average_return,
                success_rate=success, trials=float(len(trials)), **stats)
        bar.update(steps)
        bar.set_postfix(ret=f"{average_return:.2f}", success=f"{success:.2f}")
        if progress["iteration"] < iterations and run.checkpoint_due():
            run.save_checkpoint({"agent": agent.state_dict(), "progress": dict(progress)}, progress["env_steps"])
    bar.close()
    env.close()
    returns = [row["average_return"] for row in run.curve]
    metrics: dict[str, float] = {"train_return_last_window": float(np.mean(returns[-hp["selection_window"]:])),
                                 "iterations": progress["iteration"], "env_steps": progress["env_steps"]}
    for name, size, horizon in (("small", hp["maze_size"], hp["test_horizon_small"]),
                                ("large", hp["large_maze_size"], hp["test_horizon_large"])):
        wad = build_wad(folder, f"test_{name}", size, hp["test_mazes"], hp["test_maze_seed"], hp)
        test_env = make_trials(wad, hp, hp["test_mazes"], min(hp["max_envs"], budget["evaluation_trials"]),
                               hp["test_episodes"], horizon, seed=int(run.rng.integers(2**31 - 1)))
        trials = collect(agent.net, test_env, None, budget["evaluation_trials"], run.rng, run.device)
        test_env.close()
        metrics.update({f"{name}_{k}": v for k, v in dm.episode_table(trials, hp["test_episodes"], horizon).items()})
    return metrics
