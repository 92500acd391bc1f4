"""``paper.yaml``: what THE PAPER says (citation, experiments, hyperparameters with sources, claims, deviations).

The loader is strict: unknown keys, missing sources and malformed values raise ``SpecError`` naming file, key and line.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.errors import SpecError
from shared.yamlio import LineDict, load_yaml

COMPARISONS = ("within", "at_least", "at_most", "greater_than", "less_than")
# the statistic a claim compares: the mean over seeds (default), or the paper's own best-of-seeds protocol: the seed
# with the highest ``selection_metric``, its ``metric`` and that number's standard error ``<metric>_se``
STATISTICS = ("mean", "best_of_seeds")


@dataclass(frozen=True)
class Sourced:
    """A value the paper states (``value``), the values it sweeps (``values``, or an inclusive numeric ``range``),
    or ``value: null`` when the paper does not state it."""

    value: Any
    values: tuple | None
    source: str
    note: str = ""
    range: tuple[float, float] | None = None

    def allows(self, ours: Any) -> bool:
        if self.range is not None:
            return isinstance(ours, (int, float)) and self.range[0] <= ours <= self.range[1]
        if self.values is not None:
            return ours in self.values
        return self.value is not None and ours == self.value

    def describe(self) -> str:
        if self.range is not None:
            return f"{self.range[0]}..{self.range[1]}"
        if self.values is not None:
            return "one of " + ", ".join(map(str, self.values))
        return "not stated" if self.value is None else str(self.value)


@dataclass(frozen=True)
class PaperExperiment:
    name: str
    description: str
    source: str
    budget: dict[str, Sourced]
    hyperparameters: dict[str, Sourced]


@dataclass(frozen=True)
class Deviation:
    id: str
    what: str
    paper: str
    ours: str
    reason: str
    hyperparameter: str | None = None
    value: Any = None
    experiments: tuple[str, ...] = ()

    def covers(self, group: str, key: str, ours: Any) -> bool:
        return (self.hyperparameter == key and self.value == ours
                and (not self.experiments or group in self.experiments))


@dataclass(frozen=True)
class Claim:
    id: str
    source: str
    statement: str
    experiment: str
    metric: str
    comparison: str
    tolerance_reason: str
    approximate: bool = False
    reported: float | None = None
    reported_error: str = ""
    threshold: float | None = None
    delta: float = 0.0
    other_experiment: str | None = None
    curve_metric: str | None = None
    statistic: str = "mean"
    selection_metric: str | None = None

    def band(self) -> tuple[float, float]:
        """The interval the mean must lie in, for ``within``/``at_least``/``at_most``."""
        if self.comparison == "within":
            return self.reported - self.delta, self.reported + self.delta
        if self.comparison == "at_least":
            return self.threshold - self.delta, float("inf")
        if self.comparison == "at_most":
            return float("-inf"), self.threshold + self.delta
        raise ValueError(f"claim {self.id}: {self.comparison} has no band")


@dataclass(frozen=True)
class PaperSpec:
    path: Path
    citation: dict[str, Any]
    experiments: dict[str, PaperExperiment]
    deviations: tuple[Deviation, ...]
    claims: tuple[Claim, ...] = field(default=())

    def deviation_for(self, group: str, key: str, ours: Any) -> Deviation | None:
        return next((d for d in self.deviations if d.covers(group, key, ours)), None)


class _Reader:
    """Validates one mapping at a time against allowed/required keys, reporting file, dotted key and line."""

    def __init__(self, path: Path) -> None:
        self.file = str(path)

    def mapping(self, data: Any, key: str, parent: LineDict | None = None, name: Any = None) -> LineDict:
        if not isinstance(data, dict):
            raise SpecError(self.file, key, "must be a mapping", self._line(parent, name))
        return data

    def keys(self, data: LineDict, key: str, required: set[str], optional: set[str] = frozenset()) -> None:
        for k in data:
            if k not in required | set(optional):
                raise SpecError(self.file, f"{key}.{k}" if key else str(k),
                                f"unknown key (allowed: {', '.join(sorted(required | set(optional)))})",
                                data.line_of(k))
        for k in sorted(required - set(data)):
            raise SpecError(self.file, f"{key}.{k}" if key else k, "missing required key", None)

    def text(self, data: LineDict, k: str, key: str, required: bool = True) -> str:
        value = data.get(k)
        if value is None and not required:
            return ""
        if not isinstance(value, str) or not value.strip():
            raise SpecError(self.file, f"{key}.{k}", "must be a non-empty string", data.line_of(k))
        return value

    def number(self, data: LineDict, k: str, key: str) -> float:
        value = data.get(k)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SpecError(self.file, f"{key}.{k}", f"must be a number, got {value!r}", data.line_of(k))
        return float(value)

    @staticmethod
    def _line(parent: LineDict | None, name: Any) -> int | None:
        return parent.line_of(name) if parent is not None else None


def _sourced(r: _Reader, data: Any, key: str, parent: LineDict, name: str) -> Sourced:
    data = r.mapping(data, key, parent, name)
    r.keys(data, key, {"source"}, {"value", "values", "range", "note"})
    if sum(k in data for k in ("value", "values", "range")) != 1:
        raise SpecError(r.file, key, "needs exactly one of 'value' (null if the paper does not state it), 'values' "
                        "or 'range'", parent.line_of(name))
    values = data.get("values")
    if values is not None and (not isinstance(values, list) or not values):
        raise SpecError(r.file, f"{key}.values", "must be a non-empty list", data.line_of("values"))
    bounds = data.get("range")
    if bounds is not None and (not isinstance(bounds, list) or len(bounds) != 2
                               or not all(isinstance(b, (int, float)) for b in bounds) or bounds[0] > bounds[1]):
        raise SpecError(r.file, f"{key}.range", "must be [low, high] with low <= high", data.line_of("range"))
    return Sourced(value=data.get("value"), values=tuple(values) if values is not None else None,
                   source=r.text(data, "source", key), note=r.text(data, "note", key, required=False),
                   range=tuple(bounds) if bounds is not None else None)


def load_paper_spec(path: Path) -> PaperSpec:
    """Load and validate ``paper.yaml``."""
    r = _Reader(path)
    top = load_yaml(path)
    r.keys(top, "", {"citation", "experiments", "claims"}, {"deviations"})
    citation = r.mapping(top["citation"], "citation", top, "citation")
    r.keys(citation, "citation", {"authors", "title", "venue", "year"}, {"arxiv", "url", "bibtex_key"})

    experiments = {}
    exps = r.mapping(top["experiments"], "experiments", top, "experiments")
    for name, body in exps.items():
        key = f"experiments.{name}"
        body = r.mapping(body, key, exps, name)
        r.keys(body, key, {"description", "source", "budget", "hyperparameters"})
        budget = r.mapping(body["budget"], f"{key}.budget", body, "budget")
        hps = r.mapping(body["hyperparameters"], f"{key}.hyperparameters", body, "hyperparameters")
        experiments[name] = PaperExperiment(
            name=name, description=r.text(body, "description", key), source=r.text(body, "source", key),
            budget={k: _sourced(r, v, f"{key}.budget.{k}", budget, k) for k, v in budget.items()},
            hyperparameters={k: _sourced(r, v, f"{key}.hyperparameters.{k}", hps, k) for k, v in hps.items()})

    deviations = []
    for i, body in enumerate(top.get("deviations") or []):
        key = f"deviations[{i}]"
        body = r.mapping(body, key)
        r.keys(body, key, {"id", "what", "paper", "ours", "reason"}, {"hyperparameter", "value", "experiments"})
        groups = tuple(body.get("experiments") or ())
        for g in groups:
            if g not in experiments:
                raise SpecError(r.file, f"{key}.experiments", f"unknown paper experiment {g!r}",
                                body.line_of("experiments"))
        if "hyperparameter" in body and "value" not in body:
            raise SpecError(r.file, f"{key}.value", "a hyperparameter deviation needs the value we run",
                            body.line_of("hyperparameter"))
        deviations.append(Deviation(
            id=r.text(body, "id", key), what=r.text(body, "what", key), paper=str(body["paper"]),
            ours=str(body["ours"]), reason=r.text(body, "reason", key), hyperparameter=body.get("hyperparameter"),
            value=body.get("value"), experiments=groups))

    claims = []
    claim_list = top["claims"]
    if not isinstance(claim_list, list):
        raise SpecError(r.file, "claims", "must be a list", top.line_of("claims"))
    seen = set()
    for i, body in enumerate(claim_list):
        key = f"claims[{i}]"
        body = r.mapping(body, key)
        r.keys(body, key, {"id", "source", "statement", "experiment", "metric", "comparison", "tolerance_reason"},
               {"approximate", "reported", "reported_error", "threshold", "delta", "other_experiment", "curve_metric",
                "statistic", "selection_metric"})
        cid = r.text(body, "id", key)
        key = f"claims.{cid}"
        if cid in seen:
            raise SpecError(r.file, key, "duplicate claim id", body.line_of("id"))
        seen.add(cid)
        comparison = body["comparison"]
        if comparison not in COMPARISONS:
            raise SpecError(r.file, f"{key}.comparison", f"must be one of {', '.join(COMPARISONS)}",
                            body.line_of("comparison"))
        needs = {"within": ("reported", "delta"), "at_least": ("threshold",), "at_most": ("threshold",),
                 "greater_than": ("other_experiment",), "less_than": ("other_experiment",)}[comparison]
        for k in needs:
            if k not in body:
                raise SpecError(r.file, f"{key}.{k}", f"required for comparison '{comparison}'", body.line_of("comparison"))
        statistic = body.get("statistic", "mean")
        if statistic not in STATISTICS:
            raise SpecError(r.file, f"{key}.statistic", f"must be one of {', '.join(STATISTICS)}",
                            body.line_of("statistic"))
        if statistic == "best_of_seeds" and (comparison not in ("within", "at_least", "at_most")
                                             or not body.get("selection_metric")):
            raise SpecError(r.file, f"{key}.statistic", "best_of_seeds needs a selection_metric and a within, "
                            "at_least or at_most comparison", body.line_of("statistic"))
        claims.append(Claim(
            id=cid, source=r.text(body, "source", key), statement=r.text(body, "statement", key),
            experiment=r.text(body, "experiment", key), metric=r.text(body, "metric", key), comparison=comparison,
            tolerance_reason=r.text(body, "tolerance_reason", key), approximate=bool(body.get("approximate", False)),
            reported=r.number(body, "reported", key) if "reported" in body else None,
            reported_error=str(body.get("reported_error", "")),
            threshold=r.number(body, "threshold", key) if "threshold" in body else None,
            delta=r.number(body, "delta", key) if "delta" in body else 0.0,
            other_experiment=body.get("other_experiment"), curve_metric=body.get("curve_metric"),
            statistic=statistic, selection_metric=body.get("selection_metric")))
        if claims[-1].delta < 0:
            raise SpecError(r.file, f"{key}.delta", "must be >= 0", body.line_of("delta"))
    return PaperSpec(path=path, citation=dict(citation), experiments=experiments,
                     deviations=tuple(deviations), claims=tuple(claims))
