"""The harness itself: a known bad input passes, a good one would fail it."""

import pytest

from tests.fuzz.harness import expect_rejected


def test_unknown_field_is_rejected_by_name():
    expect_rejected(["train", "--set", "model.dept=3"], "model.dept")


def test_harness_fails_on_a_run_that_succeeds(tmp_path):
    with pytest.raises(AssertionError, match="want 2"):
        expect_rejected(["demo", "--list"])
