"""Claims from the notes on regularization."""

from __future__ import annotations

from .base import Claim

CLAIMS: list[Claim] = []
