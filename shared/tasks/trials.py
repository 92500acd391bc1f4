"""The RL^2 trial (§2.1): n episodes on one sampled task, played by a batch of independent trials at once.

Every trial of the batch starts and ends together (n x T steps), so a trial is one gymnasium episode of this vector
env: ``reset`` draws new tasks, inner episodes restart at the task's start state without redrawing it, and the last
step of the trial is ``terminated``. The agent's input at each step is (s, a, r, d) (§2.1): the one-hot current
state, the one-hot previous action, the previous reward and whether the previous step ended an episode. At the
first step of a trial these are action 0, reward 0 and ended = 1, as the authors' ``MultiEnv`` starts a trial
(florensacc/rllab-curriculum sandbox/rocky/neural_learner/envs/multi_env.py:161-174). The agent keeps its hidden
state across the inner episodes and resets it when ``reset`` starts new trials.
"""
from __future__ import annotations

from typing import Any, Protocol

import gymnasium as gym
import numpy as np
from gymnasium.vector import VectorEnv


class TaskFamily(Protocol):
    n_states: int
    n_actions: int
    horizon: int

    def sample(self, batch: int, rng: np.random.Generator) -> None: ...
    def start_states(self) -> np.ndarray: ...
    def step(self, states: np.ndarray, actions: np.ndarray,
             rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]: ...


class TrialVecEnv(VectorEnv):
    """``num_envs`` trials of ``n_episodes`` episodes each on tasks drawn from ``family``."""

    metadata = {"autoreset_mode": None}  # no autoreset: every trial ends at the same step, call reset() again

    def __init__(self, family: TaskFamily, n_episodes: int, num_envs: int) -> None:
        self.family, self.n_episodes, self.num_envs = family, n_episodes, num_envs
        s, a = family.n_states, family.n_actions
        self.obs_dim = s + a + 2
        self.single_observation_space = gym.spaces.Box(-np.inf, np.inf, (self.obs_dim,), np.float32)
        self.single_action_space = gym.spaces.Discrete(a)
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (num_envs, self.obs_dim), np.float32)
        self.action_space = gym.spaces.MultiDiscrete(np.full(num_envs, a))
        self.trial_length = n_episodes * family.horizon
        self.rng = np.random.default_rng()
        self.states = np.zeros(num_envs, dtype=np.int64)
        self.t = self.trial_length  # no trial in progress until reset()

    def encode(self, states: np.ndarray, prev_actions: np.ndarray, prev_rewards: np.ndarray,
               prev_done: np.ndarray) -> np.ndarray:
        """[one-hot s (S), one-hot a_prev (A), r_prev, d_prev] per trial."""
        s, a = self.family.n_states, self.family.n_actions
        obs = np.zeros((self.num_envs, self.obs_dim), dtype=np.float32)
        rows = np.arange(self.num_envs)
        obs[rows, states] = 1.0
        obs[rows, s + prev_actions] = 1.0
        obs[:, s + a] = prev_rewards
        obs[:, s + a + 1] = prev_done
        return obs

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[np.ndarray, dict[str, Any]]:
        """Draw ``num_envs`` new tasks and start their trials (a seed reseeds the env's generator)."""
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        self.family.sample(self.num_envs, self.rng)
        self.states = self.family.start_states()
        self.t = 0
        first = self.encode(self.states, np.zeros(self.num_envs, dtype=np.int64), np.zeros(self.num_envs),
                            np.ones(self.num_envs))
        return first, {"state": self.states.copy()}

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        if self.t >= self.trial_length:
            raise RuntimeError("the trials have ended: call reset() to draw new tasks")
        actions = np.asarray(actions, dtype=np.int64)
        rewards, next_states = self.family.step(self.states, actions, self.rng)
        self.t += 1
        episode_end = self.t % self.family.horizon == 0
        if episode_end:  # a new episode of the same task starts at the start state
            next_states = self.family.start_states()
        self.states = next_states
        done = np.full(self.num_envs, float(episode_end))
        obs = self.encode(self.states, actions, rewards, done)
        terminated = np.full(self.num_envs, self.t == self.trial_length)
        truncated = np.zeros(self.num_envs, dtype=bool)
        return obs, rewards, terminated, truncated, {"state": self.states.copy(), "episode_end": done.astype(bool)}
