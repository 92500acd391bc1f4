"""Entry point of the bit-flipping experiment (§3.1, Fig. 1; App. A): DQN with or without HER.

Schedule (App. A, "all other hyperparameters ... the same as in the case of DDPG experiments"): ``epochs`` x
``cycles_per_epoch`` cycles; each cycle runs ``episodes_per_cycle`` episodes in total over ``workers`` workers,
stores them (with HER relabelling, Alg. 1) in each worker's own replay buffer, then every worker performs
``optimization_steps_per_cycle`` updates on minibatches of ``batch_size`` with parameter averaging after every
update; the target network is updated by polyak averaging after every cycle and is the network used in tests.
"""
from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch

from papers.her.bitflip_env import BitFlipEnv, bitflip_reward
from papers.her.dqn_workers import WorkerQNetworks, dqn_loss, dqn_targets
from papers.her.her_relabel import extra_goals_per_transition, relabel_episode
from papers.her.normalizer import RunningNormalizer
from papers.her.replay import ReplayBuffer
from shared.params import ExperimentConfig
from shared.run import Run


def make_vector_env(n_bits: int, num_envs: int) -> gym.vector.SyncVectorEnv:
    """Episodes all last n steps, so the vector env never auto-resets; every batch of episodes starts with an
    explicit, seeded reset."""
    return gym.vector.SyncVectorEnv([lambda: BitFlipEnv(n_bits) for _ in range(num_envs)],
                                    autoreset_mode=gym.vector.AutoresetMode.DISABLED)


def run_episodes(envs: gym.vector.SyncVectorEnv, n_bits: int, rng: np.random.Generator,
                 act: Any) -> dict[str, np.ndarray]:
    """One episode per sub-env: states s_0..s_T [E, T+1, n], goals [E, n], actions [E, T], success [E]
    (goal reached at any timestep, App. A). ``act(states, goals) -> actions`` picks the actions."""
    obs, _ = envs.reset(seed=[int(s) for s in rng.integers(0, 2**31 - 1, size=envs.num_envs)])
    states = np.zeros((envs.num_envs, n_bits + 1, n_bits), dtype=np.int8)
    actions = np.zeros((envs.num_envs, n_bits), dtype=np.int64)
    success = np.zeros(envs.num_envs, dtype=bool)
    states[:, 0] = obs["observation"]
    goals = obs["desired_goal"].copy()
    for t in range(n_bits):
        actions[:, t] = act(states[:, t], goals)
        obs, _, _, _, info = envs.step(actions[:, t])
        states[:, t + 1] = obs["observation"]
        success |= info["is_success"]
    return {"states": states, "goals": goals, "actions": actions, "success": success}


class BitFlipDQN:
    """The learner: W worker Q-networks, their replay buffers, the target network and the input normaliser."""

    def __init__(self, hp: dict[str, Any], device: torch.device, rng: np.random.Generator) -> None:
        self.hp, self.device, self.rng = hp, device, rng
        n, workers = hp["n_bits"], hp["workers"]
        self.n, self.workers = n, workers
        self.online = WorkerQNetworks(workers, 2 * n, list(hp["hidden_layers"]), n).to(device)
        self.target = WorkerQNetworks(1, 2 * n, list(hp["hidden_layers"]), n).to(device)
        with torch.no_grad():
            for t, o in zip(self.target.parameters(), self.online.parameters()):
                t.copy_(o[:1])
        self.optimizer = torch.optim.Adam(self.online.parameters(), lr=hp["learning_rate"],
                                          betas=(hp["adam_beta1"], hp["adam_beta2"]), eps=hp["adam_epsilon"], fused=True)
        self.normalizer = RunningNormalizer(2 * n, clip=hp["observation_clip"], eps=hp["normalizer_std_floor"])
        packed = (n + 7) // 8
        fields = {"obs": ((packed,), np.uint8), "next_obs": ((packed,), np.uint8), "goal": ((packed,), np.uint8),
                  "action": ((), np.int64), "reward": ((), np.float32)}
        self.buffers = [ReplayBuffer(int(hp["buffer_size"]), fields) for _ in range(workers)]
        gamma = hp["gamma"]
        self.clip = (-1.0 / (1.0 - gamma), 0.0) if hp["clip_target"] else (-np.inf, np.inf)

    # -- acting -----------------------------------------------------------------------------------------------------
    def _inputs(self, states: np.ndarray, goals: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(np.concatenate([states, goals], axis=-1).astype(np.float32)).to(self.device)
        return self.normalizer(x)

    def greedy(self, states: np.ndarray, goals: np.ndarray, use_target: bool) -> np.ndarray:
        with torch.no_grad():
            net = self.target if use_target else self.online
            return net.forward_worker(self._inputs(states, goals)).argmax(-1).cpu().numpy()

    def explore(self, states: np.ndarray, goals: np.ndarray) -> np.ndarray:
        """epsilon-greedy on the online network (App. A: a random action with probability 20 %)."""
        actions = self.greedy(states, goals, use_target=False)
        random = self.rng.random(len(actions)) < self.hp["exploration_epsilon"]
        actions[random] = self.rng.integers(0, self.n, size=int(random.sum()))
        return actions

    # -- storing ----------------------------------------------------------------------------------------------------
    def store(self, episodes: dict[str, np.ndarray]) -> None:
        """Alg. 1 storage: episode e belongs to worker e // (episodes per worker)."""
        per_worker = len(episodes["goals"]) // self.workers
        strategy, k = self.hp["her_strategy"], self.hp["her_k"]
        for e in range(len(episodes["goals"])):
            buffer = self.buffers[e // per_worker]
            states, goal = episodes["states"][e], episodes["goals"][e]
            t_index, goals, rewards = relabel_episode(
                states, goal, strategy, k, self.rng, bitflip_reward,
                random_goals=lambda count, b=buffer, s=states: self._goals_so_far(b, s, count))
            buffer.add(obs=np.packbits(states[t_index], axis=-1), next_obs=np.packbits(states[t_index + 1], axis=-1),
                       goal=np.packbits(goals.astype(np.int8), axis=-1), action=episodes["actions"][e][t_index],
                       reward=rewards)
        # input statistics over every observation encountered (s_t || g of the real episodes), App. A
        n_states = episodes["states"].shape[1]
        goals = np.repeat(episodes["goals"][:, None], n_states, axis=1)
        self.normalizer.update(np.concatenate([episodes["states"], goals], axis=-1))

    def _goals_so_far(self, buffer: ReplayBuffer, states: np.ndarray, count: int) -> np.ndarray:
        """``random`` strategy: states encountered so far in training (the worker's stored next states, each
        stored state once per copy, plus this episode's states s_1..s_T)."""
        horizon = len(states) - 1
        idx = self.rng.integers(0, buffer.size + horizon, size=count)
        out = np.empty((count, self.n), dtype=np.int8)
        old = idx < buffer.size
        out[old] = np.unpackbits(buffer.data["next_obs"][idx[old]], axis=-1, count=self.n)
        out[~old] = states[idx[~old] - buffer.size + 1]
        return out

    # -- learning ---------------------------------------------------------------------------------------------------
    def _batch(self) -> tuple[torch.Tensor, ...]:
        size = self.hp["batch_size"]
        idx = [b.sample_indices(size, self.rng) for b in self.buffers]
        take = {k: np.stack([b.data[k][i] for b, i in zip(self.buffers, idx)]) for k in self.buffers[0].data}
        unpack = {k: np.unpackbits(take[k], axis=-1, count=self.n) for k in ("obs", "next_obs", "goal")}
        x = self._inputs(unpack["obs"], unpack["goal"])
        x_next = self._inputs(unpack["next_obs"], unpack["goal"])
        return (x, x_next, torch.from_numpy(take["action"]).to(self.device),
                torch.from_numpy(take["reward"]).to(self.device))

    def optimise(self) -> float:
        """One update of every worker, then parameter averaging; returns the mean loss over workers."""
        x, x_next, actions, rewards = self._batch()
        y = dqn_targets(self.target, x_next, rewards, self.hp["gamma"], *self.clip)
        loss = dqn_loss(self.online, x, actions, y)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.online.average_workers()
        return float(loss.detach()) / self.workers

    def update_target(self) -> None:
        self.target.polyak_from(self.online, self.hp["polyak"])

    def state_dict(self) -> dict[str, Any]:
        return {"online": self.online.state_dict(), "target": self.target.state_dict(),
                "optimizer": self.optimizer.state_dict(), "normalizer": self.normalizer.state_dict(),
                "buffers": [b.state_dict() for b in self.buffers]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.online.load_state_dict(state["online"])
        self.target.load_state_dict(state["target"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.normalizer.load_state_dict(state["normalizer"])
        for b, s in zip(self.buffers, state["buffers"]):
            b.load_state_dict(s)


def evaluate(agent: BitFlipDQN, envs: gym.vector.SyncVectorEnv, episodes: int, rng: np.random.Generator) -> float:
    """Success rate of the greedy target-network policy (App. A: the target network is used in tests)."""
    successes, done = 0, 0
    while done < episodes:
        result = run_episodes(envs, agent.n, rng, lambda s, g: agent.greedy(s, g, use_target=True))
        take = min(envs.num_envs, episodes - done)
        successes += int(result["success"][:take].sum())
        done += take
    return successes / episodes


def _validate(hp: dict[str, Any]) -> None:
    extra_goals_per_transition(hp["her_strategy"], hp["her_k"])
    if hp["episodes_per_cycle"] % hp["workers"]:
        raise ValueError("episodes_per_cycle must be a multiple of workers (each worker runs the same number)")
    if hp["loss"] != "mse" or hp["test_network"] != "target" or hp["double_q"]:
        raise ValueError("this implementation runs the paper's DQN: loss mse, target network in tests, no double Q")


def train_bitflip(config: ExperimentConfig, run: Run) -> dict[str, float]:
    hp, budget = config.hyperparameters, config.budget
    _validate(hp)
    n, epochs, cycles = hp["n_bits"], budget["epochs"], hp["cycles_per_epoch"]
    agent = BitFlipDQN(hp, run.device, run.rng)
    train_envs = make_vector_env(n, hp["episodes_per_cycle"])
    test_envs = make_vector_env(n, min(hp["episodes_per_cycle"], budget["test_episodes"]))
    steps_per_cycle = hp["episodes_per_cycle"] * n
    progress = {"epoch": 0, "cycle": 0, "env_steps": 0, "successes": 0, "episodes": 0, "loss_sum": 0.0, "updates": 0}
    state = run.restore()
    if state is not None:
        agent.load_state_dict(state["agent"])
        progress = state["progress"]
    bar = run.progress(total=epochs * cycles * steps_per_cycle, initial=progress["env_steps"])
    while progress["epoch"] < epochs:
        while progress["cycle"] < cycles:
            episodes = run_episodes(train_envs, n, run.rng, agent.explore)
            agent.store(episodes)
            for _ in range(hp["optimization_steps_per_cycle"]):
                progress["loss_sum"] += agent.optimise()
                progress["updates"] += 1
            agent.update_target()
            progress["cycle"] += 1
            progress["env_steps"] += steps_per_cycle
            progress["successes"] += int(episodes["success"].sum())
            progress["episodes"] += len(episodes["success"])
            bar.update(steps_per_cycle)
            if progress["cycle"] < cycles and run.checkpoint_due():
                run.save_checkpoint({"agent": agent.state_dict(), "progress": dict(progress)}, progress["env_steps"])
        test_success = evaluate(agent, test_envs, budget["test_episodes"], run.rng)
        train_success = progress["successes"] / max(progress["episodes"], 1)
        run.log(progress["env_steps"], epoch=progress["epoch"] + 1, test_success_rate=test_success,
                train_success_rate=train_success, loss=progress["loss_sum"] / max(progress["updates"], 1))
        bar.set_postfix(test_success=f"{test_success:.2f}", train_success=f"{train_success:.2f}")
        progress.update(epoch=progress["epoch"] + 1, cycle=0, successes=0, episodes=0, loss_sum=0.0, updates=0)
        if progress["epoch"] < epochs and run.checkpoint_due():
            run.save_checkpoint({"agent": agent.state_dict(), "progress": dict(progress)}, progress["env_steps"])
    bar.close()
    final = evaluate(agent, test_envs, budget["final_test_episodes"], run.rng)
    return {"final_test_success_rate": final, "last_epoch_test_success_rate": run.curve[-1]["test_success_rate"],
            "env_steps": progress["env_steps"], "epochs": progress["epoch"]}
