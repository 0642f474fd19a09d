"""Claims from the notes on optimization."""

from __future__ import annotations

from .base import Claim

CLAIMS: list[Claim] = []
