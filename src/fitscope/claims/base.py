"""What a claim is, and the context its experiment runs in.

A :class:`Claim` pairs a sentence from the notes with three functions:

- ``measure(ctx) -> Measurement``: runs the experiment (trains runs through
  ``ctx.train_many`` so seeds, progress and the store are handled once) and returns
  numbers, never a verdict;
- ``decide(m) -> Verdict``: a pure function of those numbers and the claim's statistical
  criterion (so a verdict cannot be written by hand; tests feed it numbers);
- ``figure(m) -> plotly Figure``: what the report shows.

Declared with them before anything runs: ``protocol`` (what is trained and what a seed
varies), ``smallest_effect`` (the smallest standardized difference, Cohen's d, that would
matter: the equivalence bound of "does not hold"), ``factors`` (what the verdict is mapped
over) and ``kind``: "claim", or "demonstration" for a statement that is an identity of the
code (it cannot fail, so it is shown and not counted as a verdict).

The prose (statement, source, criterion, protocol) and factors and kind of each claim are
a record of ``claims.toml``; the module that tests it declares it with :func:`declared`.
"""

from __future__ import annotations

import functools
import math
import statistics
import tomllib
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Literal, NamedTuple, TypeVar

from ..config import RunConfig
from ..run import Run

Outcome = Literal["holds", "does not hold", "not shown", "holds only when"]
Kind = Literal["claim", "demonstration"]
K = TypeVar("K", bound=Hashable)
SMALLEST_EFFECT = 0.5  # Cohen's d of a "medium" effect: every claim's bound today


@dataclass
class Measurement:
    """Numbers a claim's experiment produced: ``values`` for decisions and tables,
    ``series`` for figures (lists), ``notes`` for conditions worth reporting.

    ``values`` maps a quantity's name ("test_acc") to a number, a list of numbers (one
    per seed) or, for a quantity measured at several settings, a dict by setting: a
    variant's name, a number (a size, a depth), a dict again, or a :func:`setting` of
    several named fields. A setting is never a string built from its fields and parsed
    back; its text (``str``) is only what the report and the tests' labels show."""

    values: dict[str, Any] = field(default_factory=dict)
    series: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def setting(name: str, fields: str, text: Callable[..., str]) -> Any:
    """A type of setting with the named ``fields`` (space-separated): a
    :class:`~typing.NamedTuple` whose text is ``text(*fields)``. ``Schedule =
    setting("Schedule", "batch kind", lambda batch, kind: f"b={batch} {kind}")``, then
    ``str(Schedule(16, "linear"))`` is "b=16 linear"."""
    named = NamedTuple(name, [(f, Any) for f in fields.split()])  # type: ignore[misc]
    return type(name, (named,), {"__slots__": (), "__str__": lambda self: text(*self)})


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    reason: str          # one or two sentences, with the numbers that decided it
    condition: str = ""  # for "holds only when": the condition

    @property
    def label(self) -> str:
        return f"holds only when {self.condition}" if self.outcome == "holds only when" \
            else self.outcome


@dataclass(frozen=True)
class Claim:
    number: int
    slug: str
    statement: str       # our words
    source: str          # which note says it
    criterion: str       # the statistical test, named
    measure: Callable[[Context], Measurement]
    decide: Callable[[Measurement], Verdict]
    figure: Callable[[Measurement], Any]
    smallest_effect: float = SMALLEST_EFFECT  # standardized (Cohen's d); the TOST bound
    protocol: str = ""                    # what is trained, what a seed varies
    factors: tuple[str, ...] = ()         # what the verdict is mapped over
    kind: Kind = "claim"


@functools.cache
def _records() -> dict[int, dict[str, Any]]:
    """claims.toml's ``[[claim]]`` records by number."""
    text = resources.files(__package__).joinpath("claims.toml").read_text(encoding="utf-8")
    return {r["number"]: r for r in tomllib.loads(text)["claim"]}


def declared(number: int, measure: Callable[[Context], Measurement],
             decide: Callable[[Measurement], Verdict], figure: Callable[[Measurement], Any],
             **values: Any) -> Claim:
    """The claim ``number`` of claims.toml with its three functions. The record's prose
    (statement, source, criterion, protocol) is a :meth:`str.format` template: ``values``
    are the constants it names (``{GRADIENT_DEPTH}``, ``{KEEP_FACTOR:g}``), so the text
    states the numbers the experiment uses; a name without a value raises KeyError."""
    r = _records()[number]
    prose = {k: r[k].format(**values) for k in ("statement", "source", "criterion",
                                                  "protocol") if k in r}
    return Claim(number=number, slug=r["slug"], measure=measure, decide=decide,
                 figure=figure, factors=tuple(r.get("factors", ())),
                 kind=r.get("kind", "claim"), **prose)


@dataclass
class Context:
    """Settings of a demo run and the one way claims train: :meth:`train_many`.

    ``scale`` is 1.0 for ``--quick`` and larger for ``--full`` (claims multiply epochs or
    sample counts by it where it matters). ``trainer`` trains a list of configs and
    returns their runs in order (by default :func:`fitscope.train_many` on the sequential
    engine; the demo passes one that uses the study store and the population engine).
    """

    seeds: int = 5
    scale: float = 1.0
    fashion_mnist: str | None = None
    trainer: Callable[[Sequence[RunConfig]], list[Run]] | None = None
    runs_trained: int = 0

    def train_many(self, configs: Sequence[RunConfig]) -> list[Run]:
        self.runs_trained += len(configs)
        if self.trainer is not None:
            return self.trainer(configs)
        from ..many import train_many

        return train_many(configs, "sequential")

    def seeded(self, base: RunConfig, **overrides: Any) -> list[RunConfig]:
        """``base`` with ``overrides`` (dotted keys), once per seed."""
        cfg = base.with_overrides(overrides) if overrides else base
        return [cfg.with_overrides({"budget.seed": s}) for s in range(self.seeds)]

    def train_groups(self, groups: Mapping[K, Sequence[RunConfig]]) -> dict[K, list[Run]]:
        """The runs of each named group of configs, in the group's order; all groups in
        one :meth:`train_many` call (same-shape runs of different groups train together)."""
        runs = iter(self.train_many([c for cs in groups.values() for c in cs]))
        return {name: [next(runs) for _ in cs] for name, cs in groups.items()}

    def train_variants(self, base: RunConfig, variants: Mapping[K, Mapping[str, Any]],
                       resplit: bool = False) -> dict[K, list[Run]]:
        """``base`` with each variant's overrides once per seed (:meth:`seeded`), trained
        by :meth:`train_groups`: the runs by variant, in seed order. With ``resplit``,
        seed s also draws its own data split (``data.split_seed = s``)."""
        groups = {}
        for name, overrides in variants.items():
            configs = self.seeded(base, **overrides)
            if resplit:
                configs = [c.with_overrides({"data.split_seed": c.budget.seed})
                           for c in configs]
            groups[name] = configs
        return self.train_groups(groups)

    def epochs(self, quick: int) -> int:
        return max(1, round(quick * self.scale))


def verdict_from(detail: str, holds: bool, also: bool = True, only_when: str = "") -> Verdict:
    """The verdict of a claim decided by a main test (``holds``: it is significant) and
    optionally a second one (``also``): "holds" when both are significant; "holds only
    when ``only_when``" when only the main one is and ``only_when`` is given; else "does
    not hold". ``detail``, the numbers and tests, is the reason (a full stop is added)."""
    if holds and also:
        return Verdict("holds", detail + ".")
    if holds and only_when:
        return Verdict("holds only when", detail + ".", only_when)
    return Verdict("does not hold", detail + ".")


def metric(runs: Sequence[Run], key: str) -> list[float]:
    """``run.metrics[key]`` per run, NaN for a diverged run or a missing key: position i
    stays seed i, so paired tests pair by seed and drop a pair with a diverged side."""
    return [float(r.metrics[key]) if r.status != "diverged" and key in r.metrics else math.nan
            for r in runs]


def metrics(groups: Mapping[K, Sequence[Run]], *keys: str) -> dict[str, dict[K, list[float]]]:
    """:func:`metric` of each of ``keys`` for each group of runs: ``{key: {group: [...]}}``
    (the runs by variant of :meth:`Context.train_variants`)."""
    return {key: {name: metric(runs, key) for name, runs in groups.items()} for key in keys}


def mean(xs: Sequence[float]) -> float:
    """Mean of the values that are not NaN (NaN marks a diverged run's seed)."""
    kept = [x for x in xs if not (isinstance(x, float) and math.isnan(x))]
    return statistics.fmean(kept) if kept else math.nan


def finite_mean(xs: Sequence[float]) -> float:
    """Mean of the finite values (NaN for none): the values a claim's test compares
    (:func:`~fitscope.study.stats.one_sided_test` drops a non-finite one)."""
    return mean([x for x in xs if math.isfinite(x)])
