"""Fetch and preprocess a few-shot data set: ``python -m shared.fewshot.fetch omniglot|miniimagenet --out DIR``.

MiniImagenet also needs ``--images DIR`` (default: ``miniimagenet_images`` beside ``--out``) holding the images
named in its csv files, which have no public download. Errors (a failed download, a checksum mismatch, missing
images) print one line and exit with status 2.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from shared.errors import SpecError
from shared.fewshot.miniimagenet import fetch_miniimagenet
from shared.fewshot.omniglot import fetch_omniglot


def default_images_dir(out: Path) -> Path:
    return Path(out).parent / "miniimagenet_images"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.fewshot.fetch", description=__doc__.splitlines()[0])
    parser.add_argument("dataset", choices=["omniglot", "miniimagenet"])
    parser.add_argument("--out", type=Path, required=True, help="folder for the downloads and the processed arrays")
    parser.add_argument("--images", type=Path, help="MiniImagenet only: the folder of the 60,000 .jpg images")
    args = parser.parse_args(argv)
    try:
        if args.dataset == "omniglot":
            done = fetch_omniglot(args.out)
        else:
            done = fetch_miniimagenet(args.out, args.images or default_images_dir(args.out))
    except SpecError as err:
        print(f"fetch: error: {err}", file=sys.stderr)
        return 2
    print(f"fetch: {args.dataset} ready in {done}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
