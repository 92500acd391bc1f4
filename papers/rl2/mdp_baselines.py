"""The hand-designed tabular-MDP baselines of Table 2, as the authors ran them: Osband's TabulaRL agents
(iosband/TabulaRL src/finite_tabular_agents.py, called by florensacc/rllab-curriculum
sandbox/rocky/neural_learner/scripts/pacmdp/evaluate_pacmdp.py), each run on a batch of MDPs at once.

Every agent keeps TabulaRL's conjugate posterior: rewards Normal with prior (mu0 = 0, precision tau0) and noise
precision tau = 1, mu1 = (mu0 tau0 + r tau) / (tau0 + tau); transitions Dirichlet(alpha0 1), counting a transition
only when the episode continues (the last step of an episode adds none). At the start of each episode it plans by
finite-horizon value iteration (time-dependent Q) and then acts epsilon-greedily on Q[s, t] with random
tie-breaking (epsilon = 0 except for epsilon-greedy):
- PSRL: one MDP sampled from the posterior (alpha0 = 1, tau0 = 1);
- optimistic PSRL: the elementwise max of the Q of ``n_samples`` sampled MDPs;
- BEB: the MAP MDP plus bonuses 1 / (tau_post + 1) on rewards and beta H / (1 + sum counts) on transitions
  (beta = 2 H^2 scaling) added i times at i steps from the end (``compute_qVals_opt``);
- UCRL2: extended value iteration on the MAP MDP (alpha0 = 1e-5, tau0 = 1e-4) with slacks
  scaling sqrt(4 log(2 S A (k + 1) / delta) / n_R) and scaling sqrt(4 S log(2 S A (k + 1) / delta) / n_P), k the
  episode number (``compute_qVals_EVI``, including its in-place update of the transition estimate across steps);
- epsilon-greedy / greedy / random: the MAP MDP (alpha0 = tau0 = 1e-4), epsilon = epsilon / 0 / 1.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from shared.tasks.tabular_mdp import RandomTabularMDPs
from shared.tasks.trials import TrialVecEnv


@dataclass
class Posterior:
    """Per-MDP conjugate statistics, shapes (B, S, A) and (B, S, A, S)."""

    mu: np.ndarray
    tau: np.ndarray
    counts: np.ndarray
    tau0: float
    alpha0: float

    @classmethod
    def prior(cls, batch: int, s: int, a: int, alpha0: float, tau0: float, mu0: float = 0.0) -> "Posterior":
        return cls(np.full((batch, s, a), mu0), np.full((batch, s, a), tau0),
                   np.full((batch, s, a, s), alpha0, dtype=np.float32), tau0, alpha0)

    def update(self, states: np.ndarray, actions: np.ndarray, rewards: np.ndarray, next_states: np.ndarray,
               episode_continues: bool, noise_precision: float = 1.0) -> None:
        b = np.arange(len(states))
        tau0 = self.tau[b, states, actions]
        tau1 = tau0 + noise_precision
        self.mu[b, states, actions] = (self.mu[b, states, actions] * tau0 + rewards * noise_precision) / tau1
        self.tau[b, states, actions] = tau1
        if episode_continues:
            self.counts[b, states, actions, next_states] += 1

    def map_mdp(self) -> tuple[np.ndarray, np.ndarray]:
        return self.mu, self.counts / self.counts.sum(-1, keepdims=True)

    def sample_mdp(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        r = self.mu + rng.standard_normal(self.mu.shape) / np.sqrt(self.tau)
        g = rng.standard_gamma(self.counts)  # Dirichlet(counts) as normalised Gamma(counts, 1) draws
        return r, g / g.sum(-1, keepdims=True)


def expected_next(p: np.ndarray, v: np.ndarray) -> np.ndarray:
    """sum_s' P(s'|s, a) V(s') for every (b, s, a): p (B, S, A, S), v (B, S)."""
    batch, s, a, _ = p.shape
    return (p.reshape(batch, s * a, s) @ v[:, :, None].astype(p.dtype)).reshape(batch, s, a)


def value_iteration(r: np.ndarray, p: np.ndarray, horizon: int, r_bonus: np.ndarray | float = 0.0,
                    p_bonus: np.ndarray | float = 0.0) -> np.ndarray:
    """Q[b, j, s, a] = r + r_bonus + P V_{j+1} + p_bonus i, i = H - j - 1 (TabulaRL compute_qVals(_opt), float32)."""
    batch, s, a = r.shape
    q = np.zeros((batch, horizon, s, a), dtype=np.float32)
    v = np.zeros((batch, s), dtype=np.float32)
    for i in range(horizon):
        j = horizon - i - 1
        q[:, j] = (r + r_bonus + expected_next(p, v) + p_bonus * i).astype(np.float32)
        v = q[:, j].max(-1)
    return q


def extended_value_iteration(r: np.ndarray, p: np.ndarray, r_slack: np.ndarray, p_slack: np.ndarray,
                             horizon: int) -> np.ndarray:
    """TabulaRL ``compute_qVals_EVI``: at each step from the end, move p_slack / 2 of probability onto the best next
    state (all of it if that would exceed 1) and take the excess from the worst states first. Like the original,
    whose ``pOpt = P[s, a]`` aliases the estimate, the shifted estimate carries over to earlier steps (the
    all-on-the-best case uses a fresh vector and leaves it unchanged)."""
    batch, s, a = r.shape
    p = p.astype(np.float64).copy()
    q = np.zeros((batch, horizon, s, a))
    v = np.zeros((batch, s))
    half_slack = 0.5 * p_slack
    for i in range(horizon):
        j = horizon - i - 1
        rank = np.argsort(np.argsort(v, axis=1, kind="stable"), axis=1)  # 0 = worst next state
        best = np.zeros((batch, s))
        best[np.arange(batch), rank.argmax(1)] = 1.0
        saturate = expected_next(p, best) + half_slack > 1.0  # P(best | s, a) + slack / 2 > 1, shape (B, S, A)
        shifted = p + half_slack[..., None] * best[:, None, None, :]
        # the excess comes off the worst states first: each loses min(its mass, the excess not yet removed by the
        # states worse than it); ``worse[b, t', t]`` = 1 when t' ranks below t
        worse = (rank[:, :, None] < rank[:, None, :]).astype(np.float64)
        before = (shifted.reshape(batch, s * a, s) @ worse).reshape(batch, s, a, s)
        excess = np.maximum(shifted.sum(-1, keepdims=True) - 1.0, 0.0)
        shifted -= np.minimum(np.maximum(excess - before, 0.0), shifted)
        p = np.where(saturate[..., None], p, shifted)  # the estimate keeps the shift unless saturated
        used = np.where(saturate[..., None], best[:, None, None, :], p)
        q[:, j] = r + r_slack + expected_next(used, v)
        v = q[:, j].max(-1)
    return q


def egreedy(q_s: np.ndarray, epsilon: float, rng: np.random.Generator) -> np.ndarray:
    """An action per row of Q[s, t] (B, A): uniform with probability epsilon, else uniform among the maxima."""
    is_max = q_s == q_s.max(-1, keepdims=True)
    tie_break = np.where(is_max, rng.uniform(size=q_s.shape), -1.0)
    greedy = tie_break.argmax(-1)
    explore = rng.uniform(size=len(q_s)) < epsilon
    return np.where(explore, rng.integers(q_s.shape[1], size=len(q_s)), greedy)


# plan(posterior, episode number k (1-based), rng) -> Q (B, H, S, A)
Planner = Callable[[Posterior, int, np.random.Generator], np.ndarray]


@dataclass(frozen=True)
class Agent:
    alpha0: float
    tau0: float
    plan: Planner
    epsilon: float = 0.0


def psrl(horizon: int) -> Agent:
    return Agent(1.0, 1.0, lambda post, k, rng: value_iteration(*post.sample_mdp(rng), horizon))


def optimistic_psrl(horizon: int, n_samples: int) -> Agent:
    def plan(post, k, rng):
        q = value_iteration(*post.sample_mdp(rng), horizon)
        for _ in range(1, n_samples):
            q = np.maximum(q, value_iteration(*post.sample_mdp(rng), horizon))
        return q
    return Agent(1.0, 1.0, plan)


def beb(horizon: int, scaling: float) -> Agent:
    beta = 2 * horizon * horizon * scaling

    def plan(post, k, rng):
        r, p = post.map_mdp()
        return value_iteration(r, p, horizon, 1.0 / (post.tau + 1.0),
                               beta * horizon / (1.0 + post.counts.sum(-1)))
    return Agent(1.0, 1.0, plan)


def ucrl2(horizon: int, scaling: float, delta: float) -> Agent:
    def plan(post, k, rng):
        r, p = post.map_mdp()
        s, a = r.shape[1:]
        log_term = np.log(2 * s * a * (k + 1) / delta)
        n_r = np.maximum(post.tau - post.tau0, 1.0)
        n_p = np.maximum(post.counts.sum(-1) - post.alpha0, 1.0)
        return extended_value_iteration(r, p, scaling * np.sqrt(4 * log_term / n_r),
                                        scaling * np.sqrt(4 * s * log_term / n_p), horizon)
    return Agent(1e-5, 1e-4, plan)


def epsilon_greedy(horizon: int, epsilon: float) -> Agent:
    return Agent(1e-4, 1e-4, lambda post, k, rng: value_iteration(*post.map_mdp(), horizon), epsilon)


def play(agent: Agent, n_episodes: int, instances: int, seed: int, policy_seed: int,
         n_states: int = 10, n_actions: int = 5, horizon: int = 10) -> np.ndarray:
    """Total reward of each of ``instances`` trials of ``n_episodes`` episodes. The MDPs and their reward and
    transition draws depend only on ``seed``, the agent's randomness only on ``policy_seed``."""
    env = TrialVecEnv(RandomTabularMDPs(n_states, n_actions, horizon), n_episodes, instances)
    _, info = env.reset(seed=seed)
    rng = np.random.default_rng(policy_seed)
    post = Posterior.prior(instances, n_states, n_actions, agent.alpha0, agent.tau0)
    totals = np.zeros(instances)
    rows = np.arange(instances)
    states = info["state"]
    for k in range(1, n_episodes + 1):
        q = agent.plan(post, k, rng)
        for t in range(horizon):
            actions = egreedy(q[rows, t, states], agent.epsilon, rng)
            _, rewards, _, _, info = env.step(actions)
            last = t == horizon - 1  # the env is back at the start state; TabulaRL counts no transition
            post.update(states, actions, rewards, info["state"], episode_continues=not last)
            totals += rewards
            states = info["state"]
    return totals
