"""Entry point of the locomotion experiments (§5.3, Fig. 5, App. C Table 5): ``rl_experiment``'s MAML on a batch of
``shared.tasks.locomotion`` task envs."""
from __future__ import annotations

from papers.maml.locomotion_batch import LocomotionTasks
from papers.maml.rl_experiment import train_maml_rl
from shared.params import ExperimentConfig
from shared.run import Run


def train_locomotion(config: ExperimentConfig, run: Run) -> dict[str, float]:
    hp = config.hyperparameters
    return train_maml_rl(config, run, LocomotionTasks(hp["task"], hp["horizon"]))
