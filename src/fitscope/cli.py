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

import os
import sys
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from . import threads
from .config import SEED_MAX, RunConfig, parse_override
from .jsontext import json_text

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="See and measure why neural networks train or fail.")
console = Console()
err = Console(stderr=True, soft_wrap=True)
VERBOSE = False  # set by ``fitscope --verbose``


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
    global VERBOSE
    VERBOSE = verbose
    threads.set_flag(threads_)
    try:
        threads.requested()  # a bad FITSCOPE_THREADS stops every command at once
    except threads.ThreadsError as exc:
        raise fail(str(exc)) from None


def say(message: str) -> None:
    """A ``--verbose`` line on stderr (user text in it printed literally)."""
    if VERBOSE:
        err.print(escape(message))


def use_threads(cfg: RunConfig | None, members: int = 1) -> threads.Choice:
    """Set torch's threads by :mod:`fitscope.threads` for training ``cfg`` (None: small
    work by design) and say the choice under ``--verbose``. Loads ``cfg``'s data (cached
    for the run); data errors are the caller's to turn into exit 2."""
    choice = threads.for_config(cfg, members) if cfg is not None else threads.pick(None)
    say(str(threads.use(choice)))
    return choice


def fail(message: str) -> typer.Exit:
    """Print a usage error (``message`` literally: markup in it is escaped) and return
    the exit (status 2) to raise."""
    err.print(f"[bold red]error:[/] {escape(message)}")
    return typer.Exit(2)


def format_validation_error(exc: ValidationError, source: Path | None = None) -> str:
    """One line per problem: ``field.path: message (got value)``, under a line naming
    the config file (``source``)."""
    lines = []
    for e in exc.errors():
        where = ".".join(str(p) for p in e["loc"]) or "config"
        got = ""
        if not isinstance(e.get("input"), dict):
            got = repr(e["input"])
            got = f" (got {got[:80]}{'...' if len(got) > 80 else ''})"
        hint = f" (seeds are in [0, {SEED_MAX}])" if where.endswith("seed") else ""
        lines.append(f"  {where}: {e['msg']}{got}{hint}")
    head = f"invalid config {source}" if source else "invalid config"
    return head + ":\n" + "\n".join(lines)


def load_config(path: Path | None, overrides: list[str]) -> RunConfig:
    """The config from a TOML/JSON file (or defaults) with ``--set`` overrides; exits 2."""
    try:
        cfg = RunConfig.load(path) if path else RunConfig()
        pairs = dict(parse_override(o) for o in overrides)
        return cfg.with_overrides(pairs) if pairs else cfg
    except ValidationError as exc:
        raise fail(format_validation_error(exc, path)) from None
    except KeyError as exc:
        raise fail(str(exc.args[0])) from None
    except (ValueError, OSError) as exc:  # FileNotFoundError, ConfigFileError, bad --set
        raise fail(str(exc)) from None


def check_output(path: Path | None, option: str, *, directory: bool = False,
                 make_parents: bool = False) -> None:
    """Exit 2 unless ``path`` can be written by the command, before it starts its work:
    a file (or with ``directory`` a folder) that is not the other kind, in a folder that
    exists (or, with ``make_parents`` or ``directory``, can be made). Writing is tried,
    not guessed from permissions: an existing file is opened for appending (nothing is
    written), and a scratch file is made and removed in the folder that will hold it."""
    if path is None:
        return
    try:
        if directory and path.exists() and not path.is_dir():
            raise fail(f"{option}: {path} is a file, not a directory")
        if not directory and path.is_dir():
            raise fail(f"{option}: {path} is a directory, not a file")
        folder = path if directory and path.is_dir() else path.absolute().parent
        if not (make_parents or directory):
            if not folder.is_dir():
                what = "not a directory" if folder.exists() else "no such directory"
                raise fail(f"{option}: {what}: {folder} (for {path})")
        else:
            while not folder.exists() and folder != folder.parent:
                folder = folder.parent
            if not folder.is_dir():
                raise fail(f"{option}: {folder} is a file, not a directory (for {path})")
        if path.is_file():
            with path.open("ab"):
                pass
        else:
            with tempfile.TemporaryFile(dir=folder):
                pass
    except OSError as exc:
        where = f" in {folder}" if "folder" in locals() else ""
        raise fail(f"{option}: cannot write {path}{where}: {exc.strerror or exc}") from None
    except ValueError as exc:  # a NUL byte
        raise fail(f"{option}: not a usable path: {path!s:.200} ({exc})") from None


def train_or_fail(cfg: RunConfig, quiet: bool, trainer=None):
    """``trainer(cfg, callbacks)`` (default :func:`fitscope.engine.train`) with a progress
    bar, on the threads the policy picks; a data error, a run that would not fit in
    memory or a missing device exits 2."""
    from .engine import check_device, train
    from .progress import EpochProgress

    try:
        check_device(cfg.budget.device)  # before the data is loaded
        use_threads(cfg)
        with EpochProgress(cfg, disable=quiet) as bar:
            return (trainer or (lambda c, callbacks: train(c, callbacks=callbacks)))(cfg, [bar])
    except (FileNotFoundError, ValueError) as exc:
        raise fail(str(exc)) from None


ConfigArg = Annotated[Path | None, typer.Argument(help="run config (.toml or .json); "
                                                        "defaults when left out")]
SetOpt = Annotated[list[str], typer.Option("--set", "-s", help="override, e.g. model.depth=9")]


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
    # The claims train small networks (measured 20x slower on some claims with two threads
    # on a loaded 2-core machine); each claim's runs pick their own count as they train.
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
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
