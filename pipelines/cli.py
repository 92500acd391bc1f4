"""The ``replica`` command: list, train, check, audit, report, import-spool, smoke."""
from __future__ import annotations

import argparse
import json
import sys

from shared.errors import SpecError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="replica", description="Faithful, checked replications of RL papers.")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="papers, their experiments and claims")
    t = sub.add_parser("train", help="train one experiment for one seed (resumes from its checkpoint)")
    t.add_argument("paper")
    t.add_argument("experiment")
    t.add_argument("--seed", type=int, required=True)
    t.add_argument("--profile", help="override params.yaml's active profile (e.g. smoke)")
    for name, text in (("check", "verdict per claim from the committed per-seed results"),
                       ("audit", "every hyperparameter: paper value and source vs the value run")):
        c = sub.add_parser(name, help=text)
        c.add_argument("paper")
        c.add_argument("--json", action="store_true", help="machine-readable output")
        if name == "check":
            c.add_argument("--profile", help="check the results of this profile (default: params.yaml's)")
    r = sub.add_parser("report", help="the cross-paper results table and plots (also spliced into README.md)")
    r.add_argument("--no-readme", action="store_true", help="do not update README.md")
    sub.add_parser("import-spool", help="import runs spooled while MLflow was unreachable")
    s = sub.add_parser("smoke", help="run every paper's pipeline at the smoke profile (dvc exp run --temp)")
    s.add_argument("papers", nargs="*", help="default: every paper")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _dispatch(args)
    except SpecError as err:
        print(f"replica: error: {err}", file=sys.stderr)
        return 2


def _dispatch(args: argparse.Namespace) -> int:
    from pipelines.registry import PAPERS, load_paper

    if args.command == "list":
        for paper_id in sorted(PAPERS):
            paper = load_paper(paper_id)
            print(f"{paper_id}: {paper.spec.citation['title']} ({paper.spec.citation['venue']})")
            print(f"  profile {paper.params.profile}, seeds {list(paper.params.seeds)}")
            for name, cfg in paper.params.experiments.items():
                print(f"  experiment {name} [{cfg.paper_experiment}]")
            for claim in paper.spec.claims:
                print(f"  claim {claim.id} ({claim.source}): {claim.statement}")
        return 0
    if args.command == "train":
        from pipelines.train import train

        paper = load_paper(args.paper, args.profile)
        metrics = train(paper, args.experiment, args.seed)
        print(json.dumps({"experiment": args.experiment, "seed": args.seed, **metrics["metrics"],
                          "tracking_run": metrics["tracking_run"]}))
        return 0
    if args.command == "check":
        from pipelines.check import finite_json, check_paper, format_verdicts, write_verdicts

        paper = load_paper(args.paper, args.profile)
        verdicts = check_paper(paper)
        write_verdicts(paper, verdicts)
        print(json.dumps(finite_json(verdicts), indent=2) if args.json else format_verdicts(paper, verdicts))
        return 0
    if args.command == "audit":
        from pipelines.audit import audit_paper, format_audit

        paper = load_paper(args.paper)
        rows, notes = audit_paper(paper)
        print(json.dumps({"hyperparameters": rows, "deviations": notes}, indent=2, default=str) if args.json
              else format_audit(paper, rows, notes))
        return 1 if any(r["status"] == "UNDECLARED DEVIATION" for r in rows) else 0
    if args.command == "report":
        from pipelines.report import write_report

        write_report(update_readme=not args.no_readme)
        return 0
    if args.command == "import-spool":
        from pipelines.spool import import_all

        return import_all()
    if args.command == "smoke":
        from pipelines.smoke import run_smoke

        return run_smoke(args.papers or sorted(PAPERS))
    raise AssertionError(args.command)


if __name__ == "__main__":
    sys.exit(main())
