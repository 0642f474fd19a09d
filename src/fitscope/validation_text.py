"""Pydantic validation errors as text a user can act on: one line per problem, naming
the field and the value received. The CLI, the study files and the lab's messages all
print their config problems through :func:`describe_problems`."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from pydantic import ValidationError

from .config import SEED_MAX

GOT_CHARS = 80  # a received value is shown up to this many characters, then "..."


def describe_problems(exc: ValidationError, *, drop_leading: Iterable[str] = (),
                      whole: str = "config") -> str:
    """``field.path: message (got value)``, one problem a line.

    The path is the error's location joined by dots, less a first element that is in
    ``drop_leading`` (the lab drops its message type: ``config.model.depth``, not
    ``start.config.model.depth``), or ``whole`` when the location is empty. The value
    is left out when it is a table (its own fields are named instead); pydantic's
    ``Value error, `` prefix is left out; a ``seed`` field adds the seed range."""
    drop = set(drop_leading)
    lines = []
    for e in exc.errors():
        loc = [str(p) for p in e["loc"]]
        where = ".".join(loc[1:] if loc and loc[0] in drop else loc) or whole
        got = ""
        if not isinstance(e.get("input"), dict):
            text = repr(e.get("input"))
            got = f" (got {text[:GOT_CHARS]}{'...' if len(text) > GOT_CHARS else ''})"
        hint = f" (seeds are in [0, {SEED_MAX}])" if where.endswith("seed") else ""
        lines.append(f"{where}: {e['msg'].removeprefix('Value error, ')}{got}{hint}")
    return "\n".join(lines)


def format_validation_error(exc: ValidationError, source: Path | None = None) -> str:
    """:func:`describe_problems`, each line indented, under a line naming the config
    file (``source``): ``invalid config run.toml:``."""
    head = f"invalid config {source}" if source else "invalid config"
    body = "\n".join(f"  {line}" for line in describe_problems(exc).splitlines())
    return f"{head}:\n{body}"
