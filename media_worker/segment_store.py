"""Where a finished recording segment goes from the media host: ``storages["recordings"]``.

- A filesystem storage at ``MEDIA_ROOT`` (the default, ``RECORDING_STORAGE=local``; also a
  shared filesystem mounted there on every host): the recorder already wrote the file in its
  place, nothing to do.
- Any other storage (``RECORDING_STORAGE=s3``: an S3-compatible bucket through
  django-storages): the finished file is uploaded under the same name
  (``recordings/<code>/<file>``), then the local copy is removed. The segment is reported to the
  domain only after its upload, so a row marked complete always has its file in the bucket; a
  worker killed before the upload leaves the file and its report (``.json``) in its own
  ``MEDIA_ROOT``, and the next room opened on that host uploads and reports it.

Blocking (network I/O): call from a thread. No import of ``conferences`` (media_worker rule).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.core.files.storage import FileSystemStorage, Storage, storages

logger = logging.getLogger(__name__)

ATTEMPTS = 5


def store() -> Storage:
    return storages["recordings"]


def is_local(storage: Storage | None = None) -> bool:
    """True when the storage is the directory the recorder writes in (nothing to upload)."""
    storage = storage or store()
    if not isinstance(storage, FileSystemStorage):
        return False
    return Path(storage.location).resolve() == Path(settings.MEDIA_ROOT).resolve()


def upload(path: Path, name: str, *, attempts: int = ATTEMPTS, pause: float = 1.0) -> bool:
    """Put the local file ``path`` in the storage as ``name``; True when it is there (then the
    local file is removed). Retried ``attempts`` times with growing pauses; False leaves the
    file where it is, for the next try."""
    storage = store()
    if is_local(storage):
        return path.is_file()
    size = path.stat().st_size
    for attempt in range(1, attempts + 1):
        try:
            with path.open("rb") as fh:
                saved = storage.save(name, File(fh, name=path.name))
            if saved != name:  # a storage that renames instead of overwriting
                raise RuntimeError(f"stored as {saved!r}, not {name!r}")
            if storage.size(name) != size:
                raise RuntimeError(f"{name}: {storage.size(name)} bytes stored of {size}")
        except Exception:
            logger.exception("recording: upload of %s failed (attempt %s)", name, attempt)
            if attempt < attempts:
                time.sleep(pause * 2 ** (attempt - 1))
            continue
        path.unlink(missing_ok=True)
        logger.info("recording: %s stored (%s bytes)", name, size)
        return True
    return False
