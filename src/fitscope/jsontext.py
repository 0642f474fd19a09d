"""JSON as other programs read it: no ``NaN`` or ``Infinity`` (which Python's ``json``
writes by default but JSON does not have)."""

from __future__ import annotations

import json
import math
from typing import Any


def finite(obj: Any) -> Any:
    """``obj`` with every NaN or infinite float replaced by None (JSON has neither)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [finite(v) for v in obj]
    return obj


def json_text(obj: Any, indent: int | None = 1, **options: Any) -> str:
    """``obj`` as strict JSON text: non-finite floats become null (:func:`finite`)."""
    return json.dumps(finite(obj), indent=indent, allow_nan=False, **options)
