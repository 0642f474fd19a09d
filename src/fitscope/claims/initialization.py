"""Claims from the notes on initialization."""

from __future__ import annotations

from .base import Claim

CLAIMS: list[Claim] = []
