"""Gittins indices of Bernoulli arms with a Beta posterior, by backward induction against a safe arm (the
calibration method of Gittins et al. 2011, ch. 8), as the authors compute them
(florensacc/rllab-curriculum sandbox/rocky/neural_learner/scripts/bandits/evaluate_gittins.py).

For an arm with a successes and b failures (a + b = m), and a safe arm paying r per pull, the value is
V_m(a, r) = max(r / (1 - gamma), a/m (1 + gamma V_{m+1}(a+1, r)) + b/m gamma V_{m+1}(a, r)); the induction starts at
m = ``pulls`` from V = max(r, a/m) / (1 - gamma). The index is the smallest r on the grid at which retiring is
optimal, averaged with the grid point below it (evaluate_gittins.py:recursion_step).
"""
from __future__ import annotations

import numpy as np


def gittins_table(pulls: int, grid: int, discount: float) -> np.ndarray:
    """index[a - 1, b - 1] for every a, b >= 1 with a + b <= pulls - 1 (NaN elsewhere)."""
    r = np.linspace(0.0, 1.0, grid)
    safe = r / (1.0 - discount)
    a = np.arange(1, pulls)[:, None]
    values = np.maximum(r, a / pulls) / (1.0 - discount)  # V at a + b = pulls, a = 1 .. pulls - 1
    table = np.full((pulls - 1, pulls - 1), np.nan)
    for m in range(pulls - 1, 1, -1):  # a + b = m, a = 1 .. m - 1
        a = np.arange(1, m)[:, None]
        cont = a / m * (1.0 + discount * values[1:m]) + (m - a) / m * discount * values[:m - 1]
        values = np.maximum(safe, cont)
        retire = cont <= safe  # the safe arm's value attains the max
        first = np.argmax(retire, axis=1)  # the smallest r at which retiring is optimal
        index = 0.5 * (r[first] + r[np.maximum(first - 1, 0)])
        table[a[:, 0] - 1, m - a[:, 0] - 1] = index
    return table
