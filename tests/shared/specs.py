"""A minimal valid paper.yaml / params.yaml pair for the loader tests, and helpers to write edited variants."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from shared.errors import SpecError

PAPER_YAML = """\
citation:
  authors: "A. Author"
  title: "A Toy Paper"
  venue: "NIPS 2017"
  year: 2017
experiments:
  toy:
    description: "a toy experiment"
    source: "§1"
    budget:
      epochs:
        value: 10
        source: "App. A"
    hyperparameters:
      gamma:
        value: 0.98
        source: "App. A"
      lr:
        value: 0.001
        source: "App. A"
      width:
        values: [64, 128]
        source: "Table 2"
deviations:
  - id: dev-lr
    hyperparameter: lr
    value: 0.01
    experiments: [toy]
    what: "learning rate"
    paper: "0.001"
    ours: "0.01"
    reason: "because"
claims:
  - id: solves
    source: "Table 1"
    statement: "it solves the task"
    experiment: toy_run
    metric: success
    comparison: at_least
    threshold: 0.5
    tolerance_reason: "lenient"
"""

PARAMS_YAML = """\
profile: paper
seeds: [1, 2]
profiles:
  paper:
    seeds: [1, 2, 3]
    budget: {epochs: 10}
  smoke:
    seeds: [1]
    budget: {epochs: 1}
experiments:
  toy_run:
    paper_experiment: toy
    hyperparameters:
      gamma: 0.98
      lr: 0.001
      width: 64
"""


def edit(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"{old!r} must occur once"
    return text.replace(old, new)


def line_of(text: str, needle: str) -> int:
    """1-based line of the only line containing ``needle``."""
    lines = [i + 1 for i, line in enumerate(text.splitlines()) if needle in line]
    assert len(lines) == 1, (needle, lines)
    return lines[0]


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def assert_spec_error(err: pytest.ExceptionInfo, path: Path, key: str, line: int | None = None,
                      reason: str | None = None) -> None:
    exc = err.value
    assert isinstance(exc, SpecError)
    message = str(exc)
    assert "\n" not in message
    assert str(path) in message and path.name in message
    assert exc.key == key, (exc.key, message)
    assert key in message
    if line is not None:
        assert exc.line == line, (exc.line, line, message)
        assert f"{path}:{line}" in message
    if reason is not None:
        assert re.search(reason, message), message
