"""The notes' claims as experiments with verdicts (what ``fitscope demo`` runs).

``REGISTRY`` maps each claim's number to its :class:`~fitscope.claims.base.Claim`; see
``base.py`` for what a claim is and ``demo.py`` for how they run.
"""

from __future__ import annotations

from . import further, generalization, init_signal, initialization, optimization, regularization
from .base import Claim, Context, Measurement, Verdict

_MODULES = (generalization, initialization, regularization, optimization, further, init_signal)



def build_registry(claims: list[Claim]) -> dict[int, Claim]:
    """Claims by number, in order; two claims with one number (or one slug) are refused."""
    out: dict[int, Claim] = {}
    slugs: set[str] = set()
    for c in claims:
        if c.number in out:
            raise ValueError(f"two claims numbered {c.number}: {out[c.number].slug!r} and "
                             f"{c.slug!r}")
        if c.slug in slugs:
            raise ValueError(f"two claims with the slug {c.slug!r}")
        out[c.number] = c
        slugs.add(c.slug)
    return dict(sorted(out.items()))


REGISTRY: dict[int, Claim] = build_registry([c for m in _MODULES for c in m.CLAIMS])


def markdown_table(claims: list[Claim] | None = None) -> str:
    """The claims as a Markdown table, from the registry (``fitscope demo --list
    --markdown``): README and docs carry this table verbatim, and a test compares them."""
    rows = ["| # | slug | claim | kind | swept over |", "|---|---|---|---|---|"]
    for c in claims or REGISTRY.values():
        cell = lambda text: text.replace("|", "\\|")  # noqa: E731
        rows.append(f"| {c.number} | {c.slug} | {cell(c.statement)} | {c.kind} | "
                    f"{cell(', '.join(c.factors)) or '-'} |")
    return "\n".join(rows) + "\n"


def get(key: str | int) -> Claim:
    """A claim by number (``7``) or slug (``xavier-tanh``)."""
    for c in REGISTRY.values():
        if str(c.number) == str(key) or c.slug == key:
            return c
    raise KeyError(f"no claim {key!r}; see `fitscope demo --list`")


__all__ = ["REGISTRY", "Claim", "Context", "Measurement", "Verdict", "build_registry", "get",
           "markdown_table"]
