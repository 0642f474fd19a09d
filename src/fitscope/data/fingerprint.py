"""The content hash of a user's data files: the part of a run id that says which data it used.

:func:`data_hash` is the SHA-256 of a ``csv`` / ``npz`` file's bytes; for an MNIST-style
directory, the SHA-256 of the lines ``<stem> <sha256 of that file>`` of its four IDX files
(each the raw or the ``.gz`` file :func:`~fitscope.data.idx.find_idx` reads). Built-in
sets have none (None), and neither has a file that does not exist (the run id then names
the path, and loading the data fails with the missing file).

The file's size and modification time serve only as the key of a cache of hashes, so a
file is read once, not once per run id: a ``touch`` or a fresh checkout re-reads it and
finds the same hash. The cache lives in memory and in ``data-hashes.json`` under
``$FITSCOPE_CACHE`` (default ``~/.cache/fitscope``), keyed by (real path, size, mtime in
ns); a cache that cannot be read or written is ignored.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fitscope.config import DataConfig

FILE_SETS = ("csv", "npz")
IDX_SETS = ("mnist", "fashion_mnist")
CACHE_ENTRIES = 1000  # the disk cache keeps the newest this many
_memory: dict[str, str] = {}


def cache_path() -> Path:
    root = os.environ.get("FITSCOPE_CACHE")
    return (Path(root) if root else Path.home() / ".cache" / "fitscope") / "data-hashes.json"


def data_files(cfg: DataConfig) -> list[tuple[str, Path]] | None:
    """``(name, path)`` of every file the data is read from, or None when it is a built-in
    set or a file is missing."""
    if cfg.name not in FILE_SETS and cfg.name not in IDX_SETS:
        return None
    assert cfg.path is not None  # DataConfig requires data.path for these sets
    if cfg.name in FILE_SETS:
        path = Path(cfg.path)
        return [(path.name, path)] if path.is_file() else None
    if cfg.name in IDX_SETS:
        from fitscope.data.idx import IDX_FILES, find_idx

        try:
            return [(stem, find_idx(cfg.path, stem, cfg.name))
                    for stems in IDX_FILES.values() for stem in stems]
        except FileNotFoundError:
            return None
    return None


def data_hash(cfg: DataConfig) -> str | None:
    """The hex SHA-256 of the data's content (see the module docstring), or None (also for
    a file that cannot be read: loading it then fails with a message naming it)."""
    files = data_files(cfg)
    if files is None:
        return None
    try:
        if cfg.name in FILE_SETS:
            return file_sha256(files[0][1])
        lines = "".join(f"{stem} {file_sha256(path)}\n" for stem, path in files)
    except OSError:
        return None
    return hashlib.sha256(lines.encode()).hexdigest()


def file_sha256(path: Path) -> str:
    """The hex SHA-256 of a file's bytes, cached by (real path, size, mtime in ns)."""
    stat = path.stat()
    key = f"{os.path.realpath(path)}|{stat.st_size}|{stat.st_mtime_ns}"
    if key in _memory:
        return _memory[key]
    disk = _read_cache()
    digest = disk.get(key)
    if not isinstance(digest, str):
        h = hashlib.sha256()
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                h.update(chunk)
        digest = h.hexdigest()
        disk[key] = digest
        _write_cache(disk)
    _memory[key] = digest
    return digest


def _read_cache() -> dict[str, str]:
    try:
        data = json.loads(cache_path().read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_cache(entries: dict[str, str]) -> None:
    """Write atomically (a reader never sees half a file), keeping the newest entries."""
    path = cache_path()
    keep = dict(list(entries.items())[-CACHE_ENTRIES:])
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False,
                                         suffix=".tmp") as tmp:
            json.dump(keep, tmp)
        os.replace(tmp.name, path)
    except OSError:
        pass
