"""MLSH (§3-4, Algorithm 1) with the parallel schedule of §6.1, emulated in one process.

The paper trains on 120 cores: 10 groups of 12 workers. Each group solves its own task with its own master policy
theta (shared by the group's 12 workers); the K sub-policies phi are shared by every worker. A group's task lasts
W + U iterations: W warmup iterations updating only theta, then U joint iterations updating theta and phi, then
theta is re-initialised and a new task drawn. Warmups are staggered so that some group is always in its joint
period ("a new group enters warmup as soon as another group leaves").

Here the 120 workers are one vectorised environment stepped in lockstep, and the MPI collectives of the authors'
code (openai/mlsh) become sums over worker axes:
- theta's gradient is the mean over the group's workers of each worker's minibatch gradient (MpiAdam on the group
  communicator); its advantages are normalised with statistics pooled over all 120 workers;
- phi_k's gradient is the mean over the *contributing* workers only (those of a group in its joint period that
  acted with sub-policy k in this segment; MpiAdam.update(g, lr, contributes)), and phi_k takes no step when none
  contributes;
- each sub-policy's running observation filter sums the contributing workers' observations; the master's filter
  sums every worker's macro-observations and is shared by all groups (it is never reset with theta).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch

from papers.mlsh.networks import PolicyShape, RunningMeanStd, SetAdam, forward, init_params, log_prob, sample
from papers.mlsh.ppo import gae, pooled_normalise, sample_losses


class VectorTaskEnv(Protocol):
    workers: int
    horizon: int
    obs_dim: int
    n_actions: int
    gaussian: bool

    def sample_tasks(self, workers: np.ndarray, rng: np.random.Generator, held_out: bool = False
                     ) -> np.ndarray: ...
    def set_tasks(self, workers: np.ndarray, tasks: np.ndarray) -> None: ...
    def reset(self, rng: np.random.Generator) -> np.ndarray: ...
    def step(self, actions: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]: ...
    def state_dict(self) -> dict: ...
    def load_state_dict(self, state: dict) -> None: ...


@dataclass(frozen=True)
class Settings:
    subpolicies: int          # K
    macro_duration: int       # N: the master acts every N steps
    warmup: int               # W
    joint: int                # U
    groups: int
    workers_per_group: int
    rollout_steps: int        # D, per worker per iteration
    hidden: int
    layers: int
    gamma: float
    gae_lambda: float
    clip: float
    epochs: int
    master_lr: float
    sub_lr: float
    master_minibatch: int     # macro-steps per worker per minibatch
    sub_minibatches: int      # minibatches per epoch per worker
    master_random_choice: float  # probability that a uniformly random sub-policy replaces the master's choice
    stagger: int              # iterations between successive groups' first tasks

    @property
    def workers(self) -> int:
        return self.groups * self.workers_per_group

    @property
    def task_length(self) -> int:
        return self.warmup + self.joint


@dataclass
class Segment:
    """One iteration's experience: (workers, D) arrays, and (workers, D / N) for the master's macro-steps."""

    obs: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    values: np.ndarray
    starts: np.ndarray
    macro_actions: np.ndarray
    macro_values: np.ndarray
    episode_returns: np.ndarray  # (workers, episodes)


class MLSH:
    """The shared sub-policies, one master per group, their optimisers and observation filters, and the groups'
    schedule."""

    def __init__(self, env: VectorTaskEnv, s: Settings) -> None:
        if env.workers != s.workers:
            raise ValueError(f"the environment has {env.workers} workers, the schedule needs {s.workers}")
        if s.rollout_steps % env.horizon or env.horizon % s.macro_duration:
            raise ValueError(f"need N | T | D (N={s.macro_duration}, T={env.horizon}, D={s.rollout_steps}): "
                             "segments and macro-steps must hold whole episodes")
        self.env, self.s = env, s
        self.sub_shape = PolicyShape(env.obs_dim, env.n_actions, s.hidden, s.layers, env.gaussian)
        self.master_shape = PolicyShape(env.obs_dim, s.subpolicies, s.hidden, s.layers)
        self.subs = init_params(self.sub_shape, s.subpolicies)
        self.sub_adam = SetAdam(self.subs, s.sub_lr)
        self.sub_rms = RunningMeanStd(s.subpolicies, env.obs_dim)
        self.masters = init_params(self.master_shape, s.groups)
        self.master_adam = SetAdam(self.masters, s.master_lr)
        self.master_rms = RunningMeanStd(1, env.obs_dim)
        self.counters = -s.stagger * np.arange(s.groups)  # a group's iteration within its current task
        self.started = np.zeros(s.groups, dtype=bool)
        self.train_subpolicies = True  # False freezes phi (transfer to a new task: theta only)
        self.held_out_tasks = False  # True draws the environment's held-out tasks (evaluation)

    # -- schedule -------------------------------------------------------------------------------------------------
    def group_workers(self, g: int) -> np.ndarray:
        return np.arange(g * self.s.workers_per_group, (g + 1) * self.s.workers_per_group)

    def new_task(self, g: int, rng: np.random.Generator) -> None:
        """Re-initialise group g's master (its Adam moments are kept, as the code's MpiAdam object is) and draw one
        task for all its workers (the code broadcasts the group root's draw)."""
        fresh = init_params(self.master_shape, 1)
        for k, v in fresh.items():
            self.masters[k].data[g] = v[0]
        workers = self.group_workers(g)
        task = self.env.sample_tasks(workers[:1], rng, held_out=self.held_out_tasks)
        self.env.set_tasks(workers, np.repeat(task, len(workers)))
        self.counters[g] = 0 if self.started[g] else self.counters[g]
        self.started[g] = True

    def begin_iteration(self, rng: np.random.Generator) -> None:
        for g in range(self.s.groups):
            if not self.started[g] or self.counters[g] >= self.s.task_length:
                self.new_task(g, rng)

    def joint_workers(self) -> np.ndarray:
        """(workers,) whether each worker's group is in its joint period this iteration."""
        joint = (self.counters >= self.s.warmup) & self.train_subpolicies
        return np.repeat(joint, self.s.workers_per_group)

    # -- acting ---------------------------------------------------------------------------------------------------
    @torch.no_grad()
    def rollout(self, rng: np.random.Generator, force_subpolicy: int | None = None) -> Segment:
        s, env = self.s, self.env
        B, D, N, T, K = s.workers, s.rollout_steps, s.macro_duration, env.horizon, s.subpolicies
        obs_buf = np.zeros((B, D, env.obs_dim), dtype=np.float32)
        act_buf = np.zeros((B, D, env.n_actions) if env.gaussian else (B, D), dtype=np.float32)
        rew_buf = np.zeros((B, D))
        val_buf = np.zeros((B, D), dtype=np.float32)
        starts = np.zeros((B, D), dtype=bool)
        macro_actions = np.zeros((B, D // N), dtype=np.int64)
        macro_values = np.zeros((B, D // N), dtype=np.float32)
        returns, running = [], np.zeros(B)
        sub_mean, sub_std = self.sub_rms.stats()
        master_mean, master_std = self.master_rms.stats()
        obs = env.reset(rng)
        choice = np.zeros(B, dtype=np.int64)
        for t in range(D):
            starts[:, t] = t % T == 0
            x = torch.from_numpy(obs)
            if t % N == 0:
                z = self.master_rms.normalise(x.view(s.groups, s.workers_per_group, -1), master_mean, master_std)
                logits, value = forward(self.masters, self.master_shape, z)
                choice = sample(self.masters, self.master_shape, logits).reshape(B).numpy()
                if s.master_random_choice > 0:
                    explore = rng.uniform(size=B) < s.master_random_choice
                    choice = np.where(explore, rng.integers(0, K, size=B), choice)
                if force_subpolicy is not None:
                    choice = np.full(B, force_subpolicy)
                macro_actions[:, t // N], macro_values[:, t // N] = choice, value.reshape(B).numpy()
            actions, values = self.act(x, choice, sub_mean, sub_std)
            obs_buf[:, t], act_buf[:, t], val_buf[:, t] = obs, actions, values
            obs, reward = env.step(actions, rng)
            rew_buf[:, t] = reward
            running += reward
            if (t + 1) % T == 0:
                returns.append(running.copy())
                running[:] = 0.0
                obs = env.reset(rng)
        return Segment(obs_buf, act_buf, rew_buf, val_buf, starts, macro_actions, macro_values,
                       np.stack(returns, axis=1))

    @torch.no_grad()
    def act(self, obs: torch.Tensor, choice: np.ndarray, mean: torch.Tensor | None = None,
            std: torch.Tensor | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Stochastic actions and values of sub-policy ``choice[b]`` for each worker's observation."""
        K, B = self.s.subpolicies, len(choice)
        z = self.sub_rms.normalise(obs[None].expand(K, B, -1), mean, std)
        out, value = forward(self.subs, self.sub_shape, z)
        rows = np.arange(B)
        actions = sample(self.subs, self.sub_shape, out)[choice, rows].numpy()
        return (actions if self.env.gaussian else actions.astype(np.int64)), value[choice, rows].numpy()

    # -- learning -------------------------------------------------------------------------------------------------
    def update_masters(self, seg: Segment, rng: np.random.Generator) -> dict[str, float]:
        """theta's PPO epochs: every group at once, each on its own workers' macro-steps."""
        s = self.s
        B, N, G, R = s.workers, s.macro_duration, s.groups, s.workers_per_group
        M = seg.macro_actions.shape[1]
        macro_rewards = seg.rewards.reshape(B, M, N).sum(-1)
        adv, ret = gae(macro_rewards, seg.macro_values, seg.starts[:, ::N], s.gamma, s.gae_lambda)
        adv = pooled_normalise(adv)
        obs = torch.from_numpy(np.ascontiguousarray(seg.obs[:, ::N]))  # (B, M, obs)
        self.master_rms.update(0, obs.reshape(-1, obs.shape[-1]))  # before the old policy is copied (learner.py)
        mean, std = self.master_rms.stats()
        z = self.master_rms.normalise(obs.reshape(G, R * M, -1), mean, std)
        actions = torch.from_numpy(seg.macro_actions).reshape(G, R * M)
        with torch.no_grad():
            out, old_values = forward(self.masters, self.master_shape, z)
            old_logp = log_prob(self.masters, self.master_shape, out, actions)
        adv_t = torch.from_numpy(adv).reshape(G, R * M)
        ret_t = torch.from_numpy(ret).reshape(G, R * M)
        size = min(s.master_minibatch, M)
        offsets = (np.arange(R) * M)[None, :, None]  # worker r of a group holds columns r M .. r M + M - 1
        active = torch.ones(G, dtype=torch.bool)
        losses = []
        for _ in range(s.epochs):
            perms = np.argsort(rng.random((G, R, M)), axis=-1)  # each worker shuffles its own data (Dataset)
            for j in range(M // size):  # iterate_once: whole minibatches only
                idx = torch.from_numpy((perms[:, :, j * size:(j + 1) * size] + offsets).reshape(G, R * size))
                params = {k: v.detach().requires_grad_(True) for k, v in self.masters.items()}
                zb = torch.gather(z, 1, idx[..., None].expand(-1, -1, z.shape[-1]))
                out, values = forward(params, self.master_shape, zb)
                logp = log_prob(params, self.master_shape, out, torch.gather(actions, 1, idx))
                per_sample = sample_losses(logp, torch.gather(old_logp, 1, idx), values,
                                           torch.gather(old_values, 1, idx), torch.gather(adv_t, 1, idx),
                                           torch.gather(ret_t, 1, idx), s.clip)
                loss = per_sample.mean(dim=1)  # one mean per group = the mean of its workers' minibatch means
                loss.sum().backward()
                self.master_adam.step(self.masters, {k: p.grad for k, p in params.items()}, active)
                losses.append(float(loss.detach().mean()))
        return {"master_loss": float(np.mean(losses)) if losses else float("nan")}

    def update_subpolicies(self, seg: Segment, rng: np.random.Generator) -> dict[str, float]:
        """phi's PPO epochs on the full timescale; only workers in a joint period contribute (learner.py
        ``updateSubPolicies``): each uses the steps its sub-policy k acted on, normalises their advantages locally
        and splits them into ``sub_minibatches`` minibatches per epoch."""
        s = self.s
        B, D, K = s.workers, seg.rewards.shape[1], s.subpolicies
        joint = self.joint_workers()
        stats = {"contributing_workers": 0.0}
        if not joint.any():
            return stats
        adv, ret = gae(seg.rewards, seg.values, seg.starts, s.gamma, s.gae_lambda)
        active_sub = np.repeat(seg.macro_actions, s.macro_duration, axis=1)  # (B, D)
        obs_all = torch.from_numpy(seg.obs.reshape(B * D, -1))
        act_all = torch.from_numpy(seg.actions.reshape(B * D, *seg.actions.shape[2:]))
        for k in range(K):
            members = []
            for w in np.nonzero(joint)[0]:
                idx = np.nonzero(active_sub[w] == k)[0]
                if len(idx) // s.sub_minibatches >= 1:  # a worker with fewer steps than minibatches has no batch
                    a = adv[w, idx]
                    members.append((w * D + idx, (a - a.mean()) / max(a.std(), 1e-6), ret[w, idx]))
            if not members:
                continue
            stats["contributing_workers"] += len(members)
            flat = np.concatenate([m[0] for m in members])
            old_mean, old_std = self.sub_rms.stats()  # the old policy is copied before the filter update
            with torch.no_grad():
                old_params = {n: v[k:k + 1] for n, v in self.subs.items()}
                z_old = self.sub_rms.normalise(obs_all[flat][None], old_mean[k:k + 1], old_std[k:k + 1])
                out, old_values = forward(old_params, self.sub_shape, z_old)
                old_logp = log_prob(old_params, self.sub_shape, out, act_all[flat][None])
            self.sub_rms.update(k, obs_all[flat])
            mean, std = self.sub_rms.stats()
            z = self.sub_rms.normalise(obs_all[flat][None], mean[k:k + 1], std[k:k + 1])[0]
            acts = act_all[flat]
            adv_t = torch.from_numpy(np.concatenate([m[1] for m in members]).astype(np.float32))
            ret_t = torch.from_numpy(np.concatenate([m[2] for m in members]).astype(np.float32))
            starts = np.cumsum([0] + [len(m[0]) for m in members])
            active = torch.zeros(K, dtype=torch.bool)
            active[k] = True
            for _ in range(s.epochs):
                perms = [starts[i] + rng.permutation(len(m[0])) for i, m in enumerate(members)]
                for j in range(s.sub_minibatches):
                    parts, weights = [], []
                    for perm in perms:
                        size = len(perm) // s.sub_minibatches
                        parts.append(perm[j * size:(j + 1) * size])
                        weights.append(np.full(size, 1.0 / (size * len(members)), dtype=np.float32))
                    idx = torch.from_numpy(np.concatenate(parts))
                    params = {n: v.detach().requires_grad_(True) for n, v in self.subs.items()}
                    sliced = {n: v[k:k + 1] for n, v in params.items()}
                    out, values = forward(sliced, self.sub_shape, z[idx][None])
                    logp = log_prob(sliced, self.sub_shape, out, acts[idx][None])
                    per_sample = sample_losses(logp[0], old_logp[0, idx], values[0], old_values[0, idx],
                                               adv_t[idx], ret_t[idx], s.clip)
                    (per_sample * torch.from_numpy(np.concatenate(weights))).sum().backward()
                    grads = {n: p.grad if p.grad is not None else torch.zeros_like(p) for n, p in params.items()}
                    self.sub_adam.step(self.subs, grads, active)
        return stats

    def iterate(self, rng: np.random.Generator) -> dict[str, Any]:
        """One iteration of every group: new tasks where due, a segment, theta's update, phi's update."""
        self.begin_iteration(rng)
        joint = self.joint_workers()
        seg = self.rollout(rng)
        stats = self.update_masters(seg, rng)
        stats.update(self.update_subpolicies(seg, rng))
        self.counters += 1
        per_worker = seg.episode_returns.mean(axis=1)
        stats.update(average_return=float(per_worker.mean()),
                     groups_in_joint=float(joint.sum() / self.s.workers_per_group))
        if joint.any():
            stats["joint_return"] = float(per_worker[joint].mean())
        return stats

    # -- state ----------------------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"subs": self.subs, "sub_adam": self.sub_adam.state_dict(), "sub_rms": self.sub_rms.state_dict(),
                "masters": self.masters, "master_adam": self.master_adam.state_dict(),
                "master_rms": self.master_rms.state_dict(), "counters": self.counters.copy(),
                "started": self.started.copy(), "env": self.env.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.subs = {k: v.clone() for k, v in state["subs"].items()}
        self.sub_adam.load_state_dict(state["sub_adam"])
        self.sub_rms.load_state_dict(state["sub_rms"])
        self.masters = {k: v.clone() for k, v in state["masters"].items()}
        self.master_adam.load_state_dict(state["master_adam"])
        self.master_rms.load_state_dict(state["master_rms"])
        self.counters, self.started = state["counters"].copy(), state["started"].copy()
        self.env.load_state_dict(state["env"])
