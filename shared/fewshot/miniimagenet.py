"""MiniImagenet with the split of Ravi & Larochelle (2017), preprocessed as in cbfinn/maml.

The split is the three csv files (``filename,label``) published with github.com/twitter/meta-learning-lstm,
``data/miniImagenet/{train,val,test}.csv``: 64 / 16 / 20 classes (ImageNet wnids) of 600 images each, 60,000 file
names like ``n0153282900000005.jpg``. Their checksums below are the SHA-256 and git object ids of those files at
commit 0df7fc7 (unchanged since commit 468bda8, 2017).

The images themselves have no public download: they are drawn from the ILSVRC-2012 training set, which needs an
ImageNet login, and the MAML authors got them from Ravi & Larochelle (cbfinn/maml issue #4). The fetch step
therefore downloads the csv files and then needs the 60,000 images placed by the user in one folder, named as in
the csv files; without them it stops with a message saying exactly that.

Preprocessing, as the authors' data/miniImagenet/proc_images.py: each image passed through Pillow's
``resize((84, 84), resample=LANCZOS)`` and saved back over the .jpg with Pillow's default JPEG settings (so the
84x84 pixels went through one more JPEG round trip), then grouped into one folder per class and split. Loading
(data_generator.py) decodes to RGB and maps p -> p/255.
"""
from __future__ import annotations

import csv
import io
import json
import os
import sys
from pathlib import Path
from typing import Mapping

import numpy as np
from PIL import Image
from tqdm import tqdm

from shared.errors import DataMissingError
from shared.fewshot.download import GIT_BLOB_SHA1, Opener, download
from shared.fewshot.episodes import ImageClasses

CSV_BASE_URL = "https://raw.githubusercontent.com/twitter/meta-learning-lstm/master/data/miniImagenet"
CSV_CHECKSUMS: dict[str, dict[str, str]] = {
    "train.csv": {"sha256": "498519cd8e49ce97ed26a4a3638966698ae41ab35e9c68538319fc9b46ba7d2f",
                  GIT_BLOB_SHA1: "dd9fa949753e851663d2485722640b729ab1602f"},
    "val.csv": {"sha256": "5658a59921ca027ee76af92949869c5d6f41d77592ff3b18db325a9d10c893b9",
                GIT_BLOB_SHA1: "eb62791d8598012a0dc8a71c8b61edc151748f4c"},
    "test.csv": {"sha256": "2b7cfa78342995761a572a8158e539bc4e0a80f9bbd7d00c1e17a460fbbb93fa",
                 GIT_BLOB_SHA1: "6cdb3d0dfc81cc211c6d3188d7e29371812255c2"},
}
SPLITS = ("train", "val", "test")
IMAGE_SIZE = 84
CLASSES_FILE = "classes.json"
DEFAULT_FETCH = "python -m shared.fewshot.fetch miniimagenet --out {out}"


def read_split(path: Path) -> dict[str, list[str]]:
    """label -> its image file names, both in csv order (header ``filename,label``)."""
    classes: dict[str, list[str]] = {}
    with open(path, newline="") as fh:
        rows = csv.reader(fh)
        header = next(rows, None)
        if header != ["filename", "label"]:
            raise ValueError(f"{path}: expected the header 'filename,label', got {header}")
        for filename, label in rows:
            classes.setdefault(label, []).append(filename)
    counts = {len(v) for v in classes.values()}
    if len(counts) != 1:
        raise ValueError(f"{path}: classes have different numbers of images: {sorted(counts)}")
    return classes


def resize_like_authors(path: Path) -> np.ndarray:
    """One image as the authors stored it: Pillow ``resize((84, 84), LANCZOS)``, saved as JPEG with Pillow's
    defaults, decoded again to RGB: uint8 (84, 84, 3)."""
    with Image.open(path) as im:
        small = im.resize((IMAGE_SIZE, IMAGE_SIZE), resample=Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    small.save(buffer, format="JPEG")
    with Image.open(buffer) as again:
        return np.asarray(again.convert("RGB"), dtype=np.uint8)


def missing_images_message(images_dir: Path, missing: list[str], total: int) -> str:
    return (f"no public download exists (ILSVRC-2012 needs an ImageNet login): place the {total} Ravi & Larochelle "
            f"images named in train.csv, val.csv and test.csv as {Path(images_dir).resolve()}/<filename> "
            f"(e.g. {missing[0]}; {len(missing)} of {total} absent) and run the fetch again")


def preprocess(splits: Mapping[str, dict[str, list[str]]], images_dir: Path, out: Path) -> Path:
    """Write ``out/<split>.npy`` (uint8 (classes, images, 84, 84, 3), classes in csv order) for every split and
    then ``out/classes.json`` (split -> wnids), each atomically; raises ``DataMissingError`` before writing
    anything when an image is absent."""
    images_dir = Path(images_dir)
    names = [f for classes in splits.values() for files in classes.values() for f in files]
    missing = [f for f in names if not (images_dir / f).is_file()]
    if missing:
        raise DataMissingError(str(images_dir), "miniimagenet images",
                               missing_images_message(images_dir, missing, len(names)))
    for split, classes in splits.items():
        labels = list(classes)
        shape = (len(labels), len(classes[labels[0]]), IMAGE_SIZE, IMAGE_SIZE, 3)
        tmp = out / f"{split}.npy.tmp"
        array = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=shape)
        bar = tqdm(total=shape[0] * shape[1], desc=f"miniimagenet {split}", file=sys.stderr,
                   mininterval=0.5 if sys.stderr.isatty() else 30.0)
        for c, label in enumerate(labels):
            for i, filename in enumerate(classes[label]):
                array[c, i] = resize_like_authors(images_dir / filename)
                bar.update(1)
        bar.close()
        array.flush()
        del array
        os.replace(tmp, out / f"{split}.npy")
    classes_file = out / CLASSES_FILE
    classes_file.with_suffix(".tmp").write_text(json.dumps({s: list(c) for s, c in splits.items()}, indent=1))
    os.replace(classes_file.with_suffix(".tmp"), classes_file)
    return out


def fetch_miniimagenet(out: Path, images_dir: Path, opener: Opener | None = None) -> Path:
    """Download the split csv files of ``CSV_CHECKSUMS`` from ``CSV_BASE_URL`` into ``out``, verify them, then
    preprocess the user-supplied images of ``images_dir`` into ``out`` (see ``preprocess``)."""
    out = Path(out)
    kwargs = {} if opener is None else {"opener": opener}
    splits = {}
    for split in SPLITS:
        name = f"{split}.csv"
        splits[split] = read_split(download(f"{CSV_BASE_URL}/{name}", out / name, CSV_CHECKSUMS[name], **kwargs))
    return preprocess(splits, images_dir, out)


def load_miniimagenet(data_dir: Path, fetch_command: str | None = None) -> dict[str, ImageClasses]:
    """``train``/``val``/``test`` as memory-mapped ``ImageClasses`` (pixels mapped to p/255 when sampled); a missing
    file raises ``DataMissingError`` naming ``fetch_command`` (default: this package's fetch CLI)."""
    data_dir = Path(data_dir)
    needed = [data_dir / CLASSES_FILE, *(data_dir / f"{s}.npy" for s in SPLITS)]
    for path in needed:
        if not path.is_file():
            command = fetch_command or DEFAULT_FETCH.format(out=data_dir)
            raise DataMissingError(str(path), "miniimagenet", f"fetch it with: {command}")
    labels = json.loads(needed[0].read_text())
    return {s: ImageClasses(np.load(data_dir / f"{s}.npy", mmap_mode="r"), tuple(labels[s])) for s in SPLITS}
