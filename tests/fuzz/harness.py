"""The fuzz corpus's one rule, shared by every corpus file.

A bad input given to the command line must end with exit status 2 and one message that
names the file or field and what is wrong: never a traceback, a bare "Aborted.", a hang or
a silent wrong result. ``expect_rejected`` checks that rule in-process through typer's
test runner; each call counts one case, and the session prints the count at the end
(``fuzz cases: N``, see ``tests/fuzz/conftest.py``).
"""

from __future__ import annotations

from collections.abc import Sequence

from typer.testing import CliRunner

CASES: list[str] = []
runner = CliRunner()


def expect_rejected(args: Sequence[str], *mentions: str, case: str | None = None) -> str:
    """Run ``fitscope ARGS``; assert exit 2, no traceback, and each of ``mentions`` shown.

    ``mentions`` are what the message must name (a file name, a field, the problem), matched
    case-insensitively. Returns the output for further checks.
    """
    from fitscope.cli import app

    CASES.append(case or " ".join(args))
    result = runner.invoke(app, list(args), catch_exceptions=True)
    output = result.output + (result.stderr if result.stderr_bytes is not None else "")
    where = f"fitscope {' '.join(args)}"
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{where}: raised {result.exception!r}\n{output}")
    assert result.exit_code == 2, f"{where}: exit {result.exit_code}, want 2\n{output}"
    assert "Traceback" not in output and "Aborted" not in output, f"{where}:\n{output}"
    assert output.strip(), f"{where}: exit 2 with no message"
    for m in mentions:
        assert m.lower() in output.lower(), f"{where}: message does not name {m!r}:\n{output}"
    return output
