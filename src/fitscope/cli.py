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


DEMO_SEEDS = 12       # the default: an exact sign-flip test's smallest p is 1/2^12 = 2.4e-4
DEMO_SEEDS_FULL = 24  # --full


@app.command()
def demo(claim: Annotated[list[str], typer.Option("--claim", "-c",
                                                  help="run only this claim (number or slug)")] = [],  # noqa: B006
         list_: Annotated[bool, typer.Option("--list", help="list the claims and exit")] = False,
         markdown: Annotated[bool, typer.Option(
             "--markdown", help="with --list: the claims table as Markdown (README, docs)")] = False,
         seeds: Annotated[int | None, typer.Option(help="seeds per configuration")] = None,
         full: Annotated[bool, typer.Option("--full", help="more seeds, longer runs")] = False,
         quick: Annotated[bool, typer.Option("--quick", help="the default: small and fast")] = True,
         stability: Annotated[bool, typer.Option(
             "--stability", help="decide at N seeds and again at 2N; print both")] = False,
         out: Annotated[Path, typer.Option(help="HTML report")] = Path("reports/claims.html"),
         json_path: Annotated[Path | None, typer.Option(
             "--json", help="also write the results as JSON here (claims.json beside the "
                            "HTML is always written)")] = None,
         store: Annotated[Path, typer.Option(help="SQLite store the runs go to")] = Path(
             "reports/fitscope.sqlite"),
         fashion_mnist: Annotated[Path | None, typer.Option(
             "--fashion-mnist", help="directory with the Fashion-MNIST IDX files")] = None) -> None:
    """Run the notes' claims as experiments and write a report of what held."""
    from rich.markup import escape

    from .claims import REGISTRY, get, markdown_table
    from .claims.base import Context
    from .claims.demo import run_claims
    from .claims.report import (claims_json, summary_line, terminal_table, write_html,
                                write_json)
    from .claims.report import stability as compare_runs
    from .claims.training import demo_trainer
    from .study.store import Store

    if list_:
        if markdown:
            print(markdown_table(), end="")
            return
        for c in REGISTRY.values():
            console.print(f"{c.number:>2}  {c.slug:<28} {escape(c.statement)}")
        return
    if markdown:
        raise fail("--markdown goes with --list")
    try:
        claims = [get(k) for k in claim] if claim else list(REGISTRY.values())
    except KeyError as exc:
        raise fail(str(exc).strip("'\"")) from None
    if seeds is not None and seeds < 2:
        raise fail(f"--seeds must be at least 2 (a comparison needs spread), got {seeds}")
    if fashion_mnist is not None and not fashion_mnist.is_dir():
        raise fail(f"--fashion-mnist: no such directory: {fashion_mnist}")
    if json_path is not None and json_path.is_dir():
        raise fail(f"--json: {json_path} is a directory; give a file name")
    import torch

    # The claims train small networks: one thread avoids synchronization costs (measured
    # 20x slower on some claims with two threads on a loaded 2-core machine).
    torch.set_num_threads(1)
    if fashion_mnist is not None:
        from .claims.fashion import FASHION

        claims.append(FASHION)
    store.parent.mkdir(parents=True, exist_ok=True)
    n = seeds or (DEMO_SEEDS_FULL if full else DEMO_SEEDS)
    scale = 3.0 if full else 1.0
    runs_trained = 0
    with Store(store) as db:
        def run_at(k: int):
            nonlocal runs_trained
            ctx = Context(seeds=k, scale=scale,
                          fashion_mnist=str(fashion_mnist) if fashion_mnist else None,
                          trainer=demo_trainer(db))
            results = run_claims(claims, ctx)
            runs_trained += ctx.runs_trained
            return results

        results = run_at(n)
        results_2x = run_at(2 * n) if stability else None
    console.print(terminal_table(results))
    console.print(escape(f"{n} seeds: {summary_line(results)}"))
    mode = "full" if full else "quick"
    path = write_html(results, out, f"--{mode}, {n} seeds, {runs_trained} runs")
    data = claims_json(results, n, results_2x)
    beside = write_json(data, out.with_suffix(".json"))
    if json_path is not None:
        write_json(data, json_path)
    if results_2x is not None:
        console.print(terminal_table(results_2x))
        s = compare_runs(results, results_2x)
        console.print(escape(
            f"{2 * n} seeds: {summary_line(results_2x)}\nstability, {n} against {2 * n} seeds: "
            f"{len(s['changes'])} changes between decided verdicts {s['changes'] or ''}; "
            f"moved (allowed) {s['moved'] or 'none'}; {s['decided']} claims decided at {n} "
            f"seeds; smallest p anywhere {s['smallest_p']:.2g}"))
    console.print(f"report: {path}\ndata: {beside}" + (f", {json_path}" if json_path else "")
                  + f"\nruns: {store} (fitscope runs list --store {store})")
    failed = [r for rs in (results, results_2x or []) for r in rs if r.error]
    if failed:
        for r in failed:
            err.print(f"claim {r.claim.number} failed:\n{escape(r.error)}")
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
