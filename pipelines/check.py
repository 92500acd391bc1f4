"""``replica check <paper>``: one verdict per claim of ``paper.yaml`` from the per-seed results.

Order of the rules (design brief, checks): no results or a budget below the paper's -> ``not run at paper budget``;
results made by other code or config than the current -> ``stale``; otherwise the 95 % interval over seeds (wider of
Student-t and BCa) against the claim's band or threshold, or Welch's interval for an ordering.
"""
from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from pipelines.registry import Paper
from pipelines.train import stale_reason
from shared.errors import SpecError
from shared.paper_spec import Claim, load_paper_spec
from shared.repo import code_root, git_output
from shared.run import atomic_write_text
from shared.stats import NOT_RUN, STALE, band_verdict, best_of_seeds_verdict, ordering_verdict
from shared.yamlio import load_yaml


def load_seed_results(paper: Paper, experiment: str) -> list[dict[str, Any]]:
    """Every ``metrics.json`` of ``experiment`` for the seeds the active profile lists, sorted by seed."""
    profile = paper.params.profile
    found = []
    for seed in paper.params.profile_seeds[profile]:
        path = paper.run_dir(profile, experiment, seed) / "metrics.json"
        if path.exists():
            found.append(json.loads(path.read_text()))
    return found


def _budget_shortfall(paper: Paper, experiment: str, results: list[dict[str, Any]]) -> tuple[float, list[str]]:
    """(smallest ratio ours/paper over the stated budget items, the items below the paper's)."""
    group = paper.spec.experiments[paper.params.experiment(experiment).paper_experiment]
    ratios, short = [], []
    for key, stated in group.budget.items():
        if stated.value is None:
            continue
        if key == "seeds":
            ours = len(results)
        else:
            ours = min(r["budget"].get(key, 0) for r in results)
        ratios.append(ours / stated.value)
        if ours < stated.value:
            short.append(f"{key} {ours} < {stated.value}")
    return (min(ratios) if ratios else 1.0), short


def _experiment_status(paper: Paper, experiment: str) -> tuple[list[dict[str, Any]], str | None, str, float]:
    results = load_seed_results(paper, experiment)
    if not results:
        return results, NOT_RUN, f"no results for {experiment} at profile {paper.params.profile}", 0.0
    ratio, short = _budget_shortfall(paper, experiment, results)
    if short:
        return results, NOT_RUN, f"{experiment}: " + ", ".join(short), ratio
    stale = {r["seed"]: why for r in results if (why := stale_reason(paper, experiment, r.get("fingerprint")))}
    if stale:
        return results, STALE, f"{experiment}: seeds {sorted(stale)} ran with other code or params " \
                               f"({next(iter(stale.values()))})", ratio
    return results, None, "", ratio


def dvc_lock_hashes(paper: Paper, experiment: str, seeds: list[int]) -> dict[str, str]:
    """A short hash of each seed's ``train`` entry in the paper's ``dvc.lock`` (absent until ``dvc commit``)."""
    lock = paper.dir / "dvc.lock"
    if not lock.exists():
        return {}
    stages = (load_yaml(lock).get("stages") or {})
    out = {}
    for seed in seeds:
        entry = next((v for k, v in stages.items() if k.endswith(f"@{experiment}-{seed}")), None)
        if entry is not None:
            out[str(seed)] = hashlib.sha256(json.dumps(entry, sort_keys=True).encode()).hexdigest()[:12]
    return out


def finite_json(value: Any) -> Any:
    """JSON has no infinities: one-sided bands are written with null for the open end."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite_json(v) for v in value]
    return value


def preregistration(paper: Paper, claim: Claim) -> dict[str, Any]:
    """When the claim's tolerance took its current form and when its first result was committed (git history).

    ``preregistered`` is False when the band or threshold last changed after a result of the claim's experiment
    was already committed, None when git cannot tell (no history, or uncommitted)."""
    rel = paper.spec.path.resolve().relative_to(code_root().resolve()).as_posix()
    log = git_output("log", "--format=%H %ct", "--", rel)  # every commit that touched paper.yaml, newest first
    current = _tolerance(claim)
    since = None
    for line in (log or "").splitlines():  # newest first: walk back while the tolerance is unchanged
        commit, stamp = line.split()
        text = git_output("show", f"{commit}:{rel}")
        old = _claim_in(text, claim.id) if text else None
        if old is None or _tolerance(old) != current:
            break
        since = (commit, int(stamp))
    root = code_root().resolve()
    runs = [paper.run_dir("paper", n, 1).parent.resolve() for n in (claim.experiment, claim.other_experiment) if n]
    runs = [p.relative_to(root).as_posix() for p in runs if p.is_relative_to(root)]
    first = git_output("log", "--diff-filter=A", "--format=%H %ct", "--", *runs) if runs else None
    first_result = first.splitlines()[-1].split() if first and first.strip() else None
    out: dict[str, Any] = {"tolerance_since": since[0] if since else None,
                           "first_result_commit": first_result[0] if first_result else None, "preregistered": None}
    if since and first_result:
        out["preregistered"] = since[1] <= int(first_result[1])
    elif since:
        out["preregistered"] = True  # no committed result yet
    return out


def _tolerance(claim: Any) -> tuple:
    return (claim.comparison, claim.reported, claim.threshold, claim.delta, claim.metric, claim.experiment,
            claim.other_experiment)


def _claim_in(text: str, claim_id: str) -> Claim | None:
    """The claim ``claim_id`` of an older paper.yaml text (None if absent or unreadable)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "paper.yaml"
        path.write_text(text)
        try:
            return next((c for c in load_paper_spec(path).claims if c.id == claim_id), None)
        except SpecError:
            return None


def _values(results: list[dict[str, Any]], metric: str, experiment: str) -> np.ndarray:
    try:
        return np.array([float(r["metrics"][metric]) for r in results])
    except KeyError:
        raise KeyError(f"{experiment}: results have no metric {metric!r}") from None


def check_claim(paper: Paper, claim: Claim) -> dict[str, Any]:
    record: dict[str, Any] = {
        "claim": claim.id, "source": claim.source, "statement": claim.statement, "experiment": claim.experiment,
        "metric": claim.metric, "comparison": claim.comparison, "approximate": claim.approximate,
        "reported": claim.reported, "threshold": claim.threshold, "delta": claim.delta,
        "other_experiment": claim.other_experiment, "tolerance_reason": claim.tolerance_reason,
        "statistic": claim.statistic,
        "profile": paper.params.profile,
    }
    names = [claim.experiment] + ([claim.other_experiment] if claim.other_experiment else [])
    statuses = [_experiment_status(paper, name) for name in names]
    results = statuses[0][0]
    record.update(seeds=[r["seed"] for r in results], n=len(results),
                  budget_ratio=min(s[3] for s in statuses),
                  commits=sorted({r["commit"] for s in statuses for r in s[0]}),
                  tracking_runs=[r["tracking_run"] for s in statuses for r in s[0]],
                  dvc_lock=dvc_lock_hashes(paper, claim.experiment, [r["seed"] for r in results]),
                  **preregistration(paper, claim))
    if results:
        x = _values(results, claim.metric, claim.experiment)
        record.update(values=x.tolist(), mean=float(x.mean()), std=float(x.std(ddof=1)) if len(x) > 1 else None)
    blocking = [s for s in statuses if s[1] is not None]
    if blocking:
        verdict = NOT_RUN if any(s[1] == NOT_RUN for s in blocking) else STALE
        record.update(verdict=verdict, reason="; ".join(s[2] for s in blocking))
        return record
    if claim.comparison in ("greater_than", "less_than"):
        other = statuses[1][0]
        y = _values(other, claim.metric, claim.other_experiment)
        a, b = (x, y) if claim.comparison == "greater_than" else (y, x)
        verdict, (diff, low, high) = ordering_verdict(a, b)
        record.update(other_seeds=[r["seed"] for r in other], other_n=len(other), other_mean=float(y.mean()),
                      difference=diff, ci=[low, high], verdict=verdict,
                      reason=f"Welch 95 % CI of the difference [{low:.3f}, {high:.3f}] vs 0")
        return record
    low, high = claim.band()
    if claim.statistic == "best_of_seeds":
        se = _values(results, claim.metric + "_se", claim.experiment)
        chosen = _values(results, claim.selection_metric, claim.experiment)
        verdict, best, ci_best = best_of_seeds_verdict(x, se, chosen, low, high)
        record.update(statistic="best_of_seeds", best_seed=results[best]["seed"], best_value=float(x[best]),
                      best_se=float(se[best]), ci=list(ci_best), band=[low, high], verdict=verdict,
                      reason=(f"n = {len(x)} < 5 seeds to pick the best from" if len(x) < 5 else
                              f"best of {len(x)} seeds by {claim.selection_metric}: seed {results[best]['seed']}, "
                              f"95 % CI [{ci_best[0]:.3f}, {ci_best[1]:.3f}] vs band [{low:.3f}, {high:.3f}]"))
        return record
    verdict, ci = band_verdict(x, low, high)
    record.update(t_ci=[ci.t_low, ci.t_high], bca_ci=[ci.bca_low, ci.bca_high], ci=[ci.low, ci.high],
                  band=[low, high], verdict=verdict,
                  reason=(f"n = {ci.n} < 5 seeds" if ci.n < 5 else
                          f"95 % CI [{ci.low:.3f}, {ci.high:.3f}] vs band [{low:.3f}, {high:.3f}]"))
    return record


def check_paper(paper: Paper) -> dict[str, Any]:
    claims = [check_claim(paper, claim) for claim in paper.spec.claims]
    for c in claims:
        if c["preregistered"] is False:  # reported, not hidden: the verdict stands beside this warning
            c["reason"] += f"; WARNING: tolerance changed after results were committed ({c['first_result_commit'][:8]})"
    decided = [c for c in claims if c["verdict"] in ("replicated", "not replicated", "inconclusive")]
    return {"paper": paper.id, "profile": paper.params.profile, "claims": claims,
            "claims_checked": len(decided), "expected_chance_misses": round(0.05 * len(decided), 2),
            "summary": {v: sum(c["verdict"] == v for c in claims) for v in sorted({c["verdict"] for c in claims})}}


def describe_target(c: dict[str, Any]) -> str:
    """What the paper's claim requires, e.g. '≥ 0.5', '0.9 ± 0.05', '> bitflip_n50_dqn'."""
    kind = c["comparison"]
    if kind == "within":
        return f"{c['reported']} ± {c['delta']}"
    if kind in ("at_least", "at_most"):
        return f"{'≥' if kind == 'at_least' else '≤'} {c['threshold']}" + (f" (δ {c['delta']})" if c["delta"] else "")
    return f"{'>' if kind == 'greater_than' else '<'} {c['other_experiment']}"


def describe_ours(c: dict[str, Any]) -> str:
    """Our mean with its 95 % interval and n (for an ordering: both means and the interval of the difference)."""
    if c.get("mean") is None:
        return "–"
    ci = c.get("ci")
    finite = ci is not None and all(v is not None and math.isfinite(v) for v in ci)
    if c.get("statistic") == "best_of_seeds":
        best = f"best of seeds (seed {c['best_seed']}): {c['best_value']:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]; " \
            if "best_seed" in c else "best of seeds: –; "
        return best + f"mean {c['mean']:.3f} (n={c['n']})"
    if c["comparison"] in ("greater_than", "less_than") and "other_mean" in c:
        diff = f", difference [{ci[0]:.3f}, {ci[1]:.3f}]" if finite else ""
        return f"{c['mean']:.3f} vs {c['other_mean']:.3f}{diff} (n={c['n']}, {c['other_n']})"
    return f"{c['mean']:.3f} [{ci[0]:.3f}, {ci[1]:.3f}] (n={c['n']})" if finite else f"{c['mean']:.3f} (n={c['n']})"


def format_verdicts(paper: Paper, verdicts: dict[str, Any]) -> str:
    lines = [f"# {paper.spec.citation['title']} ({paper.id}), profile {verdicts['profile']}", "",
             "| claim | source | target | ours: mean [95 % CI] (n) | verdict | why |", "|---|---|---|---|---|---|"]
    for c in verdicts["claims"]:
        lines.append(f"| {c['claim']} | {c['source']} | {describe_target(c)} | {describe_ours(c)} | "
                     f"**{c['verdict']}** | {c['reason']} |")
    lines += ["", f"{verdicts['claims_checked']} claims with a statistical verdict; about "
              f"{verdicts['expected_chance_misses']} would miss by chance at 95 %."]
    return "\n".join(lines)


def write_verdicts(paper: Paper, verdicts: dict[str, Any]) -> Path:
    folder = paper.results_dir(paper.params.profile) / "check"
    atomic_write_text(folder / "verdicts.json", json.dumps(finite_json(verdicts), indent=2) + "\n")
    atomic_write_text(folder / "verdicts.md", format_verdicts(paper, verdicts) + "\n")
    return folder
