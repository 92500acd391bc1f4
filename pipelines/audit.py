"""``replica audit <paper>``: every hyperparameter run vs what the paper states, with its source.

Status per (paper experiment, hyperparameter, value run): ``match`` (the paper's value, or one of the values it
sweeps), ``declared deviation`` (a ``paper.yaml`` deviation names this hyperparameter and value, with its reason), or
``UNDECLARED DEVIATION`` (anything else, including a value the paper does not state and nobody declared), which
fails the command. Budget items are listed too (a budget below the paper's is reported by ``check``, not here).
"""
from __future__ import annotations

import json
from typing import Any

from pipelines.registry import Paper

MATCH, DECLARED, UNDECLARED = "match", "declared deviation", "UNDECLARED DEVIATION"


def audit_paper(paper: Paper) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(one row per hyperparameter value run, the paper's non-hyperparameter deviations)."""
    runs: dict[tuple[str, str, str], dict[str, Any]] = {}
    for name, config in paper.params.experiments.items():
        for key, value in config.hyperparameters.items():
            ident = (config.paper_experiment, key, json.dumps(value, sort_keys=True))
            runs.setdefault(ident, {"value": value, "experiments": []})["experiments"].append(name)
    rows = []
    for (group, key, _), found in runs.items():
        stated = paper.spec.experiments[group].hyperparameters[key]
        ours = found["value"]
        row = {"paper_experiment": group, "hyperparameter": key, "paper": stated.describe(),
               "source": stated.source, "ours": ours, "experiments": found["experiments"]}
        if stated.allows(ours):
            row.update(status=MATCH, reason="")
        else:
            deviation = paper.spec.deviation_for(group, key, ours)
            row.update(status=DECLARED, reason=f"{deviation.id}: {deviation.reason}") if deviation else \
                row.update(status=UNDECLARED, reason="the value run is not the paper's and no deviation in "
                           f"{paper.spec.path.name} declares it")
        rows.append(row)
    for group, spec in paper.spec.experiments.items():
        if not any(c.paper_experiment == group for c in paper.params.experiments.values()):
            continue  # a paper experiment we do not run yet: nothing to compare
        ours = next(c for c in paper.params.experiments.values() if c.paper_experiment == group)
        for key, stated in spec.budget.items():
            value = (len(paper.params.profile_seeds[paper.params.profile]) if key == "seeds"
                     else ours.budget.get(key, "not set"))
            rows.append({"paper_experiment": group, "hyperparameter": f"budget.{key}", "paper": stated.describe(),
                         "source": stated.source, "ours": value, "experiments": [], "status": "budget",
                         "reason": f"profile {paper.params.profile}"})
    notes = [{"id": d.id, "what": d.what, "paper": d.paper, "ours": d.ours, "reason": d.reason}
             for d in paper.spec.deviations if d.hyperparameter is None]
    return rows, notes


def format_audit(paper: Paper, rows: list[dict[str, Any]], notes: list[dict[str, Any]]) -> str:
    lines = [f"# Audit: {paper.spec.citation['title']} ({paper.id})", "",
             "| experiment | hyperparameter | paper | source | ours | status |", "|---|---|---|---|---|---|"]
    for r in rows:
        status = r["status"] if r["status"] in (MATCH, "budget") else f"{r['status']} ({r['reason']})"
        lines.append(f"| {r['paper_experiment']} | {r['hyperparameter']} | {r['paper']} | {r['source']} | "
                     f"{r['ours']} | {status} |")
    if notes:
        lines += ["", "## Other declared deviations", ""]
        lines += [f"- **{n['id']}** ({n['what']}): paper: {n['paper']}; ours: {n['ours']}. Why: {n['reason']}"
                  for n in notes]
    counts = {s: sum(r["status"] == s for r in rows) for s in (MATCH, DECLARED, UNDECLARED)}
    lines += ["", f"{counts[MATCH]} match, {counts[DECLARED]} declared deviations, "
              f"{counts[UNDECLARED]} undeclared deviations."]
    return "\n".join(lines)
