"""The ``fitscope`` command line.

A bad config or option exits with status 2 and a message naming the field; a run that
diverges is a result (exit 0, status shown), not an error.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from .config import RunConfig, parse_override
from .jsontext import json_text

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
        out.write_text(json_text(run.record()))
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
def demo(claim: Annotated[list[str], typer.Option("--claim", "-c",
                                                  help="run only this claim (number or slug)")] = [],  # noqa: B006
         list_: Annotated[bool, typer.Option("--list", help="list the claims and exit")] = False,
         seeds: Annotated[int | None, typer.Option(help="seeds per configuration")] = None,
         full: Annotated[bool, typer.Option("--full", help="more seeds, longer runs")] = False,
         quick: Annotated[bool, typer.Option("--quick", help="the default: small and fast")] = True,
         out: Annotated[Path, typer.Option(help="HTML report")] = Path("reports/claims.html"),
         store: Annotated[Path, typer.Option(help="SQLite store the runs go to")] = Path(
             "reports/fitscope.sqlite"),
         fashion_mnist: Annotated[Path | None, typer.Option(
             "--fashion-mnist", help="directory with the Fashion-MNIST IDX files")] = None) -> None:
    """Run the notes' claims as experiments and write a report of what held."""
    from .claims import REGISTRY, get
    from .claims.base import Context
    from .claims.demo import run_claims
    from .claims.report import terminal_table, write_html
    from .claims.training import demo_trainer
    from .study.store import Store, StoreError

    if list_:
        for c in REGISTRY.values():
            console.print(f"{c.number:>2}  {c.slug:<28} {c.statement}")
        return
    try:
        claims = [get(k) for k in claim] if claim else list(REGISTRY.values())
    except KeyError as exc:
        raise fail(str(exc).strip("'\"")) from None
    if seeds is not None and seeds < 2:
        raise fail(f"--seeds must be at least 2 (a comparison needs spread), got {seeds}")
    if fashion_mnist is not None and not fashion_mnist.is_dir():
        raise fail(f"--fashion-mnist: no such directory: {fashion_mnist}")
    import torch

    # The claims train small networks: one thread avoids synchronization costs (measured
    # 20x slower on some claims with two threads on a loaded 2-core machine).
    torch.set_num_threads(1)
    if fashion_mnist is not None:
        from .claims.fashion import FASHION

        claims.append(FASHION)
    store.parent.mkdir(parents=True, exist_ok=True)
    try:
        db = Store(store)
    except StoreError as exc:  # another program's file, an empty one: left as it is
        raise fail(f"--store: {exc}") from None
    with db:
        ctx = Context(seeds=seeds or (10 if full else 5), scale=3.0 if full else 1.0,
                      fashion_mnist=str(fashion_mnist) if fashion_mnist else None,
                      trainer=demo_trainer(db))
        results = run_claims(claims, ctx)
    console.print(terminal_table(results))
    mode = "full" if full else "quick"
    path = write_html(results, out, f"--{mode}, {ctx.seeds} seeds, {ctx.runs_trained} runs")
    console.print(f"report: {path}\nruns: {store} (fitscope runs list --store {store})")
    if any(r.error for r in results):
        for r in results:
            if r.error:
                err.print(f"claim {r.claim.number} failed:\n{r.error}")
        raise typer.Exit(1)


def _register_commands() -> None:
    """Commands that live beside the code they drive (``<package>/commands.py``)."""
    from .lab import commands as lab_commands
    from .landscape import commands as landscape_commands
    from .probe import commands as probe_commands
    from .study import commands as study_commands

    for module in (probe_commands, study_commands, landscape_commands, lab_commands):
        module.register(app)


_register_commands()


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
