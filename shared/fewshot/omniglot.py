"""Omniglot (Lake et al. 2015): the canonical release, preprocessed and split as in cbfinn/maml.

Source: the two image archives of github.com/brendenlake/omniglot, ``python/images_background.zip`` (30 alphabets,
964 characters) and ``python/images_evaluation.zip`` (20 alphabets, 659 characters), 20 drawings per character,
105x105 one-bit PNGs. Checksums: the MD5s torchvision publishes for these archives (torchvision/datasets/
omniglot.py, ``zips_md5``) and the git object ids of the files in the brendenlake/omniglot tree at commit
057f034 (unchanged since commit 32aee47, 2015).

Preprocessing, as the authors' data/omniglot_resized/resize_images.py: both sets pooled (1623 characters), each
image passed through Pillow's ``resize((28, 28), resample=LANCZOS)``. Pillow forces nearest-neighbour resampling
for mode "1" images (both today and in the 2017 releases), so the 28x28 images are nearest-neighbour samples of the
one-bit originals, values 0 or 255; PNG is lossless, so the saved-and-reloaded pixels are these values. Loading
(data_generator.py) maps p -> 1 - p/255, so strokes are 1.

Split (data_generator.py): the character folders shuffled with ``random.seed(1)``, the first ``num_train`` for
meta-training, the next ``num_val`` for validation, the rest for test. The authors' list came from ``os.listdir``
(file-system order) and Python 2's shuffle, so their exact split cannot be recovered; here the list is sorted by
"alphabet/character" and shuffled with Python 3's ``random.Random(seed).shuffle``: the same procedure, a
reproducible order.
"""
from __future__ import annotations

import io
import random
import zipfile
from collections import defaultdict
from pathlib import Path
import numpy as np
from PIL import Image

from shared.errors import DataMissingError
from shared.fewshot.download import GIT_BLOB_SHA1, Opener, download
from shared.fewshot.episodes import ImageClasses

BASE_URL = "https://raw.githubusercontent.com/brendenlake/omniglot/master/python"
ARCHIVES: dict[str, dict[str, str]] = {
    "images_background.zip": {"md5": "68d2efa1b9178cc56df9314c21c6e718",
                              GIT_BLOB_SHA1: "71fd167eb6fdd312049395fbd247147a4b234231"},
    "images_evaluation.zip": {"md5": "6b91aef0f799c5bb55b94e3f2daec811",
                              GIT_BLOB_SHA1: "8ccde0ed1565641f1fa8c57cdc6ff634e15fc5c1"},
}
IMAGE_SIZE = 28
PROCESSED = "omniglot28.npz"
QUARTER_TURNS = (0, 1, 2, 3)  # rotations by 0/90/180/270 degrees, drawn per class in each task
DEFAULT_FETCH = "python -m shared.fewshot.fetch omniglot --out {out}"


def resize_like_authors(png: bytes) -> np.ndarray:
    """One drawing as the authors stored it: Pillow ``resize((28, 28), LANCZOS)`` of the PNG as opened (nearest
    neighbour for the one-bit originals), as a uint8 (28, 28) array of grey levels."""
    with Image.open(io.BytesIO(png)) as im:
        small = im.resize((IMAGE_SIZE, IMAGE_SIZE), resample=Image.Resampling.LANCZOS)
    return np.asarray(small.convert("L"), dtype=np.uint8)


def read_archive(path: Path) -> dict[str, list[np.ndarray]]:
    """Every character of one archive (``<set>/<alphabet>/<character>/<drawing>.png``), keyed "alphabet/character",
    its drawings resized and ordered by file name."""
    drawings: dict[str, list[tuple[str, np.ndarray]]] = defaultdict(list)
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            parts = info.filename.split("/")
            if info.is_dir() or not info.filename.endswith(".png") or len(parts) < 3:
                continue
            drawings[f"{parts[-3]}/{parts[-2]}"].append((parts[-1], resize_like_authors(archive.read(info))))
    return {name: [img for _, img in sorted(items, key=lambda item: item[0])] for name, items in drawings.items()}


def preprocess(archives: list[Path], dest: Path) -> Path:
    """Pool the characters of ``archives`` (sorted by name) into ``dest`` (.npz: ``images`` uint8 (characters,
    drawings, 28, 28, 1) and ``names``), written atomically."""
    characters: dict[str, list[np.ndarray]] = {}
    for path in archives:
        for name, images in read_archive(path).items():
            if name in characters:
                raise ValueError(f"{path}: character {name} appears in two archives")
            characters[name] = images
    names = sorted(characters)
    counts = {len(characters[n]) for n in names}
    if len(counts) != 1:
        raise ValueError(f"characters have different numbers of drawings: {sorted(counts)}")
    images = np.stack([np.stack(characters[n]) for n in names])[..., None]
    tmp = dest.with_name(dest.name + ".tmp.npz")
    np.savez_compressed(tmp, images=images, names=np.array(names))
    tmp.replace(dest)
    return dest


def fetch_omniglot(out: Path, opener: Opener | None = None) -> Path:
    """Download both archives of ``ARCHIVES`` from ``BASE_URL`` into ``out``, verify them and write the
    preprocessed ``out/omniglot28.npz``."""
    out = Path(out)
    kwargs = {} if opener is None else {"opener": opener}
    archives = [download(f"{BASE_URL}/{name}", out / name, sums, **kwargs) for name, sums in ARCHIVES.items()]
    return preprocess(archives, out / PROCESSED)


def load_omniglot(data_dir: Path, fetch_command: str | None = None) -> ImageClasses:
    """All preprocessed characters (pixels mapped to 1 - p/255 when sampled); a missing file raises
    ``DataMissingError`` naming ``fetch_command`` (default: this package's fetch CLI)."""
    path = Path(data_dir) / PROCESSED
    if not path.is_file():
        command = fetch_command or DEFAULT_FETCH.format(out=data_dir)
        raise DataMissingError(str(path), "omniglot", f"fetch it with: {command}")
    with np.load(path, allow_pickle=False) as data:
        return ImageClasses(data["images"], tuple(str(n) for n in data["names"]), invert=True)


def split_characters(characters: ImageClasses, num_train: int, num_val: int, seed: int = 1) -> dict[str, ImageClasses]:
    """``train``/``val``/``test``: the characters shuffled with ``random.Random(seed)``, then the first ``num_train``,
    the next ``num_val`` and the rest (cbfinn/maml: seed 1, num_train = 1200 - 100, num_val = 100)."""
    if num_train < 1 or num_val < 0 or num_train + num_val >= characters.n_classes:
        raise ValueError(f"cannot split {characters.n_classes} characters into {num_train} train, {num_val} "
                         "validation and a non-empty test set")
    order = list(range(characters.n_classes))
    random.Random(seed).shuffle(order)
    return {"train": characters.subset(order[:num_train]),
            "val": characters.subset(order[num_train:num_train + num_val]),
            "test": characters.subset(order[num_train + num_val:])}
