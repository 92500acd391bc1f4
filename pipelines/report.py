"""``replica report``: the cross-paper results table (markdown, spliced into README.md) and learning-curve plots
with the paper's numbers drawn in, from each paper's committed paper-profile results and verdicts."""
from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from pipelines.check import describe_ours, describe_target  # noqa: E402
from pipelines.registry import PAPERS, Paper, load_paper  # noqa: E402
from shared.repo import code_root  # noqa: E402
from shared.run import atomic_write_text  # noqa: E402

START, END = "<!-- results:start -->", "<!-- results:end -->"


def _read_curve(path: Path) -> list[dict[str, float]]:
    with open(path) as fh:
        return [{k: float(v) for k, v in row.items() if v != ""} for row in csv.DictReader(fh)]


def plot_claim(paper: Paper, claim: dict[str, Any], spec_curve_metric: str | None, out: Path) -> Path | None:
    """Per-seed learning curves of the claim's experiment(s) with the paper's threshold or band drawn in."""
    if not spec_curve_metric:
        return None
    fig, ax = plt.subplots(figsize=(6, 3.6))
    drawn = False
    for name, colour in ((claim["experiment"], "tab:red"), (claim.get("other_experiment"), "tab:blue")):
        if not name:
            continue
        for i, seed in enumerate(paper.params.profile_seeds["paper"]):
            path = paper.run_dir("paper", name, seed) / "curve.csv"
            if path.exists() and (path.parent / "metrics.json").exists():  # finished runs only
                rows = [r for r in _read_curve(path) if spec_curve_metric in r]
                ax.plot([r["step"] for r in rows], [r[spec_curve_metric] for r in rows], color=colour, alpha=0.6,
                        lw=1, label=name if i == 0 else None)
                drawn = True
    if claim["comparison"] in ("at_least", "at_most"):
        ax.axhline(claim["threshold"], color="k", ls="--", lw=1, label=f"paper: {describe_target(claim)}")
    elif claim["comparison"] == "within":
        ax.axhspan(claim["reported"] - claim["delta"], claim["reported"] + claim["delta"], color="k", alpha=0.1,
                   label=f"paper: {claim['reported']} ± {claim['delta']}")
    if not drawn:
        ax.text(0.5, 0.5, "not run at paper budget", transform=ax.transAxes, ha="center", va="center")
    ax.set_xlabel("environment steps")
    ax.set_ylabel(spec_curve_metric)
    ax.set_title(f"{paper.id}: {claim['claim']} ({claim['verdict']})", fontsize=9)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def splice(path: Path, table: str) -> None:
    """Replace the text between the results markers of a markdown file (left alone if it has none)."""
    if not path.exists():
        return
    text = path.read_text()
    if START in text and END in text:
        head, rest = text.split(START, 1)
        _, tail = rest.split(END, 1)
        atomic_write_text(path, f"{head}{START}\n{table}\n{END}{tail}")


def write_report(update_readme: bool = True, root: Path | None = None) -> Path:
    root = root or code_root()
    reports = root / "reports"
    header = ["| paper | claim | source | paper says | ours: mean [95 % CI] | verdict |", "|---|---|---|---|---|---|"]
    lines = list(header)
    counts: dict[str, int] = {}
    for paper_id in sorted(PAPERS):
        paper = load_paper(paper_id, "paper")
        verdict_file = paper.results_dir("paper") / "check" / "verdicts.json"
        verdicts = json.loads(verdict_file.read_text())["claims"] if verdict_file.exists() else [
            {"claim": c.id, "source": c.source, "comparison": c.comparison, "threshold": c.threshold,
             "reported": c.reported, "delta": c.delta, "other_experiment": c.other_experiment,
             "experiment": c.experiment, "verdict": "not run at paper budget"} for c in paper.spec.claims]
        curve_metric = {c.id: c.curve_metric for c in paper.spec.claims}
        paper_lines = list(header)
        for claim in verdicts:
            counts[claim["verdict"]] = counts.get(claim["verdict"], 0) + 1
            plot = plot_claim(paper, claim, curve_metric.get(claim["claim"]),
                              reports / "plots" / f"{paper_id}_{claim['claim']}.png")
            for rows, prefix in ((lines, ""), (paper_lines, "../../")):
                link = f" ([plot]({prefix}reports/plots/{plot.name}))" if plot else ""
                rows.append(f"| {paper_id} | {claim['claim']}{link} | {claim['source']} | {describe_target(claim)} | "
                            f"{describe_ours(claim)} | **{claim['verdict']}** |")
        if update_readme:
            splice(paper.dir / "README.md", "\n".join(paper_lines))
    summary = ", ".join(f"{v}: {n}" for v, n in sorted(counts.items()))
    table = "\n".join(lines) + f"\n\nVerdicts: {summary}. Generated by `replica report` from the committed " \
                                "paper-profile results; do not edit by hand."
    atomic_write_text(reports / "results.md", "# Results\n\n" + table + "\n")
    if update_readme:
        splice(root / "README.md", table)
    print(table)
    return reports / "results.md"
