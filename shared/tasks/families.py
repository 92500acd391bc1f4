"""The task family a config names (``task``: "bandit" with ``n_arms``, or "tabular_mdp" with ``n_states``,
``n_actions`` and ``episode_horizon``), for the papers that run the RL² families (RL², SNAIL)."""
from __future__ import annotations

from typing import Any

from shared.tasks.bandits import BernoulliBandits
from shared.tasks.tabular_mdp import RandomTabularMDPs


def make_family(hp: dict[str, Any]) -> BernoulliBandits | RandomTabularMDPs:
    if hp["task"] == "bandit":
        return BernoulliBandits(hp["n_arms"])
    if hp["task"] == "tabular_mdp":
        return RandomTabularMDPs(hp["n_states"], hp["n_actions"], hp["episode_horizon"])
    raise ValueError(f"unknown task family {hp['task']!r}")
