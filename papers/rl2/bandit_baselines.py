"""The hand-designed bandit baselines of Table 1, as the authors evaluated them
(florensacc/rllab-curriculum sandbox/rocky/neural_learner/scripts/bandits/evaluate_bandits.py, evaluate_gittins.py),
each run on a batch of bandit instances at once.

Counting baselines start every arm at 1 success in 2 pulls (k = 1, m = 2), ties go to the lowest arm (np.argmax):
- greedy: argmax k/m;  epsilon-greedy: a uniform arm with probability epsilon, else greedy;
- UCB1: argmax k/m + c sqrt(2 log t / m), t = 0, 1, ... the pull number; at t = 0 log 0 makes every index NaN and
  np.argmax picks arm 0, at t = 1 the bonus is 0;
- Thompson sampling: Beta(1, 1) prior, argmax of one posterior draw;
- optimistic TS: N posterior draws, keep the draw of highest joint log-density, argmax of it;
- Gittins: the better of the authors' two index approximations (evaluate_bandits.py's closed form; the
  backward-induction table of evaluate_gittins.py, read as that script reads it);
- random: a uniform arm.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
from scipy import special

from shared.tasks.bandits import BernoulliBandits
from shared.tasks.trials import TrialVecEnv

# policy(t, successes, pulls, rng) -> arms; successes/pulls are the per-arm counts (batch, k) including the prior
Policy = Callable[[int, np.ndarray, np.ndarray, np.random.Generator], np.ndarray]


def play(policy: Policy, n_arms: int, n_pulls: int, instances: int, seed: int, policy_seed: int) -> np.ndarray:
    """Total reward of each of ``instances`` trials of ``n_pulls`` pulls. The bandits and their reward draws depend
    only on ``seed`` (common to every baseline), the baseline's own randomness only on ``policy_seed``."""
    env = TrialVecEnv(BernoulliBandits(n_arms), n_pulls, instances)
    env.reset(seed=seed)
    rng = np.random.default_rng(policy_seed)
    successes = np.ones((instances, n_arms))
    pulls = np.full((instances, n_arms), 2.0)
    totals = np.zeros(instances)
    rows = np.arange(instances)
    for t in range(n_pulls):
        arms = policy(t, successes, pulls, rng)
        _, reward, _, _, _ = env.step(arms)
        successes[rows, arms] += reward
        pulls[rows, arms] += 1
        totals += reward
    return totals


def random_policy(t: int, successes: np.ndarray, pulls: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return rng.integers(successes.shape[1], size=successes.shape[0])


def epsilon_greedy(epsilon: float) -> Policy:
    def policy(t, successes, pulls, rng):
        greedy = np.argmax(successes / pulls, axis=1)
        explore = rng.uniform(size=len(greedy)) < epsilon
        return np.where(explore, rng.integers(successes.shape[1], size=len(greedy)), greedy)
    return policy


def ucb1(c: float) -> Policy:
    def policy(t, successes, pulls, rng):
        if t == 0:  # log(0): every index is NaN in the authors' code and np.argmax returns arm 0
            return np.zeros(len(successes), dtype=np.int64)
        return np.argmax(successes / pulls + c * np.sqrt(2.0 * np.log(t) / pulls), axis=1)
    return policy


def thompson_sampling(t: int, successes: np.ndarray, pulls: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return np.argmax(rng.beta(successes, pulls - successes), axis=1)


def optimistic_thompson(n_samples: int) -> Policy:
    def policy(t, successes, pulls, rng):
        alpha, beta = successes, pulls - successes
        draws = rng.beta(alpha, beta, size=(n_samples, *alpha.shape))
        # the joint Beta log-density over arms of each draw (scipy.stats.beta.logpdf, written out: 10x faster)
        log_density = ((alpha - 1) * np.log(draws) + (beta - 1) * np.log1p(-draws)).sum(-1) \
            - special.betaln(alpha, beta).sum(-1)
        best = draws[np.argmax(log_density, axis=0), np.arange(alpha.shape[0])]  # the first maximum, as ">"
        return np.argmax(best, axis=1)
    return policy


def gittins_table_policy(table: np.ndarray, lookup_offset: int) -> Policy:
    """Argmax of ``table[alpha - 1 + offset, beta - 1 + offset]``, where ``table[a - 1, b - 1]`` is the index of
    Beta(a, b) (``gittins.gittins_table``). The authors' evaluate_gittins.py reads ``table[alpha, beta]`` (offset 1),
    i.e. plays the index of Beta(alpha + 1, beta + 1)."""
    def policy(t, successes, pulls, rng):
        a = successes.astype(np.int64)
        b = (pulls - successes).astype(np.int64)
        return np.argmax(table[a - 1 + lookup_offset, b - 1 + lookup_offset], axis=1)
    return policy


def gittins_closed_form(discount: float) -> Policy:
    """The authors' closed-form index (evaluate_bandits.py:_compute_approx_arm_index), with n = alpha + beta,
    mu = alpha / n, c = log(1 / discount): mu + mu (1 - mu) / (n sqrt((2c + 1/n) mu (1 - mu)) + mu - 1/2)."""
    c = np.log(1.0 / discount)

    def policy(t, successes, pulls, rng):
        n, mu = pulls, successes / pulls  # alpha + beta = pulls, alpha = successes (Beta(1, 1) prior counts)
        with np.errstate(divide="ignore", invalid="ignore"):
            index = mu + mu * (1 - mu) / (n * np.sqrt((2 * c + 1.0 / n) * mu * (1 - mu)) + mu - 0.5)
        return np.argmax(index, axis=1)
    return policy
