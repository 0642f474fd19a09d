"""The notes' claims as experiments with verdicts (what ``fitscope demo`` runs).

``REGISTRY`` maps each claim's number to its :class:`~fitscope.claims.base.Claim`; see
``base.py`` for what a claim is and ``demo.py`` for how they run.
"""

from __future__ import annotations

from . import generalization, initialization, optimization, regularization
from .base import Claim, Context, Measurement, Verdict

_MODULES = (generalization, initialization, regularization, optimization)

REGISTRY: dict[int, Claim] = {c.number: c for m in _MODULES for c in m.CLAIMS}


def get(key: str | int) -> Claim:
    """A claim by number (``7``) or slug (``xavier-tanh``)."""
    for c in REGISTRY.values():
        if str(c.number) == str(key) or c.slug == key:
            return c
    raise KeyError(f"no claim {key!r}; see `fitscope demo --list`")


__all__ = ["REGISTRY", "Claim", "Context", "Measurement", "Verdict", "get"]
