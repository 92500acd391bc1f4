"""``params.yaml``: what WE run. Profiles shrink only the budget; hyperparameters are per experiment.

Schema::

    profile: paper                 # active profile
    seeds: [1, 2, 3, 4, 5]         # active seeds (a subset of the profile's; DVC's matrix reads this key)
    profiles:
      paper: {seeds: [...], budget: {epochs: 200, ...}}
      smoke: {seeds: [1], budget: {epochs: 1, ...},
              group_budgets: {<paper experiment>: {cycles_per_epoch: 1}}}  # optional: extra budget keys that
                                                                        # only one paper experiment's runs read
    experiments:
      <name>:
        paper_experiment: <group in paper.yaml>
        hyperparameters: {...}     # exactly the group's hyperparameters in paper.yaml
        budget: {<profile>: {...}} # optional per-experiment budget overrides
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.errors import SpecError
from shared.paper_spec import PaperSpec
from shared.yamlio import load_yaml


@dataclass(frozen=True)
class ExperimentConfig:
    """Everything one training run needs: the hyperparameters and the budget of the active profile."""

    paper: str
    name: str
    paper_experiment: str
    profile: str
    hyperparameters: dict[str, Any]
    budget: dict[str, Any]

    def as_flat_dict(self) -> dict[str, Any]:
        flat = {f"hp.{k}": v for k, v in self.hyperparameters.items()}
        flat.update({f"budget.{k}": v for k, v in self.budget.items()})
        flat.update(experiment=self.name, paper_experiment=self.paper_experiment, profile=self.profile)
        return flat


@dataclass(frozen=True)
class Params:
    path: Path
    paper: str
    profile: str
    seeds: tuple[int, ...]
    profile_seeds: dict[str, tuple[int, ...]]
    experiments: dict[str, ExperimentConfig]

    def experiment(self, name: str) -> ExperimentConfig:
        if name not in self.experiments:
            raise SpecError(str(self.path), f"experiments.{name}",
                            f"unknown experiment (known: {', '.join(sorted(self.experiments))})")
        return self.experiments[name]


def _kind(value: Any) -> str | None:
    """The type family a hyperparameter value must keep (None when the paper gives no value to compare with)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, (list, tuple)):
        return "list"
    return "string" if isinstance(value, str) else type(value).__name__


def _seed_list(file: str, key: str, value: Any, line: int | None) -> tuple[int, ...]:
    if (not isinstance(value, list) or not value
            or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in value)):
        raise SpecError(file, key, "must be a non-empty list of non-negative integers", line)
    if len(set(value)) != len(value):
        raise SpecError(file, key, "lists a seed twice", line)
    return tuple(value)


def load_params(path: Path, paper: str, spec: PaperSpec, profile: str | None = None) -> Params:
    """Load ``params.yaml`` and validate it against the paper's ``paper.yaml``.

    ``profile`` overrides the file's active profile (its seeds then default to that profile's seeds
    unless the file's ``seeds`` are a subset of them).
    """
    file = str(path)
    top = load_yaml(path)
    for k in top:
        if k not in {"profile", "seeds", "profiles", "experiments"}:
            raise SpecError(file, str(k), "unknown key (allowed: experiments, profile, profiles, seeds)", top.line_of(k))
    for k in ("profile", "seeds", "profiles", "experiments"):
        if k not in top:
            raise SpecError(file, k, "missing required key")
    profiles = top["profiles"]
    if not isinstance(profiles, dict) or "paper" not in profiles:
        raise SpecError(file, "profiles", "must be a mapping with at least the 'paper' profile", top.line_of("profiles"))

    profile_seeds: dict[str, tuple[int, ...]] = {}
    budgets: dict[str, dict[str, Any]] = {}
    group_budgets: dict[str, dict[str, dict[str, Any]]] = {}
    for name, body in profiles.items():
        key = f"profiles.{name}"
        if not isinstance(body, dict):
            raise SpecError(file, key, "must be a mapping", profiles.line_of(name))
        for k in body:
            if k not in {"seeds", "budget", "group_budgets"}:
                raise SpecError(file, f"{key}.{k}", "a profile holds only 'seeds', 'budget' and 'group_budgets' "
                                "(profiles never change hyperparameters)", body.line_of(k))
        if "seeds" not in body or "budget" not in body:
            raise SpecError(file, key, "needs 'seeds' and 'budget'", profiles.line_of(name))
        profile_seeds[name] = _seed_list(file, f"{key}.seeds", body["seeds"], body.line_of("seeds"))
        if not isinstance(body["budget"], dict):
            raise SpecError(file, f"{key}.budget", "must be a mapping", body.line_of("budget"))
        budgets[name] = dict(body["budget"])
        groups = body.get("group_budgets", {})
        if not isinstance(groups, dict) or not all(isinstance(v, dict) for v in groups.values()):
            raise SpecError(file, f"{key}.group_budgets", "must map paper experiments to budget mappings",
                            body.line_of("group_budgets"))
        for group in groups:
            if group not in spec.experiments:
                raise SpecError(file, f"{key}.group_budgets.{group}", f"not an experiment of {spec.path} (known: "
                                f"{', '.join(spec.experiments)})", groups.line_of(group))
        group_budgets[name] = {g: dict(v) for g, v in groups.items()}
    paper_keys = set(budgets["paper"])
    for name, budget in budgets.items():
        if set(budget) != paper_keys:
            raise SpecError(file, f"profiles.{name}.budget", f"must have the same keys as profiles.paper.budget "
                            f"({', '.join(sorted(paper_keys))})", profiles[name].line_of("budget"))
        paper_groups = {g: set(v) for g, v in group_budgets["paper"].items()}
        if {g: set(v) for g, v in group_budgets[name].items()} != paper_groups:
            raise SpecError(file, f"profiles.{name}.group_budgets", "must name the same paper experiments and keys "
                            "as profiles.paper.group_budgets", profiles.line_of(name))

    active = profile or top["profile"]
    if active not in profiles:
        raise SpecError(file, "profile", f"unknown profile {active!r} (known: {', '.join(profiles)})",
                        top.line_of("profile"))
    seeds = _seed_list(file, "seeds", top["seeds"], top.line_of("seeds"))
    if not set(seeds) <= set(profile_seeds[active]):
        if profile is None:
            raise SpecError(file, "seeds", f"seeds {list(seeds)} are not all in profiles.{active}.seeds "
                            f"{list(profile_seeds[active])}", top.line_of("seeds"))
        seeds = profile_seeds[active]

    experiments: dict[str, ExperimentConfig] = {}
    exps = top["experiments"]
    if not isinstance(exps, dict) or not exps:
        raise SpecError(file, "experiments", "must be a non-empty mapping", top.line_of("experiments"))
    for name, body in exps.items():
        key = f"experiments.{name}"
        if not isinstance(body, dict):
            raise SpecError(file, key, "must be a mapping", exps.line_of(name))
        for k in body:
            if k not in {"paper_experiment", "hyperparameters", "budget"}:
                raise SpecError(file, f"{key}.{k}", "unknown key (allowed: budget, hyperparameters, "
                                "paper_experiment)", body.line_of(k))
        group = body.get("paper_experiment")
        if group not in spec.experiments:
            raise SpecError(file, f"{key}.paper_experiment", f"{group!r} is not an experiment of "
                            f"{spec.path} (known: {', '.join(spec.experiments)})", body.line_of("paper_experiment"))
        hps = body.get("hyperparameters")
        if not isinstance(hps, dict):
            raise SpecError(file, f"{key}.hyperparameters", "must be a mapping", body.line_of("hyperparameters"))
        known = spec.experiments[group].hyperparameters
        for k in hps:
            if k not in known:
                raise SpecError(file, f"{key}.hyperparameters.{k}", f"not a hyperparameter of paper experiment "
                                f"'{group}' in {spec.path}", hps.line_of(k))
        for k, value in hps.items():
            expected = _kind(known[k].value if known[k].value is not None else
                             (known[k].values or known[k].range or (None,))[0])
            if expected is not None and _kind(value) != expected:
                raise SpecError(file, f"{key}.hyperparameters.{k}", f"must be a {expected} like the paper's "
                                f"{known[k].describe()}, got {value!r}", hps.line_of(k))
            if isinstance(value, str) and not known[k].allows(value) and spec.deviation_for(group, k, value) is None:
                # a categorical value that is neither the paper's nor declared is a typo or an undeclared change
                raise SpecError(file, f"{key}.hyperparameters.{k}", f"{value!r} is neither the paper's value "
                                f"({known[k].describe()}) nor a declared deviation in {spec.path.name}",
                                hps.line_of(k))
        for k in known:
            if k not in hps:
                raise SpecError(file, f"{key}.hyperparameters.{k}", f"missing: {spec.path} lists it for "
                                f"'{group}'", body.line_of("hyperparameters"))
        budget = {**budgets[active], **group_budgets[active].get(group, {})}
        group_keys = paper_keys | set(group_budgets["paper"].get(group, {}))
        overrides = body.get("budget") or {}
        if not isinstance(overrides, dict):
            raise SpecError(file, f"{key}.budget", "must be a mapping of profile -> budget", body.line_of("budget"))
        for prof, values in overrides.items():
            if prof not in profiles or not isinstance(values, dict):
                raise SpecError(file, f"{key}.budget.{prof}", "must name a profile and map budget keys",
                                overrides.line_of(prof))
            for k in values:
                if k not in group_keys:
                    raise SpecError(file, f"{key}.budget.{prof}.{k}", "not a budget key of profiles.paper.budget "
                                    f"or profiles.paper.group_budgets.{group}",
                                    values.line_of(k))
        budget.update(overrides.get(active, {}))
        experiments[name] = ExperimentConfig(paper=paper, name=name, paper_experiment=group, profile=active,
                                             hyperparameters=dict(hps), budget=budget)
    return Params(path=path, paper=paper, profile=active, seeds=seeds, profile_seeds=profile_seeds,
                  experiments=experiments)
