"""README's and docs' claim tables are the registry's (`fitscope demo --list --markdown`)."""

import re
from pathlib import Path

import pytest

from fitscope.claims import REGISTRY, markdown_table

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"<!-- claims-table:[^\n]*-->\n(.*?)<!-- /claims-table -->", re.DOTALL)


@pytest.mark.parametrize("doc", ["README.md", "docs/claims.md"])
def test_claims_table_is_generated_from_the_registry(doc):
    tables = BLOCK.findall((ROOT / doc).read_text())
    assert tables, f"{doc} has no generated claims table"
    for table in tables:
        assert table == markdown_table(), (
            f"{doc}'s claims table differs from the registry: paste `fitscope demo --list "
            f"--markdown` between its claims-table markers")


def test_the_table_has_one_row_per_claim_and_escapes_pipes():
    rows = markdown_table().splitlines()[2:]
    from fitscope.claims import REGISTRY

    assert [int(r.split("|")[1]) for r in rows] == list(REGISTRY)
    assert all(r.count("|") - r.count("\\|") == 6 for r in rows)


def test_demo_writes_claims_json_in_the_issue_shape(tmp_path):
    import json

    from typer.testing import CliRunner

    from fitscope.cli import app

    out = tmp_path / "r" / "claims.html"
    res = CliRunner().invoke(app, ["demo", "-c", "24", "-c", "26", "--seeds", "6", "--out",
                                   str(out), "--store", str(tmp_path / "s.sqlite"), "--json",
                                   str(tmp_path / "x.json")])
    assert res.exit_code == 0, res.output
    data = json.loads((tmp_path / "x.json").read_text())
    assert data == json.loads(out.with_suffix(".json").read_text())
    assert data["seeds"] == 6 and [c["number"] for c in data["claims"]] == [24, 26]
    c24, c26 = data["claims"]
    assert c24["kind"] == "demonstration" and c26["kind"] == "claim"
    assert c26["verdict"] in ("holds", "does not hold", "not shown", "holds only when")
    t = c26["tests"][0]
    assert set(t) >= {"name", "statistic", "effect", "ci", "p_raw", "p_adjusted", "n_pairs",
                      "n_dropped"}
    assert t["n_pairs"] == 6 and t["p_raw"] >= 1 / 2**6 and t["p_adjusted"] >= t["p_raw"]
    assert "key numbers" in res.output and "criterion" in res.output


def test_demo_rejects_bad_json_and_markdown_options(tmp_path):
    from tests.fuzz.harness import expect_rejected

    expect_rejected(["demo", "--markdown"], "--markdown", "--list")
    expect_rejected(["demo", "-c", "24", "--json", str(tmp_path)], "--json", "directory")


def test_every_record_of_claims_toml_is_declared_once_and_fills_its_template():
    from fitscope.claims.base import _records, declared
    from fitscope.claims.fashion import FASHION

    declared_numbers = sorted([*REGISTRY, FASHION.number])
    assert sorted(_records()) == declared_numbers
    # the prose of claim 36 names GRADIENT_DEPTH: without its value it cannot be declared
    with pytest.raises(KeyError, match="GRADIENT_DEPTH"):
        declared(36, REGISTRY[36].measure, REGISTRY[36].decide, REGISTRY[36].figure)
    assert all("{" not in c.criterion + c.protocol for c in REGISTRY.values())
