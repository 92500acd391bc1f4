"""The baselines' tuning protocol (§3.1-3.2; the authors' evaluate_bandits.py / evaluate_pacmdp.py): every baseline
plays the same ``instances`` tasks (1000 in the paper); a baseline with a hyperparameter is run with each value of its
grid on those same tasks and the best mean is reported (tuned on the evaluation set, as the authors did). One run of
ours is one such evaluation on its own tasks; the seeds repeat the whole protocol on independent task sets.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from shared.run import Run


class Tuner:
    """Runs each baseline's grid on the same tasks, keeps the best mean, and logs every value tried."""

    def __init__(self, run: Run, play: Callable[[Any], np.ndarray], steps_per_play: int) -> None:
        self.run, self.play, self.steps = run, play, steps_per_play
        self.metrics: dict[str, float] = {}
        self.env_steps = 0
        self.bar = run.progress(total=0)

    def evaluate(self, name: str, policies: dict[Any, Any], parameter: str | None = None) -> None:
        best_value, best_totals = None, None
        for value, policy in policies.items():
            totals = self.play(policy)
            self.env_steps += self.steps
            self.bar.update(self.steps)
            point = {f"{name}_mean": float(totals.mean())}
            if parameter is not None:
                point[f"{name}_{parameter}"] = float(value)
            self.run.log(self.env_steps, **point)
            if best_totals is None or totals.mean() > best_totals.mean():  # the first best, as the authors' ">"
                best_value, best_totals = value, totals
        self.metrics[name] = float(best_totals.mean())
        self.metrics[f"{name}_se"] = float(best_totals.std(ddof=1) / math.sqrt(len(best_totals)))
        if parameter is not None:
            self.metrics[f"{name}_best_{parameter}"] = float(best_value)
        self.bar.set_postfix({name: f"{best_totals.mean():.2f}"})
