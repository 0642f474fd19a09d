"""A study: one base :class:`~fitscope.config.RunConfig`, axes to vary, and seeds.

A study file is TOML::

    name = "l2-vs-init"         # optional; defaults to the file's stem
    seeds = 5                   # each configuration runs with budget.seed = base + 0..4

    [base]                      # a RunConfig table (any field left out keeps its default)
    data.name = "moons"
    budget.epochs = 20

    [grid]                      # the product of every axis
    "init.scheme" = ["xavier_normal", "kaiming_normal"]
    "regularization.l2" = [0, 1e-4, 1e-3]

    [zip]                       # lists of equal length, varied together (one axis)
    "optimizer.name" = ["sgd", "adam"]
    "optimizer.lr" = [0.1, 0.001]

Keys are dotted config paths, quoted or written as TOML dotted keys. A value may be a
whole table (``init = [{scheme = "zeros"}, {scheme = "normal", std = 1.0}]``). The runs
are grid x zip x seeds; each run's id is its config's hash, so an expanded run that is
already in the store is never trained again (a run id includes the content hash of a
data file, so a changed file makes new runs). A relative ``data.path`` resolves against
the study file's folder. Errors name the axis and the value.
"""

from __future__ import annotations

import itertools
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from fitscope.config import RunConfig, read_text
from fitscope.validation_text import format_validation_error

SPEC_KEYS = {"name", "seeds", "base", "grid", "zip"}


class StudySpecError(ValueError):
    """A study file that cannot be expanded; the message names the key and the value."""


@dataclass(frozen=True)
class StudyRun:
    """One run of a study: its config, the axis values that made it, and its seed.

    ``label`` names the configuration (the axis values, seed left out): every seed of
    one configuration shares it.
    """

    config: RunConfig
    axes: dict[str, Any]
    seed: int

    @property
    def run_id(self) -> str:
        return self.config.run_id

    @property
    def label(self) -> str:
        return config_label(self.axes)


@dataclass(frozen=True)
class StudySpec:
    """A parsed study file. ``grid`` maps axis -> values; ``zip`` maps key -> values, all
    of one length, and forms one axis named by its keys joined with ``" + "``."""

    name: str
    base: RunConfig
    grid: dict[str, list[Any]]
    zip: dict[str, list[Any]]
    seeds: int
    text: str = ""
    base_dir: str | None = None  # the study file's folder: relative data paths start there

    @classmethod
    def load(cls, path: str | Path) -> StudySpec:
        path = Path(path)
        text = read_text(path, "study")  # names the file if missing, binary or a directory
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise StudySpecError(f"{path}: not valid TOML: {exc}") from None
        except RecursionError:
            raise StudySpecError(f"{path}: not valid TOML: nested too deeply") from None
        return cls.from_dict(data, default_name=path.stem, text=text, base_dir=path.parent)

    @classmethod
    def from_dict(cls, data: dict[str, Any], default_name: str = "study",
                  text: str = "", base_dir: str | Path | None = None) -> StudySpec:
        """A spec from its table; a relative ``data.path`` (in ``[base]`` or an axis)
        resolves against ``base_dir`` when given, else the working directory."""
        unknown = sorted(set(data) - SPEC_KEYS)
        if unknown:
            raise StudySpecError(f"unknown study key(s) {unknown}; allowed: {sorted(SPEC_KEYS)}")
        seeds = data.get("seeds", 1)
        if isinstance(seeds, bool) or not isinstance(seeds, int) or not 1 <= seeds <= 10_000:
            raise StudySpecError(f"seeds must be an integer in [1, 10000], got {seeds!r}")
        try:
            context = None if base_dir is None else {"base_dir": Path(base_dir)}
            base = RunConfig.model_validate(data.get("base", {}), context=context)
        except ValidationError as exc:
            raise StudySpecError(f"[base]: {format_validation_error(exc)}") from None
        spec = cls(name=str(data.get("name", default_name)), base=base,
                   grid=_axes(data.get("grid", {}), "grid"),
                   zip=_axes(data.get("zip", {}), "zip"), seeds=seeds, text=text,
                   base_dir=None if base_dir is None else str(base_dir))
        spec._check_axes()
        return spec

    @property
    def zip_axis(self) -> str:
        """The name of the zip axis: its keys joined with ``" + "``."""
        return " + ".join(self.zip)

    def _check_axes(self) -> None:
        both = sorted(set(self.grid) & set(self.zip))
        if both:
            raise StudySpecError(f"axis {both[0]!r} is in both [grid] and [zip]")
        lengths = {key: len(values) for key, values in self.zip.items()}
        if len(set(lengths.values())) > 1:
            raise StudySpecError(f"[zip] lists must have one length, got {lengths}")
        for kind, axes in (("grid", self.grid), ("zip", self.zip)):
            for key, values in axes.items():
                if key == "budget.seed":
                    raise StudySpecError(f"{kind} axis 'budget.seed' is set by `seeds = N`")
                for value in values:
                    self._try({key: value}, f"{kind} axis {key!r} value {value!r}")

    def _try(self, overrides: dict[str, Any], what: str) -> RunConfig:
        try:
            return self.base.with_overrides(overrides, base_dir=self.base_dir)
        except ValidationError as exc:
            raise StudySpecError(f"{what}: {format_validation_error(exc)}") from None
        except KeyError as exc:
            raise StudySpecError(f"{what}: {exc.args[0]}") from None

    def points(self) -> list[dict[str, Any]]:
        """Every configuration as ``{axis: value}`` (a zip axis' value is a tuple)."""
        grid = [dict(zip(self.grid, values))
                for values in itertools.product(*self.grid.values())]
        if not self.zip:
            return grid
        rows = list(zip(*self.zip.values()))
        return [{**g, self.zip_axis: row} for g in grid for row in rows]

    def expand(self) -> list[StudyRun]:
        """The study's runs: every configuration times every seed, in a stable order."""
        runs: list[StudyRun] = []
        seen: dict[str, str] = {}
        for point in self.points():
            overrides = self._overrides(point)
            for i in range(self.seeds):
                seed = self.base.budget.seed + i
                what = f"configuration {config_label(point)!r} with seed {seed}"
                config = self._try({**overrides, "budget.seed": seed}, what)
                if config.run_id in seen:
                    raise StudySpecError(f"{what} is the same run as {seen[config.run_id]} "
                                         "(two axis values give one config)")
                seen[config.run_id] = what
                runs.append(StudyRun(config=config, axes=point, seed=seed))
        return runs

    def _overrides(self, point: dict[str, Any]) -> dict[str, Any]:
        """Axis values as dotted overrides (a zip axis' tuple spread over its keys)."""
        out = {key: point[key] for key in self.grid}
        if self.zip:
            out.update(zip(self.zip, point[self.zip_axis]))
        return out


def _axes(table: Any, kind: str) -> dict[str, list[Any]]:
    """``{dotted key: values}`` from a ``[grid]`` or ``[zip]`` table; nested TOML tables
    (``init.scheme = [...]`` unquoted) are flattened until a list is reached."""
    if not isinstance(table, dict):
        raise StudySpecError(f"[{kind}] must be a table of axis = [values], got {table!r}")
    axes: dict[str, list[Any]] = {}
    for key, value in table.items():
        if isinstance(value, dict):
            axes.update({f"{key}.{k}": v for k, v in _axes(value, kind).items()})
        elif not isinstance(value, list) or not value:
            raise StudySpecError(f"{kind} axis {key!r} must be a non-empty list of values, "
                                 f"got {value!r}")
        else:
            axes[key] = value
    return axes


def config_label(axes: dict[str, Any]) -> str:
    """A configuration's name: ``init.scheme=xavier_normal, regularization.l2=0.0001``
    (a zip axis' keys are listed one by one)."""
    pairs: list[tuple[str, Any]] = []
    for axis, value in axes.items():
        keys = axis.split(" + ")
        pairs += zip(keys, value) if len(keys) > 1 else [(axis, value)]
    return ", ".join(f"{key}={format_value(value)}" for key, value in pairs) or "base"


def format_value(value: Any) -> str:
    """Axis values as short text: tables as ``{scheme=normal std=1.0}``, tuples as ``a | b``."""
    if isinstance(value, dict):
        return "{" + " ".join(f"{k}={format_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, tuple):
        return " | ".join(format_value(v) for v in value)
    if isinstance(value, list):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    return str(value)

