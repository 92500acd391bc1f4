"""Small few-shot data files in the canonical formats, generated for tests (stand-in data, never a result):
Omniglot archives (``<set>/<alphabet>/<character>/<drawing>.png``, 105x105 one-bit PNGs) and the MiniImagenet csv
files (``filename,label``) with a folder of .jpg images named as in them."""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image


def omniglot_png(rng: np.random.Generator) -> bytes:
    """A 105x105 one-bit drawing: white page, a few black rectangles as strokes."""
    page = np.ones((105, 105), dtype=bool)
    for _ in range(3):
        r, c = rng.integers(0, 90, size=2)
        h, w = rng.integers(4, 15, size=2)
        page[r:r + h, c:c + w] = False
    out = io.BytesIO()
    Image.fromarray(page).convert("1").save(out, format="PNG")
    return out.getvalue()


def write_omniglot_zip(path: Path, set_name: str, alphabets: dict[str, int], drawings: int = 20,
                       seed: int = 0) -> Path:
    """An archive like images_background.zip: directory entries, then ``<id>_<nn>.png`` drawings per character."""
    rng = np.random.default_rng(seed)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{set_name}/", b"")
        for alphabet, n_characters in alphabets.items():
            archive.writestr(f"{set_name}/{alphabet}/", b"")
            for c in range(1, n_characters + 1):
                folder = f"{set_name}/{alphabet}/character{c:02d}"
                archive.writestr(f"{folder}/", b"")
                for d in range(1, drawings + 1):
                    archive.writestr(f"{folder}/{100 + c:04d}_{d:02d}.png", omniglot_png(rng))
    return path


def write_omniglot_archives(folder: Path, drawings: int = 20) -> list[Path]:
    """Two archives, 18 characters in all (background: 2 alphabets of 5 and 4; evaluation: 1 of 9)."""
    folder.mkdir(parents=True, exist_ok=True)
    return [write_omniglot_zip(folder / "images_background.zip", "images_background", {"Latin": 5, "Greek": 4},
                               drawings, seed=1),
            write_omniglot_zip(folder / "images_evaluation.zip", "images_evaluation", {"Tengwar": 9}, drawings,
                               seed=2)]


def write_miniimagenet(folder: Path, classes: dict[str, int], per_class: int, seed: int = 0,
                       size: tuple[int, int] = (100, 90)) -> tuple[Path, Path]:
    """``folder/csv/{train,val,test}.csv`` with ``classes[split]`` wnids of ``per_class`` images each, and the
    images (random RGB .jpg of ``size``) in ``folder/images``; returns (csv folder, images folder)."""
    rng = np.random.default_rng(seed)
    csv_dir, images = folder / "csv", folder / "images"
    csv_dir.mkdir(parents=True, exist_ok=True)
    images.mkdir(parents=True, exist_ok=True)
    wnid = 1000000
    for split, n_classes in classes.items():
        lines = ["filename,label"]
        for _ in range(n_classes):
            wnid += 1
            label = f"n0{wnid}"
            for i in rng.choice(np.arange(1, 1300), size=per_class, replace=False):
                name = f"{label}{i:08d}.jpg"
                lines.append(f"{name},{label}")
                pixels = rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
                Image.fromarray(pixels).save(images / name, format="JPEG")
        (csv_dir / f"{split}.csv").write_text("\n".join(lines) + "\n")
    return csv_dir, images


def install_generated_data(tmp_path: Path, monkeypatch) -> Path:
    """Fetch generated Omniglot (18 characters) and MiniImagenet (5 / 5 / 5 classes of 20 images) through the real
    fetch code into ``tmp_path/data`` and point $REPLICA_DATA there (stand-in files in the canonical formats)."""
    import hashlib

    from shared.fewshot import miniimagenet, omniglot

    data = tmp_path / "data"
    archives = write_omniglot_archives(tmp_path / "omniglot_src")
    monkeypatch.setattr(omniglot, "BASE_URL", (tmp_path / "omniglot_src").as_uri())
    monkeypatch.setattr(omniglot, "ARCHIVES", {a.name: {"sha256": hashlib.sha256(a.read_bytes()).hexdigest()}
                                               for a in archives})
    omniglot.fetch_omniglot(data / "omniglot")
    csv_dir, images = write_miniimagenet(tmp_path / "mini_src", {"train": 5, "val": 5, "test": 5}, per_class=20)
    monkeypatch.setattr(miniimagenet, "CSV_BASE_URL", csv_dir.as_uri())
    monkeypatch.setattr(miniimagenet, "CSV_CHECKSUMS", {f"{s}.csv": {"sha256": hashlib.sha256(
        (csv_dir / f"{s}.csv").read_bytes()).hexdigest()} for s in miniimagenet.SPLITS})
    miniimagenet.fetch_miniimagenet(data / "miniimagenet", images)
    monkeypatch.setenv("REPLICA_DATA", str(data))
    return data
