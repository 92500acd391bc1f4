"""The shared few-shot data: verified downloads, the Omniglot and MiniImagenet loaders on small generated files in
the canonical formats, the Omniglot split, the fetch CLI's one-line errors and N-way K-shot episode sampling."""
from __future__ import annotations

import hashlib
import io
import json
import random
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from shared.errors import ChecksumError, DataMissingError, SpecError
from shared.fewshot import fetch, miniimagenet, omniglot
from shared.fewshot.download import GIT_BLOB_SHA1, download, file_digest
from shared.fewshot.episodes import ImageClasses, sample_tasks
from tests.fewshot_files import write_miniimagenet, write_omniglot_archives


def sha256(path: Path) -> dict[str, str]:
    return {"sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


# -- download -----------------------------------------------------------------------------------------------------
def test_download_verifies_and_then_reuses_the_file(tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(b"omniglot" * 1000)
    calls = []

    def counting_opener(url, timeout):
        calls.append(url)
        return open(url.removeprefix("file://"), "rb")

    dest = download(src.as_uri(), tmp_path / "out" / "file.bin", sha256(src), opener=counting_opener)
    assert dest.read_bytes() == src.read_bytes() and calls == [src.as_uri()]
    download(src.as_uri(), dest, {"md5": hashlib.md5(src.read_bytes()).hexdigest()}, opener=counting_opener)
    assert len(calls) == 1  # already there and verified: not fetched again
    assert sorted(p.name for p in dest.parent.iterdir()) == ["file.bin"]


def test_checksum_mismatch_is_one_line_and_leaves_nothing(tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(b"not the published file")
    dest = tmp_path / "out" / "file.bin"
    with pytest.raises(ChecksumError) as err:
        download(src.as_uri(), dest, {"sha256": "0" * 64})
    message = str(err.value)
    assert "\n" not in message and src.as_uri() in message and "checksum mismatch" in message
    assert "0" * 64 in message and hashlib.sha256(src.read_bytes()).hexdigest() in message
    assert not dest.exists() and list(dest.parent.iterdir()) == []


def test_a_stale_file_is_not_replaced_by_a_bad_download(tmp_path):
    src, dest = tmp_path / "src.bin", tmp_path / "dest.bin"
    src.write_bytes(b"new bytes")
    dest.write_bytes(b"stale bytes")
    with pytest.raises(ChecksumError):
        download(src.as_uri(), dest, {"md5": "f" * 32})
    assert dest.read_bytes() == b"stale bytes" and sorted(p.name for p in tmp_path.iterdir()) == ["dest.bin", "src.bin"]


def test_download_errors_are_one_line_and_unverified_downloads_refused(tmp_path):
    with pytest.raises(SpecError, match="download: failed") as err:
        download((tmp_path / "absent.zip").as_uri(), tmp_path / "x.zip", {"sha256": "0" * 64})
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="unverified"):
        download((tmp_path / "absent.zip").as_uri(), tmp_path / "x.zip", {})


def test_git_object_id_digest(tmp_path):
    empty, hello = tmp_path / "empty", tmp_path / "hello"
    empty.write_bytes(b"")
    hello.write_bytes(b"hello\n")
    assert file_digest(empty, GIT_BLOB_SHA1) == "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"  # `git hash-object`
    assert file_digest(hello, GIT_BLOB_SHA1) == "ce013625030ba8dba906f756967f9e9ca394464a"


# -- Omniglot -----------------------------------------------------------------------------------------------------
@pytest.fixture
def omniglot_source(tmp_path, monkeypatch) -> Path:
    """Generated archives served from a file:// folder, with their checksums in place of the published ones."""
    src = tmp_path / "src"
    archives = write_omniglot_archives(src)
    monkeypatch.setattr(omniglot, "BASE_URL", src.as_uri())
    monkeypatch.setattr(omniglot, "ARCHIVES", {a.name: sha256(a) for a in archives})
    return src


def test_omniglot_fetch_pools_resizes_and_loads(tmp_path, omniglot_source):
    out = omniglot.fetch_omniglot(tmp_path / "omniglot")
    assert out == tmp_path / "omniglot" / omniglot.PROCESSED
    chars = omniglot.load_omniglot(tmp_path / "omniglot")
    assert chars.images.shape == (18, 20, 28, 28, 1) and chars.invert
    assert list(chars.names) == sorted(chars.names) and "Tengwar/character09" in chars.names
    assert set(np.unique(chars.images)) <= {0, 255}
    with zipfile.ZipFile(omniglot_source / "images_background.zip") as archive:
        png = archive.read("images_background/Greek/character02/0102_03.png")
    with Image.open(io.BytesIO(png)) as im:
        assert im.mode == "1" and im.size == (105, 105)
        nearest = np.asarray(im.resize((28, 28), Image.Resampling.NEAREST).convert("L"))
    # the authors' LANCZOS resize of a one-bit image is Pillow's nearest neighbour
    np.testing.assert_array_equal(chars.images[chars.names.index("Greek/character02"), 2, :, :, 0], nearest)


def test_omniglot_downloads_the_canonical_urls(tmp_path, monkeypatch):
    archives = write_omniglot_archives(tmp_path / "src")
    served = {a.name: a for a in archives}
    monkeypatch.setattr(omniglot, "ARCHIVES", {a.name: sha256(a) for a in archives})
    urls = []

    def opener(url, timeout):
        urls.append(url)
        return open(served[url.rsplit("/", 1)[1]], "rb")

    omniglot.fetch_omniglot(tmp_path / "omniglot", opener=opener)
    assert urls == ["https://raw.githubusercontent.com/brendenlake/omniglot/master/python/images_background.zip",
                    "https://raw.githubusercontent.com/brendenlake/omniglot/master/python/images_evaluation.zip"]


def test_omniglot_published_checksums_are_recorded():
    assert set(omniglot.ARCHIVES) == {"images_background.zip", "images_evaluation.zip"}
    assert all(set(sums) == {"md5", GIT_BLOB_SHA1} for sums in omniglot.ARCHIVES.values())


def test_omniglot_split_is_the_authors_procedure():
    names = tuple(f"alphabet{i // 20:02d}/character{i % 20:02d}" for i in range(1623))
    chars = ImageClasses(np.arange(1623, dtype=np.int64).astype(np.uint8).reshape(1623, 1, 1, 1, 1), names, True)
    split = omniglot.split_characters(chars, 1200 - 100, 100, seed=1)
    assert [split[s].n_classes for s in ("train", "val", "test")] == [1100, 100, 423]
    expected = list(names)
    random.seed(1)  # data_generator.py: random.seed(1); random.shuffle(character_folders)
    random.shuffle(expected)
    assert split["train"].names == tuple(expected[:1100]) and split["val"].names == tuple(expected[1100:1200])
    assert split["test"].names == tuple(expected[1200:])
    assert omniglot.split_characters(chars, 1100, 100, seed=1)["test"].names == split["test"].names
    with pytest.raises(ValueError, match="cannot split"):
        omniglot.split_characters(chars, 1600, 23)


def test_missing_omniglot_names_the_fetch_command(tmp_path):
    command = "dvc repro papers/maml/dvc.yaml:fetch_omniglot"
    with pytest.raises(DataMissingError) as err:
        omniglot.load_omniglot(tmp_path / "omniglot", command)
    message = str(err.value)
    assert "\n" not in message and command in message and str(tmp_path / "omniglot" / "omniglot28.npz") in message
    with pytest.raises(DataMissingError, match="python -m shared.fewshot.fetch omniglot --out"):
        omniglot.load_omniglot(tmp_path / "omniglot")


# -- MiniImagenet -------------------------------------------------------------------------------------------------
@pytest.fixture
def mini_source(tmp_path, monkeypatch) -> tuple[Path, Path]:
    csv_dir, images = write_miniimagenet(tmp_path / "src", {"train": 3, "val": 2, "test": 2}, per_class=6)
    monkeypatch.setattr(miniimagenet, "CSV_BASE_URL", csv_dir.as_uri())
    monkeypatch.setattr(miniimagenet, "CSV_CHECKSUMS", {f"{s}.csv": sha256(csv_dir / f"{s}.csv")
                                                         for s in miniimagenet.SPLITS})
    return csv_dir, images


def test_miniimagenet_fetch_resizes_groups_and_loads(tmp_path, mini_source):
    csv_dir, images = mini_source
    miniimagenet.fetch_miniimagenet(tmp_path / "mini", images)
    splits = miniimagenet.load_miniimagenet(tmp_path / "mini")
    assert {s: c.images.shape for s, c in splits.items()} == {"train": (3, 6, 84, 84, 3), "val": (2, 6, 84, 84, 3),
                                                              "test": (2, 6, 84, 84, 3)}
    rows = [line.split(",") for line in (csv_dir / "val.csv").read_text().split()[1:]]
    labels = list(dict.fromkeys(label for _, label in rows))
    assert splits["val"].names == tuple(labels) and not splits["val"].invert
    first_of_second = [f for f, label in rows if label == labels[1]][0]
    expected = miniimagenet.resize_like_authors(images / first_of_second)
    np.testing.assert_array_equal(splits["val"].images[1, 0], expected)
    assert json.loads((tmp_path / "mini" / "classes.json").read_text())["val"] == labels


def test_miniimagenet_preprocessing_is_the_authors(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 256, size=(120, 100, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "a.jpg")
    with Image.open(tmp_path / "a.jpg") as im:
        small = im.resize((84, 84), Image.Resampling.LANCZOS)  # proc_images.py, then im.save(image_file)
    small.save(tmp_path / "b.jpg")
    with Image.open(tmp_path / "b.jpg") as im:
        expected = np.asarray(im.convert("RGB"))
    np.testing.assert_array_equal(miniimagenet.resize_like_authors(tmp_path / "a.jpg"), expected)


def test_missing_miniimagenet_images_say_what_to_place_where(tmp_path, mini_source):
    _, images = mini_source
    absent = sorted(images.iterdir())[4]
    absent.unlink()
    with pytest.raises(DataMissingError) as err:
        miniimagenet.fetch_miniimagenet(tmp_path / "mini", images)
    message = str(err.value)
    assert "\n" not in message and f"{images.resolve()}/<filename>" in message and absent.name in message
    assert "1 of 42 absent" in message and "ImageNet login" in message
    assert not list((tmp_path / "mini").glob("*.npy"))  # nothing processed
    with pytest.raises(DataMissingError, match="dvc repro papers/maml/dvc.yaml:fetch_miniimagenet"):
        miniimagenet.load_miniimagenet(tmp_path / "mini", "dvc repro papers/maml/dvc.yaml:fetch_miniimagenet")


def test_miniimagenet_downloads_the_published_csv_files(tmp_path, monkeypatch):
    urls = []

    def opener(url, timeout):
        urls.append(url)
        raise OSError("offline")

    with pytest.raises(SpecError, match="offline"):
        miniimagenet.fetch_miniimagenet(tmp_path / "mini", tmp_path / "images", opener=opener)
    assert urls == ["https://raw.githubusercontent.com/twitter/meta-learning-lstm/master/data/miniImagenet/train.csv"]
    assert all(set(s) == {"sha256", GIT_BLOB_SHA1} for s in miniimagenet.CSV_CHECKSUMS.values())


# -- the fetch CLI ------------------------------------------------------------------------------------------------
def test_fetch_cli(tmp_path, omniglot_source, mini_source, monkeypatch, capsys):
    assert fetch.main(["omniglot", "--out", str(tmp_path / "data" / "omniglot")]) == 0
    assert (tmp_path / "data" / "omniglot" / "omniglot28.npz").is_file()
    assert fetch.main(["miniimagenet", "--out", str(tmp_path / "data" / "miniimagenet")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and str((tmp_path / "data" / "miniimagenet_images").resolve()) in err
    monkeypatch.setattr(omniglot, "ARCHIVES", {"images_background.zip": {"sha256": "1" * 64}})
    assert fetch.main(["omniglot", "--out", str(tmp_path / "other")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("fetch: error:") and "checksum mismatch" in err and err.count("\n") == 0


# -- episodes -----------------------------------------------------------------------------------------------------
def tagged_classes(n_classes: int = 7, n_examples: int = 9) -> ImageClasses:
    """3x3 single-channel images whose top row holds (class, example, 0): identifiable after sampling."""
    images = np.zeros((n_classes, n_examples, 3, 3, 1), dtype=np.uint8)
    images[:, :, 0, 0, 0] = np.arange(n_classes)[:, None]
    images[:, :, 0, 1, 0] = np.arange(n_examples)[None, :]
    images[:, :, 2, 2, 0] = 200  # a corner marker for the orientation
    return ImageClasses(images, tuple(f"c{i}" for i in range(n_classes)))


def test_episode_shapes_labels_and_disjoint_support_and_query():
    classes = tagged_classes()
    batch = sample_tasks(classes, np.random.default_rng(0), n_tasks=20, n_way=5, k_shot=2, n_query=3)
    assert batch.support_x.shape == (20, 10, 1, 3, 3) and batch.query_x.shape == (20, 15, 1, 3, 3)
    assert batch.support_y.tolist() == [[0, 1, 2, 3, 4] * 2] * 20
    assert batch.query_y.tolist() == [[0, 1, 2, 3, 4] * 3] * 20
    first_class = []
    for t in range(20):
        pixels = (torch_round(batch.support_x[t]), torch_round(batch.query_x[t]))
        tags = [(int(x[0, 0, 0]), int(x[0, 0, 1])) for part in pixels for x in part]
        labels = batch.support_y[t].tolist() + batch.query_y[t].tolist()
        assert len(set(tags)) == 25  # no image twice in a task
        by_label = {label: {c for (c, _), lab in zip(tags, labels) if lab == label} for label in range(5)}
        assert all(len(v) == 1 for v in by_label.values()) and len(set.union(*by_label.values())) == 5
        first_class.append(by_label[0].pop())
    assert len(set(first_class)) > 1  # labels are assigned to classes afresh in every task


def torch_round(x):
    return (x * 255).round().int()


def test_rotations_are_per_class_and_counter_clockwise():
    classes = tagged_classes()
    batch = sample_tasks(classes, np.random.default_rng(1), n_tasks=30, n_way=5, k_shot=1, n_query=1,
                         quarter_turns=(0, 1, 2, 3))
    corners = {(2, 2): 0, (0, 2): 1, (0, 0): 2, (2, 0): 3}  # where the (2, 2) marker lands after k quarter turns
    seen = set()
    for t in range(30):
        for x, y in ((batch.support_x[t], batch.support_y[t]), (batch.query_x[t], batch.query_y[t])):
            for image, label in zip(torch_round(x)[:, 0], y):
                (r, c), = [pos for pos in corners if image[pos] == 200]
                seen.add((t, int(label), corners[(r, c)]))
    per_class = {}
    for t, label, turns in seen:
        per_class.setdefault((t, label), set()).add(turns)
    assert all(len(v) == 1 for v in per_class.values())  # support and query of a class share its rotation
    assert {next(iter(v)) for v in per_class.values()} == {0, 1, 2, 3}
    image = np.arange(4, dtype=np.uint8).reshape(2, 2)  # tf.image.rot90 of [[0, 1], [2, 3]] is [[1, 3], [0, 2]]
    rotated = sample_tasks(ImageClasses(image.reshape(1, 1, 2, 2, 1), ("a",)), np.random.default_rng(0), 1, 1, 1,
                           0, quarter_turns=(1,)).support_x
    assert torch_round(rotated).flatten().tolist() == [1, 3, 0, 2]


def test_inverted_pixels_and_bad_requests():
    images = np.full((5, 4, 2, 2, 1), 255, dtype=np.uint8)
    images[:, :, 0, 0] = 0
    batch = sample_tasks(ImageClasses(images, tuple("abcde"), invert=True), np.random.default_rng(0), 2, 5, 1, 1)
    assert batch.support_x[:, :, 0, 0, 0].eq(1).all() and batch.support_x[:, :, 0, 1, 1].eq(0).all()
    with pytest.raises(ValueError, match="at least 6 classes"):
        sample_tasks(ImageClasses(images, tuple("abcde")), np.random.default_rng(0), 1, 6, 1, 1)
    with pytest.raises(ValueError, match="support"):
        sample_tasks(ImageClasses(images, tuple("abcde")), np.random.default_rng(0), 1, 5, 2, 3)
