"""A directory cache of computed landscapes, so the lab and the report do not recompute.

One JSON file per result, named ``<run_id>-<kind>-<digest>.json``: the digest is a
SHA-256 over the kind, its settings and the bytes of every parameter vector the result
was computed from (so retrained weights never hit a stale entry). The directory is
``$FITSCOPE_CACHE/landscape``, or ``~/.cache/fitscope/landscape`` when ``FITSCOPE_CACHE``
is not set.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

VERSION = 1  # bump when the meaning of cached numbers changes


def cache_dir() -> Path:
    root = os.environ.get("FITSCOPE_CACHE")
    return (Path(root) if root else Path.home() / ".cache" / "fitscope") / "landscape"


def cache_key(run_id: str, kind: str, settings: dict[str, Any], tensors: list[torch.Tensor]) -> str:
    h = hashlib.sha256(json.dumps({"v": VERSION, "kind": kind, "settings": settings},
                                  sort_keys=True).encode())
    for t in tensors:
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return f"{run_id}-{kind}-{h.hexdigest()[:16]}"


def load(key: str) -> dict[str, Any] | None:
    path = cache_dir() / f"{key}.json"
    return json.loads(path.read_text()) if path.exists() else None


def store(key: str, data: dict[str, Any]) -> Path:
    """Write atomically (a reader never sees half a file)."""
    directory = cache_dir()
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=directory, delete=False, suffix=".tmp") as tmp:
        json.dump(data, tmp)
    os.replace(tmp.name, directory / f"{key}.json")
    return directory / f"{key}.json"
