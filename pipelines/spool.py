"""``replica import-spool``: replay spooled runs into MLflow and point the results files at the imported runs."""
from __future__ import annotations

import json
import sys

from pipelines.registry import PAPERS
from shared.repo import code_root
from shared.run import atomic_write_text
from shared.tracking import import_spool, spool_root


def import_all() -> int:
    try:
        mapping = import_spool()
    except ConnectionError as err:
        print(f"replica: error: {err}", file=sys.stderr)
        return 1
    updated = 0
    for paper_id in PAPERS:
        for path in (code_root() / "papers" / paper_id / "results").rglob("metrics.json"):
            data = json.loads(path.read_text())
            if data.get("tracking_run") in mapping:
                data["spooled_as"] = data["tracking_run"]
                data["tracking_run"] = mapping[data["tracking_run"]]
                data["tracking_backend"] = "mlflow"
                atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")
                updated += 1
    print(f"imported {len(mapping)} spooled run(s) from {spool_root()}; updated {updated} results file(s)")
    return 0
