"""Config problems as text (fitscope.validation_text): the one wording the CLI, the study
files and the lab's messages share."""

from pathlib import Path

import pytest
from pydantic import ValidationError

from fitscope.config import SEED_MAX, RunConfig
from fitscope.lab.messages import BadMessage, parse_message
from fitscope.validation_text import GOT_CHARS, describe_problems, format_validation_error


def problems(data: dict) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        RunConfig.model_validate(data)
    return info.value


def test_one_line_per_problem_naming_the_field_and_the_value():
    exc = problems({"model": {"depth": -1}, "budget": {"seed": -5}})
    lines = describe_problems(exc).splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("model.depth: ") and lines[0].endswith("(got -1)")
    assert lines[1].startswith("budget.seed: ") and "(got -5)" in lines[1]
    assert lines[1].endswith(f"(seeds are in [0, {SEED_MAX}])")


def test_a_long_value_is_cut_and_a_table_is_not_shown():
    long = "x" * (GOT_CHARS * 2)
    text = describe_problems(problems({"data": {"name": long}}))
    assert f"(got {repr(long)[:GOT_CHARS]}...)" in text
    assert "(got 3)" in describe_problems(problems({"model": 3}))


def test_a_table_problem_names_the_table_without_its_value_or_pydantics_prefix():
    text = describe_problems(problems({"data": {"val_fraction": 0.5, "test_fraction": 0.5}}))
    assert text.startswith("data: ") and "must be below 0.9" in text
    assert "Value error" not in text and "(got" not in text


def test_the_file_heads_the_indented_problems():
    text = format_validation_error(problems({"model": {"depth": -1}}), Path("run.toml"))
    head, *body = text.splitlines()
    assert head == "invalid config run.toml:" and body[0].startswith("  model.depth: ")


def test_the_lab_drops_the_message_type_from_the_path():
    with pytest.raises(BadMessage) as info:
        parse_message('{"type": "start", "config": {"budget": {"seed": -1}}}')
    assert str(info.value).startswith("config.budget.seed: ")
    assert f"(seeds are in [0, {SEED_MAX}])" in str(info.value)
