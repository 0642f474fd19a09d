"""What the ``fitscope`` commands share: the consoles, ``--verbose`` lines, usage errors
(exit status 2, user text escaped), loading a run config with ``--set`` overrides or a saved run,
checking an output path before the work starts, and training a config with a progress
bar. :mod:`fitscope.cli` and every ``<package>/commands.py`` import it; it imports no
command module."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from . import threads
from .config import RunConfig, parse_override
from .validation_text import format_validation_error

console = Console()
err = Console(stderr=True, soft_wrap=True)
VERBOSE = False  # set by ``fitscope --verbose`` (:func:`set_verbose`)


def set_verbose(flag: bool) -> None:
    """``fitscope --verbose``: :func:`say` prints from now on."""
    global VERBOSE
    VERBOSE = flag


def is_verbose() -> bool:
    """Whether ``fitscope --verbose`` was given."""
    return VERBOSE


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


def load_run_or_config(path: Path, overrides: list[str], argument: str) -> Any:
    """What a command's ``argument`` names: the :class:`~fitscope.run.Run` saved in the
    directory ``path``, or else the :class:`RunConfig` in the file ``path`` with ``--set``
    ``overrides``. Exits 2 when ``path`` does not exist, the directory holds no saved run,
    or ``--set`` was given with a directory (it applies to a config file)."""
    if not path.is_dir():
        if not path.exists():
            raise fail(f"{argument}: no such config file or run directory: {path}")
        return load_config(path, overrides)
    from .run import load_run

    if overrides:
        raise fail("--set applies to a config file, not to a saved run directory")
    try:
        return load_run(path)
    except (FileNotFoundError, ValueError, OSError) as exc:
        raise fail(f"{argument}: {path} is a directory but not a saved run: {exc}") from None


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


def train_or_fail(cfg: RunConfig, quiet: bool,
                  trainer: Callable[[RunConfig, list[Any]], Any] | None = None) -> Any:
    """What ``trainer(cfg, callbacks)`` returns (default :func:`fitscope.engine.train`: the
    :class:`~fitscope.run.Run`), trained with a progress bar on the threads the policy
    picks; a data error, a run that would not fit in memory or a missing device exits 2."""
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
