"""Entry point of the Fetch experiments (§4.2-4.5, Figs. 3-6; App. A): DDPG, DDPG + count-based exploration and
DDPG + HER on push / slide / pick-and-place (and reach, which is not a task of the paper).

Schedule (App. A "Training procedure"): ``epochs`` x ``cycles_per_epoch`` cycles. A cycle runs the behaviour policy
for ``episodes_per_cycle`` = 16 episodes in total, ``episodes_per_cycle / workers`` = 2 per worker, each stored in its
worker's own replay buffer with Alg. 1's relabelling; then every worker performs ``optimization_steps_per_cycle`` = 40
updates on minibatches of 128 from its own buffer with parameter averaging after each; then the target networks are
updated (polyak 0.95). After every epoch the target actor is tested; the curve's x axis counts environment steps.
"""
from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch

from papers.her.ddpg_workers import DDPGWorkers
from papers.her.fetch_envs import EPISODE_STEPS, feature_sizes, has_object, make_vector_env, paper_features
from papers.her.fetch_rewards import CountBonus, shaped_reward, sparse_reward
from papers.her.her_relabel import relabel_episode
from papers.her.hindsight_store import HindsightStore
from papers.her.normalizer import RunningNormalizer
from shared.params import ExperimentConfig
from shared.run import Run

ACTION_DIM, GOAL_DIM = 4, 3


def n_hindsight_goals(hp: dict[str, Any]) -> tuple[int, int]:
    """(fewest, most) hindsight goals per transition: 0 without HER, 1 for final, k, or every candidate state when
    ``her_all_goals`` (Fig. 6's "all": t+1..T for future, 0..T for episode)."""
    strategy = hp["her_strategy"]
    if strategy == "none":
        return 0, 0
    if strategy == "final":
        return 1, 1
    if hp["her_all_goals"]:
        if strategy == "future":
            return 1, EPISODE_STEPS
        if strategy == "episode":
            return EPISODE_STEPS + 1, EPISODE_STEPS + 1
        raise ValueError("her_all_goals applies to the future and episode strategies (Fig. 6)")
    return hp["her_k"], hp["her_k"]


def all_goal_indices(strategy: str, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """Fig. 6 "all": every future state t+1..T (future) or every state 0..T (episode) of the episode."""
    if strategy == "future":
        t = np.concatenate([np.full(horizon - s, s) for s in range(horizon)])
        j = np.concatenate([np.arange(s + 1, horizon + 1) for s in range(horizon)])
    else:
        t = np.repeat(np.arange(horizon), horizon + 1)
        j = np.tile(np.arange(horizon + 1), horizon)
    return t, j


def run_episodes(envs: gym.vector.SyncVectorEnv, rng: np.random.Generator, act: Any) -> dict[str, np.ndarray]:
    """One 50-step episode per sub-env: obs [E, T+1, D], achieved m(s_t) [E, T+1, 3], goals [E, 3], actions [E, T, 4].
    ``act(obs, goals) -> actions`` picks the actions."""
    first, _ = envs.reset(seed=[int(s) for s in rng.integers(0, 2**31 - 1, size=envs.num_envs)])
    obs = np.zeros((envs.num_envs, EPISODE_STEPS + 1, first["observation"].shape[-1]), dtype=np.float32)
    achieved = np.zeros((envs.num_envs, EPISODE_STEPS + 1, GOAL_DIM), dtype=np.float32)
    actions = np.zeros((envs.num_envs, EPISODE_STEPS, ACTION_DIM), dtype=np.float32)
    obs[:, 0], achieved[:, 0] = first["observation"], first["achieved_goal"]
    goals = first["desired_goal"].astype(np.float32)
    for t in range(EPISODE_STEPS):
        actions[:, t] = act(obs[:, t], goals)
        step, _, _, _, _ = envs.step(actions[:, t])
        obs[:, t + 1], achieved[:, t + 1] = step["observation"], step["achieved_goal"]
    return {"obs": obs, "achieved": achieved, "goals": goals, "actions": actions}


class FetchDDPG:
    """The learner: W DDPG workers, their hindsight replay buffers, the input normaliser, the count table."""

    def __init__(self, hp: dict[str, Any], device: torch.device, rng: np.random.Generator) -> None:
        self.hp, self.device, self.rng, self.task = hp, device, rng, hp["task"]
        self.actor_in, self.critic_in = feature_sizes(self.task)
        self.workers = hp["workers"]
        self.ddpg = DDPGWorkers(self.workers, self.actor_in, self.critic_in, ACTION_DIM, list(hp["hidden_layers"]),
                                hp["learning_rate"], hp["learning_rate"], (hp["adam_beta1"], hp["adam_beta2"]),
                                hp["adam_epsilon"], device)
        self.normalizer = RunningNormalizer(self.critic_in, clip=hp["observation_clip"], eps=hp["normalizer_std_floor"])
        obs_dim = 25 if has_object(self.task) else 10
        fewest, _ = n_hindsight_goals(hp)
        self.buffers = [HindsightStore(int(hp["buffer_size"]), 1 + fewest, obs_dim, ACTION_DIM, GOAL_DIM, EPISODE_STEPS)
                        for _ in range(self.workers)]
        self.counts = ([CountBonus(hp["count_alpha"], hp["count_beta"]) for _ in range(self.workers)]
                       if hp["exploration_bonus"] == "count" else None)
        gamma = hp["gamma"]
        bonus_max = hp["count_alpha"] if self.counts else 0.0
        # App. A: targets clipped to "the range of possible values": [-1/(1-gamma), 0] for the binary reward; with
        # the count bonus alpha/sqrt(N) <= alpha the upper end of that range is alpha/(1-gamma)
        self.clip = (-1.0 / (1.0 - gamma), bonus_max / (1.0 - gamma)) if hp["clip_target"] else (-np.inf, np.inf)

    # -- acting -----------------------------------------------------------------------------------------------------
    def _normalised(self, obs: np.ndarray, goals: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(paper_features(obs, goals, self.task)).to(self.device)
        return self.normalizer(x)

    def policy(self, obs: np.ndarray, goals: np.ndarray, use_target: bool) -> np.ndarray:
        x = self._normalised(obs, goals)[..., :self.actor_in]
        return self.ddpg.act(x, use_target).cpu().numpy()

    def explore(self, obs: np.ndarray, goals: np.ndarray) -> np.ndarray:
        """App. A "Exploration": with probability 20 % a uniform random action from the valid hypercube, otherwise
        pi(s) plus independent normal noise with std = 5 % of each coordinate's range (range 2 -> std 0.1)."""
        actions = self.policy(obs, goals, use_target=False)
        noise_std = self.hp["action_noise_fraction"] * 2.0
        actions = np.clip(actions + noise_std * self.rng.standard_normal(actions.shape), -1.0, 1.0)
        random = self.rng.random(len(actions)) < self.hp["random_action_probability"]
        actions[random] = self.rng.uniform(-1.0, 1.0, size=(int(random.sum()), ACTION_DIM))
        return actions.astype(np.float32)

    # -- storing ----------------------------------------------------------------------------------------------------
    def _rewards(self, achieved: np.ndarray, t_index: np.ndarray, goals: np.ndarray) -> np.ndarray:
        if self.hp["reward"] == "sparse":
            return sparse_reward(achieved[t_index + 1], goals, self.hp["goal_tolerance"])
        return shaped_reward(achieved[t_index], achieved[t_index + 1], goals, self.hp["shaped_lambda"],
                             self.hp["shaped_power"])

    def store(self, episodes: dict[str, np.ndarray]) -> None:
        """Alg. 1 storage: episode e belongs to worker e // (episodes per worker)."""
        per_worker = len(episodes["goals"]) // self.workers
        strategy, k = self.hp["her_strategy"], self.hp["her_k"]
        for e in range(len(episodes["goals"])):
            w = e // per_worker
            buffer, achieved, goal = self.buffers[w], episodes["achieved"][e], episodes["goals"][e]
            if strategy in ("future", "episode") and self.hp["her_all_goals"]:
                t_extra, j = all_goal_indices(strategy, EPISODE_STEPS)
                t_index = np.concatenate([np.arange(EPISODE_STEPS), t_extra])
                goals = np.concatenate([np.broadcast_to(goal, (EPISODE_STEPS, GOAL_DIM)), achieved[j]])
            else:
                def pool(count: int, b: HindsightStore = buffer, a: np.ndarray = achieved) -> np.ndarray:
                    idx = self.rng.integers(0, b.real.size + EPISODE_STEPS, size=count)
                    old = idx < b.real.size
                    out = np.empty((count, GOAL_DIM), dtype=np.float32)
                    out[old] = b.real.data["achieved_next"][idx[old]]
                    out[~old] = a[idx[~old] - b.real.size + 1]
                    return out
                t_index, goals, _ = relabel_episode(achieved, goal, strategy, k, self.rng,
                                                    lambda ag, g: np.zeros(len(g), np.float32), random_goals=pool)
            rewards = self._rewards(achieved, t_index, goals)
            if self.counts is not None:  # footnote 6: bonus of the visited state s' (no HER copies: _validate)
                episode_goal = np.broadcast_to(goal, (EPISODE_STEPS, GOAL_DIM))
                rewards = rewards + self.counts[w].visit_and_bonus(achieved[1:], episode_goal)
            buffer.add_episode(episodes["obs"][e], episodes["actions"][e], achieved, t_index,
                               goals.astype(np.float32), rewards.astype(np.float32))
        # App. A "Input scaling": statistics of every observation encountered (s_t with its episode's goal, t = 0..T)
        goals = np.repeat(episodes["goals"][:, None], EPISODE_STEPS + 1, axis=1)
        self.normalizer.update(paper_features(episodes["obs"], goals, self.task))

    # -- learning ---------------------------------------------------------------------------------------------------
    def optimise(self) -> dict[str, float]:
        size = self.hp["batch_size"]
        batches = [b.sample(size, self.rng) for b in self.buffers]
        take = {k: np.stack([b[k] for b in batches]) for k in batches[0]}
        x = self._normalised(take["obs"], take["goal"])
        x_next = self._normalised(take["next_obs"], take["goal"])
        return self.ddpg.update(x, torch.from_numpy(take["action"]).to(self.device),
                                torch.from_numpy(take["reward"]).to(self.device), x_next, self.hp["gamma"], self.clip,
                                self.hp["action_l2"])

    def state_dict(self) -> dict[str, Any]:
        return {"ddpg": self.ddpg.state_dict(), "normalizer": self.normalizer.state_dict(),
                "buffers": [b.state_dict() for b in self.buffers],
                "counts": [c.state_dict() for c in self.counts] if self.counts else None}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.ddpg.load_state_dict(state["ddpg"])
        self.normalizer.load_state_dict(state["normalizer"])
        for b, s in zip(self.buffers, state["buffers"]):
            b.load_state_dict(s)
        for c, s in zip(self.counts or [], state["counts"] or []):
            c.load_state_dict(s)


def success(episodes: dict[str, np.ndarray], threshold: float) -> np.ndarray:
    """Fig. 3 caption: successful if the object-goal distance at the END of the episode is below the threshold."""
    return np.linalg.norm(episodes["achieved"][:, -1] - episodes["goals"], axis=-1) < threshold


def evaluate(agent: FetchDDPG, envs: gym.vector.SyncVectorEnv, episodes: int, threshold: float,
             rng: np.random.Generator) -> float:
    """Success rate of the deterministic target actor (App. A: the target network is used in testing episodes)."""
    wins, done = 0, 0
    while done < episodes:
        result = run_episodes(envs, rng, lambda o, g: agent.policy(o, g, use_target=True))
        take = min(envs.num_envs, episodes - done)
        wins += int(success(result, threshold)[:take].sum())
        done += take
    return wins / episodes


def _validate(hp: dict[str, Any]) -> None:
    n_hindsight_goals(hp)
    if hp["episodes_per_cycle"] % hp["workers"]:
        raise ValueError("episodes_per_cycle must be a multiple of workers (each worker runs the same number)")
    if hp["test_network"] != "target":
        raise ValueError("this implementation tests the target actor (App. A)")
    if hp["reward"] not in ("sparse", "shaped") or hp["exploration_bonus"] not in ("none", "count"):
        raise ValueError("reward must be sparse or shaped; exploration_bonus none or count")
    if hp["exploration_bonus"] == "count" and hp["her_strategy"] != "none":
        raise ValueError("the count-based baseline of Fig. 3 is DDPG without HER")


def fixed_goal_for(hp: dict[str, Any], rng: np.random.Generator) -> np.ndarray | None:
    """§4.3 single-goal runs: one goal for all episodes, drawn once per run from the task's goal distribution."""
    if hp["goal_mode"] != "single":
        return None
    probe = make_vector_env(hp["task"], 1, hp["n_substeps"], hp["success_threshold"])
    first, _ = probe.reset(seed=int(rng.integers(0, 2**31 - 1)))
    probe.close()
    return first["desired_goal"][0].astype(np.float64)


def train_fetch(config: ExperimentConfig, run: Run) -> dict[str, float]:
    hp, budget = config.hyperparameters, config.budget
    _validate(hp)
    epochs, cycles = budget["epochs"], budget["cycles_per_epoch"]
    fixed_goal = fixed_goal_for(hp, run.rng)
    agent = FetchDDPG(hp, run.device, run.rng)
    # initial state-goal pairs that already count as a success are discarded (App. A)
    reject = max(hp["success_threshold"], hp["goal_tolerance"])
    train_envs = make_vector_env(hp["task"], hp["episodes_per_cycle"], hp["n_substeps"], reject, fixed_goal)
    test_envs = make_vector_env(hp["task"], min(hp["episodes_per_cycle"], budget["test_episodes"]), hp["n_substeps"],
                                reject, fixed_goal)
    steps_per_cycle = hp["episodes_per_cycle"] * EPISODE_STEPS
    zero = {"successes": 0, "episodes": 0, "critic_loss": 0.0, "actor_loss": 0.0, "q": 0.0, "updates": 0}
    progress = {"epoch": 0, "cycle": 0, "env_steps": 0, "tests": [], **zero}
    state = run.restore()
    if state is not None:
        agent.load_state_dict(state["agent"])
        progress = state["progress"]
    bar = run.progress(total=epochs * cycles * steps_per_cycle, initial=progress["env_steps"])
    while progress["epoch"] < epochs:
        while progress["cycle"] < cycles:
            episodes = run_episodes(train_envs, run.rng, agent.explore)
            agent.store(episodes)
            for _ in range(hp["optimization_steps_per_cycle"]):
                for key, value in agent.optimise().items():
                    progress[key] += value
                progress["updates"] += 1
            agent.ddpg.update_targets(hp["polyak"])
            progress["cycle"] += 1
            progress["env_steps"] += steps_per_cycle
            progress["successes"] += int(success(episodes, hp["success_threshold"]).sum())
            progress["episodes"] += len(episodes["goals"])
            bar.update(steps_per_cycle)
            if progress["cycle"] < cycles and run.checkpoint_due():
                run.save_checkpoint({"agent": agent.state_dict(), "progress": dict(progress)}, progress["env_steps"])
        test = evaluate(agent, test_envs, budget["test_episodes"], hp["success_threshold"], run.rng)
        progress["tests"] = progress["tests"] + [test]
        updates = max(progress["updates"], 1)
        run.log(progress["env_steps"], epoch=progress["epoch"] + 1, test_success_rate=test,
                train_success_rate=progress["successes"] / max(progress["episodes"], 1),
                critic_loss=progress["critic_loss"] / updates, actor_loss=progress["actor_loss"] / updates,
                q_mean=progress["q"] / updates)
        bar.set_postfix(test_success=f"{test:.2f}")
        progress.update(epoch=progress["epoch"] + 1, cycle=0, **zero)
        if progress["epoch"] < epochs and run.checkpoint_due():
            run.save_checkpoint({"agent": agent.state_dict(), "progress": dict(progress)}, progress["env_steps"])
    bar.close()
    final = evaluate(agent, test_envs, budget["final_test_episodes"], hp["success_threshold"], run.rng)
    tests = progress["tests"]
    return {"final_test_success_rate": final, "last_epoch_test_success_rate": tests[-1],
            "best_test_success_rate": max(tests), "mean_test_success_rate": float(np.mean(tests)),
            "env_steps": progress["env_steps"], "epochs": progress["epoch"]}
