"""``fitscope diagnose`` and ``fitscope theory``.

``fitscope diagnose CONFIG.toml [--set ...] [--tensorboard DIR] [--fix]`` trains the
config with probes (every ``observe.probe_every`` steps; DEFAULT_PROBE_EVERY when the
config says 0) and prints the findings with their confidence; a saved run directory is
diagnosed without training. ``--fix`` applies the findings' config changes, retrains
with the same seeds and budget and prints before / after
(:func:`fitscope.probe.fixes.verify`).
``fitscope theory CONFIG.toml`` prints, per layer of an MLP at init, the variances the
derivation predicts beside the measured ones. Bad input exits with status 2 and a
message naming the option or field.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from fitscope.cli_support import (
    SetOpt,
    check_output,
    fail,
    load_config,
    load_run_or_config,
    train_or_fail,
    use_threads,
)
from fitscope.config import RunConfig
from fitscope.jsontext import json_text

if TYPE_CHECKING:  # torch-heavy: imported by the commands that run
    from .findings import Finding

DEFAULT_PROBE_EVERY = 10  # ~100 probed steps in a 1000-step run

ConfigArg = Annotated[Path, typer.Argument(metavar="CONFIG_OR_RUN",
                                           help="run config (.toml / .json) or saved run dir")]


def register(app: typer.Typer) -> None:
    """Add the ``diagnose`` and ``theory`` commands to the main app."""
    app.command("diagnose")(diagnose_command)
    app.command("theory")(theory_command)


def _probed(cfg: RunConfig) -> RunConfig:
    """``cfg`` with probes on (every :data:`DEFAULT_PROBE_EVERY` steps) unless it has them."""
    if not cfg.observe.probe_every:
        cfg = cfg.with_overrides({"observe.probe_every": DEFAULT_PROBE_EVERY})
    return cfg


def findings_table(findings: list[Finding]) -> Table:
    table = Table(title="diagnosis", show_lines=True)
    for col in ("severity", "finding", "confidence", "layer", "what it means", "fix"):
        table.add_column(col, overflow="fold")
    colors = {"error": "red", "warning": "yellow", "possible": "cyan", "info": "green"}
    for f in findings:
        table.add_row(f"[{colors[f.severity]}]{f.severity}[/]", f.code, f"{f.confidence:.2f}",
                      escape(f.layer or ""), escape(f.explanation), escape(f.fix))
    return table


def diagnose_command(
    config: ConfigArg,
    set_: SetOpt = [],  # noqa: B006 (typer needs a list)
    tensorboard: Annotated[Path | None, typer.Option(
        help="also write probes and history as TensorBoard event files here")] = None,
    out: Annotated[Path | None, typer.Option(help="write the findings as JSON")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar")] = False,
    fix: Annotated[bool, typer.Option(
        "--fix", help="apply the findings' config changes, retrain on --seeds seeds beside "
                      "the unchanged config, and report before / after")] = False,
    seeds: Annotated[int, typer.Option(min=1, max=10, help="seeds for --fix")] = 3,
) -> None:
    """Train CONFIG with probes (or load a saved run) and say what is wrong and why."""
    from .findings import diagnose

    if tensorboard and importlib.util.find_spec("tensorboard") is None:
        raise fail("--tensorboard needs the optional extra: "
                       "pip install 'fitscope[tensorboard]'")
    check_output(out, "--out")
    check_output(tensorboard, "--tensorboard", directory=True)
    run = load_run_or_config(config, set_, "CONFIG_OR_RUN")
    if isinstance(run, RunConfig):
        run = train_or_fail(_probed(run), quiet)
    findings = diagnose(run)
    console = Console()
    console.print(f"run {run.run_id}  status: {run.status}  probe records: {len(run.probes)}")
    console.print(findings_table(findings))
    if out:
        out.write_text(json_text([f.__dict__ for f in findings], default=str))
    if fix:
        if not run.model_spec.get("builtin", True):
            raise fail("--fix retrains the config's model; this run used your own model: "
                           "call fitscope.diagnose(run).verify(model_factory=...) instead")
        console.print(escape(str(findings.verify(seeds=seeds))))
    if tensorboard:
        from .tensorboard import export_tensorboard

        export_tensorboard(run, tensorboard)
        console.print(escape(f"TensorBoard event files in {tensorboard}: tensorboard --logdir "
                             f"{tensorboard}"))


def _cell(row: dict, key: str) -> str:
    if row[key] is None:
        return ""
    ratio = row[key] / row[f"{key}_measured"] if row[f"{key}_measured"] else float("inf")
    return f"{row[key]:.3g} / {row[f'{key}_measured']:.3g} ({ratio:.2f})"


def theory_command(
    config: Annotated[Path, typer.Argument(help="run config (.toml / .json) of an MLP")],
    set_: SetOpt = [],  # noqa: B006 (typer needs a list)
    regime: Annotated[str, typer.Option(help="tanh/sigmoid: gaussian (exact for Gaussian "
                                        "z) or linear (the notes' small-z approximation)")]
    = "gaussian",
) -> None:
    """Per layer at init: the variances the derivation predicts beside the measured ones."""
    from .theory import REGIMES, theory_table

    if regime not in REGIMES:
        raise fail(f"--regime must be one of {', '.join(REGIMES)}, got {regime!r}")
    cfg = load_config(config, set_)
    try:
        use_threads(cfg)
        rows = theory_table(cfg, regime)
    except (FileNotFoundError, ValueError) as exc:
        raise fail(str(exc)) from None
    m = cfg.model
    table = Table(title=f"{m.activation} MLP, init {cfg.init.scheme}: theory / measured "
                        f"(ratio), {regime} regime")
    for col in ("layer", "fan_in", "Var(W)", "Var(z)", r"E\[a^2]", "Var(dL/da)", "Var(dL/dz)"):
        table.add_column(col, justify="left" if col == "layer" else "right")
    for r in rows:
        table.add_row(r["layer"], str(r["fan_in"]), f"{r['var_w']:.3g}", _cell(r, "z_var"),
                      _cell(r, "a_moment"), _cell(r, "grad_a_var"), _cell(r, "grad_z_var"))
    Console().print(table)
