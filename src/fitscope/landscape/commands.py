"""``fitscope landscape RUN_OR_CONFIG``: a landscape as a self-contained HTML figure, with
its numbers as JSON beside it.

RUN_OR_CONFIG is a saved run directory (:meth:`fitscope.run.Run.save`) or a run config
(.toml / .json, with ``--set`` overrides), which is trained first. Bad input exits with
status 2 and a message naming the option or field.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from fitscope.cli_support import check_output, fail, load_run_or_config, train_or_fail, use_threads
from fitscope.config import SEED_MAX, RunConfig

console = Console()


def register(app: typer.Typer) -> None:
    """Add the ``landscape`` command to the main app."""
    app.command("landscape")(landscape)


def _load(target: Path, kind: str, overrides: list[str], quiet: bool):
    """(run, init or None) from a run directory or a config file; exits 2 on bad input."""
    from .runs import train_with_init

    cfg = load_run_or_config(target, overrides, "RUN_OR_CONFIG")
    if not isinstance(cfg, RunConfig):  # a saved run
        try:
            use_threads(cfg.config)  # the landscape evaluates the run's data
        except (FileNotFoundError, ValueError) as exc:
            raise fail(str(exc)) from None
        return cfg, None
    if kind == "trajectory" and not cfg.observe.snapshot_every:
        raise fail("--kind trajectory needs observe.snapshot_every > 0 in the config "
                       "(got 0); add e.g. --set observe.snapshot_every=10")
    return train_or_fail(cfg, quiet, lambda c, callbacks: train_with_init(c, tuple(callbacks)))


def _summary(result) -> str:
    from .results import Line

    if isinstance(result, Line):
        return (f"line over t in [{result.t[0]:g}, {result.t[-1]:g}]: loss at t=0 "
                f"{result.loss[abs(result.t).argmin()]:.4g}, at t=1 "
                f"{result.loss[abs(result.t - 1).argmin()]:.4g}")
    text = (f"{result.kind} {len(result.y)}x{len(result.x)}: loss at the center "
            f"{result.center_loss:.4g}, lowest {result.loss.min():.4g}")
    if result.explained_variance:
        text += (f"; PC1 and PC2 explain {100 * result.explained_variance[0]:.1f}% and "
                 f"{100 * result.explained_variance[1]:.1f}% of the path")
    return text


def landscape(
    target: Annotated[Path, typer.Argument(metavar="RUN_OR_CONFIG",
                                           help="saved run directory, or a config to train")],
    kind: Annotated[str, typer.Option(help="line | plane | trajectory")] = "plane",
    out: Annotated[Path | None, typer.Option(help="HTML file (default "
                                             "landscape-<run_id>-<kind>.html); the JSON "
                                             "goes beside it")] = None,
    points: Annotated[int, typer.Option(help="grid points per axis")] = 41,
    span: Annotated[float | None, typer.Option(
        help="plane: the axes run over [-span, span] (default 1); line: t over "
             "[-span, 1 + span] (default 0.5)")] = None,
    margin: Annotated[float, typer.Option(help="trajectory: padding around the path, as a "
                                          "share of its extent")] = 0.25,
    seed: Annotated[int, typer.Option(help="plane: seed of the random directions")] = 0,
    split: Annotated[str, typer.Option(help="data split: train | val | test")] = "train",
    to: Annotated[Path | None, typer.Option(help="line: a second run (directory or config); "
                                            "the line goes from RUN_OR_CONFIG's weights "
                                            "to its")] = None,
    set_: Annotated[list[str], typer.Option("--set", "-s", help="config override, "
                                            "e.g. model.depth=3")] = [],  # noqa: B006
    no_cache: Annotated[bool, typer.Option("--no-cache", help="recompute even if "
                                           "cached")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """Loss landscape of a run: a line, a 2-D slice, or the training path on its PCA plane."""
    from .figures import figure_for, write_html
    from .runs import KINDS, SPLITS, is_kind, run_landscape

    if not is_kind(kind):
        raise fail(f"--kind must be one of {', '.join(KINDS)}; got {kind!r}")
    if split not in SPLITS:
        raise fail(f"--split must be one of {', '.join(SPLITS)}; got {split!r}")
    if not 2 <= points <= 401:
        raise fail(f"--points must be in [2, 401]; got {points}")
    if span is not None and span <= 0:
        raise fail(f"--span must be positive; got {span}")
    if to is not None and kind != "line":
        raise fail(f"--to applies to --kind line only; got --kind {kind}")
    if not 0 <= seed <= SEED_MAX:
        raise fail(f"--seed must be in [0, {SEED_MAX}]; got {seed}")
    if not 0 <= margin <= 100:  # NaN fails too
        raise fail(f"--margin must be in [0, 100]; got {margin}")
    if span is not None and not span <= 1e6:  # NaN fails too
        raise fail(f"--span must be a finite number up to 1e6; got {span}")
    planned = out or Path(f"landscape-<run id>-{kind}.html")  # the default: this folder
    check_output(planned, "--out", make_parents=True)
    check_output(planned.with_suffix(".json"), "--out (its JSON)", make_parents=True)
    run, init = _load(target, kind, set_, quiet)
    other = _load(to, kind, [], quiet)[0] if to is not None else None
    line_span = None if span is None else (-span, 1 + span)
    try:
        result = run_landscape(run, kind, points=points, span=line_span if kind == "line" else span,
                               seed=seed, split=split, other=other, init=init, margin=margin,
                               use_cache=not no_cache, progress=not quiet)
    except ValueError as exc:
        raise fail(str(exc)) from None
    out = out or Path(f"landscape-{run.run_id}-{kind}.html")
    write_html(figure_for(result, f"run {run.run_id}: {kind}"), out)
    numbers = out.with_suffix(".json")
    numbers.write_text(json.dumps(result.to_dict(), indent=1))
    if not quiet:
        console.print(_summary(result))
        console.print(escape(f"wrote {out} and {numbers}"))
