"""Reading and deleting recording segments wherever they are kept (``storages["recordings"]``,
see ``media_worker.segment_store`` for how they get there).

- ``size(name)`` — bytes, None when the file is missing.
- ``chunks(name, start, length)`` — the bytes ``[start, start + length)`` in pieces of
  ``CHUNK``: a file seek on a filesystem storage, one ranged GET (``Range: bytes=a-b``) on an S3
  storage — never the whole object for a small range.
- ``delete(name)`` — removes it; returns the bytes freed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.core.files.storage import FileSystemStorage, Storage, storages

CHUNK = 256 * 1024


def store() -> Storage:
    return storages["recordings"]


def _local_path(storage: FileSystemStorage, name: str) -> Path | None:
    root = Path(storage.location).resolve()
    path = (root / name).resolve()
    return path if path.is_relative_to(root) else None


def size(name: str) -> int | None:
    storage = store()
    if isinstance(storage, FileSystemStorage):
        path = _local_path(storage, name)
        return path.stat().st_size if path is not None and path.is_file() else None
    try:
        if not storage.exists(name):
            return None
        return int(storage.size(name))
    except (OSError, ValueError):
        return None


def _s3_object(storage: Storage, name: str) -> Any:
    """The boto3 Object of an S3 storage's file (django-storages' S3File.obj), or None."""
    if not hasattr(storage, "bucket"):
        return None
    return storage.bucket.Object(storage._normalize_name(name))  # type: ignore[attr-defined]


def chunks(name: str, start: int, length: int) -> Iterator[bytes]:
    storage = store()
    if length <= 0:
        return
    if isinstance(storage, FileSystemStorage):
        path = _local_path(storage, name)
        if path is None:
            return
        with path.open("rb") as fh:
            fh.seek(start)
            yield from _read(fh, length)
        return
    obj = _s3_object(storage, name)
    if obj is not None:
        body = obj.get(Range=f"bytes={start}-{start + length - 1}")["Body"]
        try:
            yield from body.iter_chunks(CHUNK)
        finally:
            body.close()
        return
    with storage.open(name, "rb") as fh:  # any other storage: its own file object
        fh.seek(start)
        yield from _read(fh, length)


def _read(fh: Any, length: int) -> Iterator[bytes]:
    left = length
    while left > 0:
        data = fh.read(min(CHUNK, left))
        if not data:
            return
        left -= len(data)
        yield data


def delete(name: str) -> int:
    freed = size(name) or 0
    storage = store()
    if isinstance(storage, FileSystemStorage):
        path = _local_path(storage, name)
        if path is not None:
            path.unlink(missing_ok=True)
        return freed
    storage.delete(name)
    return freed
