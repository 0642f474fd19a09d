"""Every code block of README.md and docs/*.md runs.

The blocks of one file run in order in one temporary folder that holds a copy of
``examples/`` (so ``examples/init_study.toml`` resolves as in the repository root), and
the ``python`` blocks of a file share one namespace, as in a session that reads the page
top to bottom. By language:

- ``python``: executed;
- ``sh``: each line (its ``# comment`` dropped) is a command: ``fitscope ...`` runs through
  the CLI in-process (typer's test runner) and must exit 0; ``python ...`` runs as a
  subprocess;
- ``toml``: a study file (it has ``[base]``), loaded and expanded;
- ``text``: not code (formulas); the test checks that such a block holds no command.

A block without a language fails the test: every block says what it is. What cannot run
here is listed in ``NOT_RUN`` with the reason, and what runs shrunk (fewer seeds or
epochs) in ``SHRINK``; an entry that no longer matches the docs fails the test too.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

ROOT = Path(__file__).parents[1]
DOC_FILES = ["README.md", *sorted(p.relative_to(ROOT).as_posix()
                                  for p in (ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\S*)\s*$")

# (file, command line as written, comment dropped) -> why it does not run here
NOT_RUN = {
    ("README.md", "make demo"): "builds .venv and runs the whole demo (minutes); the wheel "
    "test runs `fitscope demo --claim 1` from an installed wheel",
    ("README.md", "make test"): "the whole suite, this test included",
    ("README.md", "git clone -q . /tmp/fresh && cd /tmp/fresh"): "the fresh-clone check: "
    "a clone and the two commands below, minutes",
    ("README.md", "bash .ci/run"): "the whole suite from a clean clone, this test included",
    ("docs/notebooks.md", "make notebooks"): "installs Jupyter and serves JupyterLab until "
    "stopped; tests/test_notebooks.py executes the notebooks",
    ("README.md", "fitscope lab"): "serves until stopped; tests/test_wheel.py starts it and "
    "fetches its pages",
    ("docs/claims.md", "fitscope demo"): "every claim at 12 seeds (minutes); "
    "`make demo` runs it",
    ("docs/claims.md", "fitscope demo --seeds 16"): "every claim with 16 seeds (minutes)",
    ("docs/claims.md", "fitscope demo --full"): "every claim, 24 seeds, 3x longer (minutes)",
    ("docs/claims.md", "fitscope demo --stability"): "every claim at 12 and 24 seeds (many "
    "minutes); tests/test_claims_stats.py checks the stability comparison",
    ("docs/claims.md", "fitscope demo --fashion-mnist DIR"): "needs the Fashion-MNIST IDX "
    "files, which nothing may download at test time",
    ("docs/lab.md", "fitscope lab"): "serves until stopped (tests/test_wheel.py starts it)",
    ("docs/lab.md", ("fitscope lab --port 9000 --no-browser --max-sessions 8 --store "
     "runs/fitscope.sqlite")): "serves until stopped; its options are tested in "
    "tests/test_lab_commands.py",
    ("docs/lab.md", "fitscope lab --host 0.0.0.0 --allow-host mylaptop.local"): "serves until "
    "stopped; the host rules are tested in tests/test_lab_guard.py",
    ("docs/lab.md", ".venv/bin/python benchmarks/lab_load.py --sessions 20 --seconds 20"):
    "a benchmark (a minute); its parts are tested in tests/test_lab_load_benchmark.py",
    ("docs/lab.md", (".venv/bin/python benchmarks/lab_load.py --sessions 50 --hostile 10 "
     "--seconds 40")): "a benchmark (over a minute); its parts are tested in "
    "tests/test_lab_load_benchmark.py",
}

# (file, text in a python block) -> what it becomes here: the same code, smaller
SHRINK = {
    ("docs/landscape.md", '{"budget.seed": s, **o}) for s in range(5)]'):
        '{"budget.seed": s, **o}) for s in range(3)]',
    ("docs/landscape.md", '"budget": {"epochs": 30}})'): '"budget": {"epochs": 3}})',
}

# files whose blocks train for longer than a few seconds (the init study: 25 runs)
SLOW = {"README.md", "docs/studies.md", "docs/landscape.md", "docs/claims.md"}


@dataclass(frozen=True)
class Block:
    file: str
    line: int
    lang: str
    text: str


def blocks(file: str) -> list[Block]:
    lines = (ROOT / file).read_text().splitlines()
    out, start, lang = [], None, ""
    for i, line in enumerate(lines, 1):
        m = FENCE.match(line)
        if not m:
            continue
        if start is None:
            start, lang = i, m.group(1)
        else:
            out.append(Block(file, start, lang, "\n".join(lines[start:i - 1])))
            start = None
    assert start is None, f"{file}:{start}: a code block is never closed"
    return out


def commands(block: Block) -> list[str]:
    """The block's command lines, without comments and blank lines."""
    cmds = []
    for line in block.text.splitlines():
        cmd = line.split(" #", 1)[0].strip() if not line.lstrip().startswith("#") else ""
        if cmd:
            cmds.append(cmd)
    return cmds


def run_command(block: Block, cmd: str) -> None:
    where = f"{block.file}:{block.line}: {cmd}"
    args = shlex.split(cmd)
    if args[0] == "fitscope":
        from fitscope.cli import app

        result = CliRunner().invoke(app, args[1:])
        assert result.exit_code == 0, f"{where}: exit {result.exit_code}\n{result.output}" + (
            "".join(__import__("traceback").format_exception(result.exception))
            if result.exception and not isinstance(result.exception, SystemExit) else "")
    elif args[0] == "python":
        done = subprocess.run([sys.executable, *args[1:]], capture_output=True, text=True,
                              timeout=120, check=False)
        assert done.returncode == 0, f"{where}: exit {done.returncode}\n{done.stderr}"
    else:
        pytest.fail(f"{where}: neither a fitscope nor a python command; list it in NOT_RUN")


def run_block(block: Block, namespace: dict) -> None:
    if block.lang == "python":
        code = block.text
        for (file, old), new in SHRINK.items():
            if file == block.file and old in code:
                code = code.replace(old, new)
        exec(compile(code, f"{block.file}:{block.line}", "exec"), namespace)  # noqa: S102
    elif block.lang == "sh":
        for cmd in commands(block):
            if (block.file, cmd) not in NOT_RUN:
                run_command(block, cmd)
    elif block.lang == "toml":
        from fitscope.study import StudySpec

        assert "[base]" in block.text, (f"{block.file}:{block.line}: a toml block that is "
                                        "not a study file")
        path = Path(f"block{block.line}.toml")
        path.write_text(block.text)
        assert StudySpec.load(path).expand()
    elif block.lang == "text":
        assert not re.search(r"^\s*(fitscope|python|make)\b", block.text, re.MULTILINE), (
            f"{block.file}:{block.line}: a text block holds a command: make it sh")
    else:
        pytest.fail(f"{block.file}:{block.line}: code block without a known language "
                    f"({block.lang or 'none'}): use python, sh, toml or text")


@pytest.mark.parametrize("file", [pytest.param(f, marks=pytest.mark.slow) if f in SLOW else f
                                  for f in DOC_FILES])
def test_the_code_blocks_run(file, tmp_path, monkeypatch):
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FITSCOPE_CACHE", str(tmp_path / "cache"))
    namespace: dict = {"__name__": "__docs__"}
    for block in blocks(file):
        run_block(block, namespace)
    if file == "docs/studies.md":  # its blocks ran the init study into examples/init_study.db
        check_init_study_table()


WORDS = {"Nine": 9, "nine": 9, "eight": 8}


def check_init_study_table() -> None:
    """The init study's table in docs/studies.md (test accuracy by rank) and its counts of
    significant comparisons are those of the report of the study just run."""
    from fitscope.study.commands import load_report
    from fitscope.study.report import fmt, verdict

    text = (ROOT / "docs/studies.md").read_text()
    section = text.split("### The example")[1].split("\n## ")[0]
    documented = re.findall(r"^\| [^|]+ \| (\d\.\d{3} ± \d\.\d{3})", section, re.MULTILINE)
    report = load_report(Path("examples/init_study.toml"), None, None, None)
    measured = [fmt(c.estimates["test_acc"]).replace("±", " ± ") for c in report.configs]
    assert documented == measured, (documented, measured)
    verdicts = [verdict(c) for c in report.comparisons]
    m = re.search(r"(\w+) of the ten pairwise differences are significant .*?, (\w+) of them\s+"
                  r"after Holm", section, re.DOTALL)
    assert m, "the counts of significant comparisons are no longer in the text"
    assert len(verdicts) == 10
    assert WORDS[m.group(1)] == sum(v.startswith("significant") for v in verdicts)
    assert WORDS[m.group(2)] == verdicts.count("significant")


def test_every_exception_still_matches_the_docs():
    """NOT_RUN and SHRINK name commands and code that the docs still hold."""
    cmds = {(b.file, c) for f in DOC_FILES for b in blocks(f) if b.lang == "sh"
            for c in commands(b)}
    assert set(NOT_RUN) <= cmds, set(NOT_RUN) - cmds
    for file, old in SHRINK:
        assert any(old in b.text for b in blocks(file) if b.lang == "python"), (file, old)


def test_the_submodules_the_docs_use_are_attributes_after_import_fitscope():
    code = ("import sys, fitscope\n"
            "assert 'torch' not in sys.modules\n"
            "assert callable(fitscope.probe.tensorboard.export_tensorboard)\n"
            "assert callable(fitscope.population.train)\n"
            "assert callable(fitscope.probe.theory.theory_table)\n"
            "assert callable(fitscope.study.run_study)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stderr
