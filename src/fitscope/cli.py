"""The ``fitscope`` command line.

A bad config or option exits with status 2 and a message naming the field; a run that
diverges is a result (exit 0, status shown), not an error.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from .config import RunConfig, parse_override

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="See and measure why neural networks train or fail.")
console = Console()
err = Console(stderr=True, soft_wrap=True)


def fail(message: str) -> typer.Exit:
    """Print a usage error and return the exit (status 2) to raise."""
    err.print(f"[bold red]error:[/] {message}")
    return typer.Exit(2)


def format_validation_error(exc: ValidationError) -> str:
    """One line per problem: ``field.path: message (got value)``."""
    lines = []
    for e in exc.errors():
        where = ".".join(str(p) for p in e["loc"]) or "config"
        got = f" (got {e['input']!r})" if not isinstance(e.get("input"), dict) else ""
        lines.append(f"  {where}: {e['msg']}{got}")
    return "invalid config:\n" + "\n".join(lines)


def load_config(path: Path | None, overrides: list[str]) -> RunConfig:
    """The config from a TOML/JSON file (or defaults) with ``--set`` overrides; exits 2."""
    try:
        cfg = RunConfig.load(path) if path else RunConfig()
        pairs = dict(parse_override(o) for o in overrides)
        return cfg.with_overrides(pairs) if pairs else cfg
    except ValidationError as exc:
        raise fail(format_validation_error(exc)) from None
    except (FileNotFoundError, KeyError, ValueError) as exc:
        raise fail(str(exc).strip("'\"")) from None


ConfigArg = Annotated[Path | None, typer.Argument(help="run config (.toml or .json); "
                                                        "defaults when left out")]
SetOpt = Annotated[list[str], typer.Option("--set", "-s", help="override, e.g. model.depth=9")]


@app.command()
def train(config: ConfigArg = None, set_: SetOpt = [],  # noqa: B006 (typer needs a list)
          out: Annotated[Path | None, typer.Option(help="write the run record (JSON)")] = None,
          save_dir: Annotated[Path | None, typer.Option(help="save run + checkpoint here")] = None,
          quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False) -> None:
    """Train one run config, with a progress bar and a summary table."""
    from .engine import train as train_run
    from .progress import EpochProgress

    cfg = load_config(config, set_)
    try:
        with EpochProgress(cfg, disable=quiet) as bar:
            run = train_run(cfg, callbacks=[bar])
    except (FileNotFoundError, ValueError) as exc:
        raise fail(str(exc)) from None
    if not quiet:
        console.print(run_summary(run))
    if out:
        out.write_text(json.dumps(run.record(), indent=1))
    if save_dir:
        run.save(save_dir)


def run_summary(run) -> Table:
    table = Table(title=f"run {run.run_id}  status: {run.status}", show_header=False)
    for key, value in run.metrics.items():
        table.add_row(key, f"{value:.4f}" if isinstance(value, float) else str(value))
    if run.reason:
        table.add_row("reason", run.reason)
    table.add_row("seconds", f"{run.timings.get('train_seconds', 0):.2f}")
    return table


@app.command()
def demo(epochs: Annotated[int, typer.Option(help="epochs per run")] = 40,
         seeds: Annotated[int, typer.Option(help="seeds per scheme")] = 2) -> None:
    """The notes' nine-layer network under five initializations, as a table."""
    from .init_study import init_study_table

    console.print(init_study_table(epochs=epochs, seeds=seeds))


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
