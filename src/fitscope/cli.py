"""The ``fitscope`` command line.

Exit status: 0 when the command did its work (a run that diverges is a result, shown
with its status, not an error); 2 for bad input (a config, an option, a path, a run
that would not fit in memory, a device this machine lacks), with one message naming the
file, field or option, checked before any training starts; 1 when a claim of ``demo``
failed; 130 when interrupted. Every message prints user text literally (Rich markup in
it is escaped).

Options before the command apply to every command: ``--threads N`` (torch's thread
count; else ``FITSCOPE_THREADS``, else :mod:`fitscope.threads` picks it from the size of
the work) and ``--verbose`` (say what was picked).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from . import threads
from .cli_support import (
    ConfigArg,
    SetOpt,
    check_output,
    console,
    err,
    fail,
    load_config,
    say,
    set_verbose,
    train_or_fail,
    use_threads,
)
from .jsontext import json_text

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="See and measure why neural networks train or fail.")


@app.callback()
def main_options(
    threads_: Annotated[int | None, typer.Option(
        "--threads", min=1, max=threads.MAX_THREADS,
        help=f"torch threads (default: picked from the size of the work; env "
             f"{threads.ENV})")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v",
                                          help="say how many threads and why")] = False,
) -> None:
    """See and measure why neural networks train or fail."""
    set_verbose(verbose)
    threads.set_flag(threads_)
    try:
        threads.requested()  # a bad FITSCOPE_THREADS stops every command at once
    except threads.ThreadsError as exc:
        raise fail(str(exc)) from None


@app.command()
def train(config: ConfigArg = None, set_: SetOpt = [],  # noqa: B006 (typer needs a list)
          out: Annotated[Path | None, typer.Option(help="write the run record (JSON)")] = None,
          save_dir: Annotated[Path | None, typer.Option(help="save run + checkpoint here")] = None,
          quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False) -> None:
    """Train one run config, with a progress bar and a summary table."""
    cfg = load_config(config, set_)
    check_output(out, "--out")
    check_output(save_dir, "--save-dir", directory=True)
    run = train_or_fail(cfg, quiet)
    if not quiet:
        console.print(run_summary(run))
    try:
        if out:
            out.write_text(json_text(run.record()))
        if save_dir:
            run.save(save_dir)
    except OSError as exc:  # the paths were writable when checked; something changed since
        raise fail(f"cannot write the run: {exc}") from None


def run_summary(run) -> Table:
    table = Table(title=f"run {run.run_id}  status: {run.status}", show_header=False)
    for key, value in run.metrics.items():
        table.add_row(key, f"{value:.4f}" if isinstance(value, float) else str(value))
    if run.reason:
        table.add_row("reason", escape(run.reason))
    if run.label_names:
        names = ", ".join(f"{i}={n}" for i, n in enumerate(run.label_names[:20]))
        more = f" (+{len(run.label_names) - 20} more)" if len(run.label_names) > 20 else ""
        table.add_row("classes", escape(names + more))
    if run.data_hash:
        table.add_row("data sha256", run.data_hash[:16])
    table.add_row("seconds", f"{run.timings.get('train_seconds', 0):.2f}")
    return table


DEMO_SEEDS = 12       # the default: an exact sign-flip test's smallest p is 1/2^12 = 2.4e-4
DEMO_SEEDS_FULL = 24  # --full


@app.command()
def demo(claim: Annotated[list[str], typer.Option(
             "--claim", "-c", help="run only this claim (number or slug)")] = [],  # noqa: B006
         list_: Annotated[bool, typer.Option("--list", help="list the claims and exit")] = False,
         markdown: Annotated[bool, typer.Option(
             "--markdown", help="with --list: the claims table as Markdown (README, docs)"
         )] = False,
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
    from .claims.report import claims_json, summary_line, terminal_table, write_html, write_json
    from .claims.report import stability as compare_runs
    from .claims.training import demo_trainer
    from .study.store import Store, StoreError

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
    check_output(out, "--out", make_parents=True)
    check_output(store, "--store", make_parents=True)
    check_output(json_path, "--json", make_parents=True)
    # One thread to start (the claims train small networks); each claim's runs then pick
    # their own count from their size as they train.
    use_threads(None)
    say("threads: then picked per claim's runs from their size")
    if fashion_mnist is not None:
        from .claims.fashion import FASHION

        claims.append(FASHION)
    store.parent.mkdir(parents=True, exist_ok=True)
    n = seeds or (DEMO_SEEDS_FULL if full else DEMO_SEEDS)
    scale = 3.0 if full else 1.0
    runs_trained = 0
    try:
        db = Store(store)
    except StoreError as exc:  # another program's file, an empty one: left as it is
        raise fail(f"--store: {exc}") from None
    with db:
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
    console.print(escape(f"report: {path}\ndata: {beside}" + (f", {json_path}" if json_path
                                                               else "")
                         + f"\nruns: {store} (fitscope runs list --store {store})"))
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
    if "lab" in sys.argv[1:]:  # the lab's server allocates through glibc's malloc
        from .lab.memory import with_system_malloc

        with_system_malloc()  # (a process of its own: see its docstring)
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
