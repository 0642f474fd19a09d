"""``fitscope study run|report`` and ``fitscope runs list|show|export``.

:func:`register` adds both command groups to the main ``fitscope`` app. Bad input
(a study file, an option, a missing store or run, a file that is not a store) exits with
status 2 and a message naming what was wrong. The reading commands open the store
read-only (``Store(path, readonly=True)``): they never create, migrate or change a file.
"""

from __future__ import annotations

import csv
import io
import sqlite3
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from fitscope import threads
from fitscope.cli_support import check_output, fail, is_verbose, say
from fitscope.config import RunConfig
from fitscope.jsontext import json_text

from .runner import BackendName, Engine, StudyError, cores, run_study, threads_per_worker
from .spec import StudySpec, StudySpecError
from .store import Member, Store, StoredRun

if TYPE_CHECKING:
    from .report import StudyReport

study_app = typer.Typer(no_args_is_help=True, help="Sweeps over seeds: run and report.")
runs_app = typer.Typer(no_args_is_help=True, help="Runs in a store: list, show, export.")
# tables of a study are wide: when the output is a file or pipe, do not cut them at 80
console = Console(width=None if sys.stdout.isatty() else 160)

StoreOpt = Annotated[Path | None, typer.Option("--store", help="SQLite store (default: the "
                                               "study file with suffix .db)")]
StudyOpt = Annotated[str | None, typer.Option("--study", help="study name, when the store "
                                              "holds several")]
NeedStore = Annotated[Path, typer.Option("--store", help="SQLite store")]


def register(app: typer.Typer) -> None:
    """Add ``study`` and ``runs`` to the main app."""
    app.add_typer(study_app, name="study")
    app.add_typer(runs_app, name="runs")


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn the errors a user can cause into exit status 2 with the message."""
    try:
        yield
    except (StudySpecError, StudyError, FileNotFoundError, ValueError,
            sqlite3.DatabaseError) as exc:
        raise fail(str(exc)) from None
    except KeyError as exc:
        raise fail(str(exc.args[0])) from None


def _say_threads(spec: StudySpec, workers: int | None) -> None:
    """Under ``fitscope --verbose``: the threads a worker picks for the study's first run."""
    if is_verbose():
        cap = threads.cores() if workers == 0 else threads_per_worker(workers or cores())
        try:
            say(f"{threads.for_config(spec.base, cap=cap)} per worker for runs like "
                    f"[base]; each task picks its own")
        except (FileNotFoundError, ValueError) as exc:
            say(f"threads: not known before training ({exc})")


def default_store(study_file: Path) -> Path:
    return study_file.with_suffix(".db")


def open_existing(path: Path) -> Store:
    """A store that must exist already, opened read-only (reading commands never create,
    migrate or write one); StoreError (exit 2) for a missing file or one not a store."""
    return Store(path, readonly=True)


# -- study -------------------------------------------------------------------------------
EXIT_FAILED_RUNS = 1  # 0: every run a result, 2: bad input (user_errors); see the epilog


@study_app.command("run", epilog=(
    "Exit status: 0 every run of the study is stored as completed, early_stopped or "
    "diverged; 1 some runs of the study are stored as failed (trained now or before; "
    "--retry-failed trains them again); 2 bad input (the study file, an option, a store "
    "that is not a fitscope store), nothing trained."))
def study_run(
    study: Annotated[Path, typer.Argument(help="study file (.toml)")],
    workers: Annotated[int | None, typer.Option(help="worker processes (default: the "
                                                "cores; ray: the cluster's CPUs; 0: train "
                                                "in this process)")] = None,
    backend: Annotated[BackendName, typer.Option(help="local processes or a Ray cluster")]
    = "local",
    address: Annotated[str | None, typer.Option(help="ray: cluster address (default: "
                                                "start a local instance)")] = None,
    store: StoreOpt = None,
    engine: Annotated[Engine, typer.Option(help="sequential, population (batched runs "
                                           "of one shape), or auto")] = "sequential",
    retry_failed: Annotated[bool, typer.Option(help="train failed runs again")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """Train every run of the study that the store lacks; a killed study resumes here.
    A diverged run is a result; a failed one (its worker died twice, or training raised)
    makes the exit status 1."""
    from .progress import StudyProgress

    with user_errors():
        spec = StudySpec.load(study)
        path = store or default_store(study)
        check_output(path, "--store")
        _say_threads(spec, workers)
        with Store(path) as db:
            result = run_study(spec, db, backend=backend, workers=workers, address=address,
                               engine=engine, retry_failed=retry_failed,
                               progress=StudyProgress(spec.name, disable=quiet))
    counts = ", ".join(f"{n} {status}" for status, n in sorted(result.statuses.items()))
    console.print(f"study {spec.name}: {result.total} runs ({counts}); trained {result.trained} "
                  f"now; store {path}", markup=False, highlight=False)
    if result.statuses.get("failed"):
        console.print(f"{result.statuses['failed']} runs failed: see fitscope runs list "
                      f"--store {path} --status failed", markup=False, highlight=False)
        raise typer.Exit(EXIT_FAILED_RUNS)


@study_app.command("report")
def study_report(
    source: Annotated[Path, typer.Argument(help="study file (.toml) or store")],
    out: Annotated[Path | None, typer.Option(help="HTML file (default: next to SOURCE, "
                                             "suffix .html)")] = None,
    store: StoreOpt = None,
    study: StudyOpt = None,
    metric: Annotated[str | None, typer.Option(
        help="rank and compare on this metric (default test_acc; test_rmse for "
             "regression)")] = None,
) -> None:
    """Write the study's HTML report and print its summary tables."""
    with user_errors():
        target = out or source.with_suffix(".html")
        check_output(target, "--out")
        report = load_report(source, store, study, metric)
        target.write_text(report.html())
    for table in report.tables():
        console.print(table)
    console.print(escape(f"report written to {target}"))


def load_report(source: Path, store: Path | None, study: str | None,
                metric: str | None) -> StudyReport:
    """The report of a study file (its runs in ``store``) or of a study in a store."""
    from .report import build_report  # plotly and scipy load only for reports

    if source.suffix == ".toml":
        spec = StudySpec.load(source)
        name, text = spec.name, spec.text
        members = [Member.of(r) for r in spec.expand()]
        with open_existing(store or default_store(source)) as db:
            stored = db.runs(m.run_id for m in members)
    else:
        with open_existing(source) as db:
            name = study or only_study(db)
            members, text = db.members(name), db.spec_text(name)
            stored = db.runs(m.run_id for m in members)
    return build_report(name, members, stored, metric=metric, spec_text=text)


def only_study(db: Store) -> str:
    names = db.studies()
    if len(names) != 1:
        raise ValueError(f"{db.path} holds {len(names)} studies {names}; name one with "
                         "--study")
    return names[0]


# -- runs --------------------------------------------------------------------------------
def selected(db: Store, study: str | None, status: str | None = None) -> list[StoredRun]:
    runs = db.runs([m.run_id for m in db.members(study)] if study else None)
    return [r for r in runs if status is None or r.status == status]


@runs_app.command("list")
def runs_list(store: NeedStore, study: StudyOpt = None,
              status: Annotated[str | None, typer.Option(help="only this status")] = None
              ) -> None:
    """One line per stored run; "data" is the start of the SHA-256 of the data file it was
    trained on (empty for built-in sets)."""
    with user_errors(), open_existing(store) as db:
        runs, studies = selected(db, study, status), db.membership()
    table = Table(title=escape(f"{len(runs)} runs in {store}"))
    for col in ("run id", "studies", "status", "engine", "attempts", "test acc", "test loss",
                "epochs", "seconds", "data", "reason"):
        table.add_column(col)
    for r in runs:
        m, t = r.record["metrics"], r.record["timings"]
        table.add_row(r.run_id, escape(", ".join(studies.get(r.run_id, []))), r.status,
                      r.record["engine"], str(r.attempts), _num(m.get("test_acc")),
                      _num(m.get("test_loss")), str(m.get("epochs_run", "")),
                      _seconds(t.get("train_seconds")), (r.record.get("data_hash") or "")[:8],
                      escape(r.record["reason"][:60]))
    console.print(table)


@runs_app.command("show")
def runs_show(run_id: Annotated[str, typer.Argument(help="run id (or its first digits)")],
              store: NeedStore) -> None:
    """A stored run: status, metrics, timings and its config."""
    with user_errors(), open_existing(store) as db:
        r = db.get(run_id)
        studies = db.membership().get(r.run_id, [])
    rec = r.record
    table = Table(title=f"run {r.run_id}", show_header=False)
    rows = {"status": rec["status"], "reason": rec["reason"], "engine": rec["engine"],
            "attempts": r.attempts, "studies": ", ".join(studies),
            "epochs recorded": len(rec["history"]), "probe records kept": len(rec["probes"]),
            "data sha256": rec.get("data_hash") or "",
            "classes": escape(", ".join(rec.get("label_names") or [])),
            **rec["metrics"], **rec["timings"], **rec["versions"]}
    for key, value in rows.items():
        table.add_row(key, _num(value, 4) if isinstance(value, float) else escape(str(value)))
    console.print(table)
    console.print(RunConfig.model_validate(rec["config"]).to_toml(), markup=False,
                  highlight=False)


@runs_app.command("export")
def runs_export(store: NeedStore, study: StudyOpt = None,
                fmt: Annotated[Literal["csv", "json"], typer.Option(
                    "--format", help="json: whole records, strict JSON; csv: one row per "
                    "run for spreadsheets, one-way (None and \"\" both empty)")]
                = "csv",
                out: Annotated[Path | None, typer.Option(help="file (default: stdout)")] = None
                ) -> None:
    """Every stored run (of one study with ``--study``) as CSV rows or JSON records.

    JSON is strict (NaN and infinities written as null) and keeps whole records. CSV is
    one-way, for spreadsheets: None and "" both become an empty cell and lists become
    JSON text, so a config cannot be rebuilt from it exactly (use JSON for that)."""
    check_output(out, "--out")
    with user_errors(), open_existing(store) as db:
        runs, studies = selected(db, study), db.membership()
    writer: Callable[[list[dict[str, Any]]], str] = to_csv if fmt == "csv" else to_json
    text = writer([export_row(r, studies.get(r.run_id, [])) for r in runs])
    if out:
        out.write_text(text)
    else:
        typer.echo(text, nl=False)


def export_row(run: StoredRun, studies: list[str]) -> dict[str, Any]:
    """A run's record with the store's own fields, identifying fields first."""
    rec = run.record
    head = {"run_id": rec["run_id"], "studies": studies, "status": rec["status"],
            "engine": rec["engine"], "attempts": run.attempts, "reason": rec["reason"],
            "finished_at": run.finished_at}
    return {**head, **{k: v for k, v in rec.items() if k not in head}}


def to_json(rows: list[dict[str, Any]]) -> str:
    """Strict JSON (:func:`~fitscope.jsontext.json_text`: null for NaN and infinities)."""
    return json_text(rows) + "\n"


def to_csv(rows: list[dict[str, Any]]) -> str:
    """One row per run: scalar fields, then config, metrics, timings and versions as
    dotted columns (``config.model.depth``); lists are JSON text. History and probes are
    left out (use JSON for them). One-way: an empty cell is None or "" alike."""
    flat = [flatten({k: v for k, v in row.items() if k not in ("history", "probes")})
            for row in rows]
    columns = list(dict.fromkeys(k for row in flat for k in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(flat)
    return buffer.getvalue()


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``; lists become JSON text."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = json_text(value, indent=None) if isinstance(value, list | tuple) \
                else value
    return out


def _num(value: Any, digits: int = 3) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _seconds(value: float | None) -> str:
    """Three significant digits: a population member's share of its population's time
    can be a few milliseconds."""
    return "" if value is None else f"{value:.3g}"
