"""Download a file and verify its published checksums, atomically: the destination appears only once every checksum
matches, so an interrupted or corrupted download never leaves a file that looks complete."""
from __future__ import annotations

import hashlib
import os
import shutil
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable, Mapping

from shared.errors import ChecksumError, SpecError

GIT_BLOB_SHA1 = "git-blob-sha1"  # the object id git gives a file: sha1(b"blob <size>\0" + content)
ALGORITHMS = ("sha256", "md5", GIT_BLOB_SHA1)
CHUNK = 1 << 20

Opener = Callable[..., Any]  # urlopen-like: opener(url, timeout=...) -> a readable context manager


def file_digest(path: Path, algorithm: str) -> str:
    """Hex digest of ``path`` under ``algorithm`` (one of ``ALGORITHMS``)."""
    if algorithm not in ALGORITHMS:
        raise ValueError(f"unknown checksum algorithm {algorithm!r} (known: {', '.join(ALGORITHMS)})")
    if algorithm == GIT_BLOB_SHA1:
        digest = hashlib.sha1(b"blob %d\0" % Path(path).stat().st_size)
    else:
        digest = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify(path: Path, checksums: Mapping[str, str], name: str | None = None) -> None:
    """Raise ``ChecksumError`` (naming ``name`` or the path) unless every ``algorithm: hex`` pair matches."""
    for algorithm, expected in checksums.items():
        actual = file_digest(path, algorithm)
        if actual != expected.lower():
            raise ChecksumError(name or str(path), algorithm, expected, actual)


def download(url: str, dest: Path, checksums: Mapping[str, str], opener: Opener = urllib.request.urlopen,
             timeout: float = 60.0) -> Path:
    """Fetch ``url`` to ``dest`` unless ``dest`` already verifies. The bytes go to a temporary file beside ``dest``
    that replaces it only when all ``checksums`` match; on any failure ``dest`` is left as it was."""
    if not checksums:
        raise ValueError(f"no checksum for {url}: refusing an unverified download")
    dest = Path(dest)
    if dest.is_file():
        try:
            verify(dest, checksums)
            return dest
        except ChecksumError:
            pass  # a stale or partial copy: download again
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f"{dest.name}.part{os.getpid()}")
    try:
        try:
            with opener(url, timeout=timeout) as response, open(tmp, "wb") as fh:
                shutil.copyfileobj(response, fh, CHUNK)
        except (urllib.error.URLError, OSError) as err:
            raise SpecError(url, "download", f"failed: {getattr(err, 'reason', err)}") from err
        verify(tmp, checksums, name=url)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest
