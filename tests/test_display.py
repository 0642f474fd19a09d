"""How objects show themselves in a notebook: an HTML table with the status and metrics
(not a <pre> of the repr), and a one-line repr."""

from html.parser import HTMLParser

import numpy as np
import pytest
import torch
from test_report import members, stored
from torch import nn

from fitscope import RunConfig, train
from fitscope.claims.base import Claim, Measurement, Verdict
from fitscope.claims.demo import ClaimResult
from fitscope.landscape.results import Line, Surface
from fitscope.probe import diagnose, probe
from fitscope.probe.findings import Findings
from fitscope.run import Run
from fitscope.study.report import build_report
from fitscope.study.runner import StudyResult


class Tables(HTMLParser):
    """The text of every table cell, per table, and the tags seen."""

    def __init__(self, text: str):
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self.tags: set[str] = set()
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.tables[-1].append(self._row)
            self._row = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)

    def cells(self) -> list[str]:
        return [c for t in self.tables for row in t for c in row]

    def pairs(self) -> dict[str, str]:
        return {row[0]: row[1] for t in self.tables for row in t if len(row) == 2}


def shown(obj) -> Tables:
    text = obj._repr_html_()
    parsed = Tables(text)
    assert parsed.tables, text
    assert "pre" not in parsed.tags
    return parsed


@pytest.fixture(scope="module")
def run() -> Run:
    cfg = RunConfig().with_overrides({"budget.epochs": 4, "observe.probe_every": 5,
                                      "data.n_samples": 200})
    return train(cfg)


def test_run_shows_status_metrics_and_findings(run):
    page = shown(run)
    text = run._repr_html_()
    assert "completed" in text and run.run_id in text
    pairs = page.pairs()
    for key in ("test_acc", "test_loss", "val_loss", "best_epoch"):
        assert float(pairs[key]) == pytest.approx(run.metrics[key], rel=1e-3), key
    found = diagnose(run)
    severities = [row[0] for t in page.tables for row in t[1:] if len(row) == 5]
    assert severities == [f.severity for f in found]
    assert "<svg" in text and "polyline" in text  # the loss curves inline


def test_run_repr_is_one_line(run):
    text = repr(run)
    assert "\n" not in text and len(text) < 300
    assert run.run_id in text and "completed" in text and "test_acc=" in text


def test_a_diverged_run_shows_its_reason():
    cfg = RunConfig().with_overrides({"budget.epochs": 1})
    bad = Run(config=cfg, status="diverged", reason="loss was nan at step 3",
              metrics={"epochs_run": 1})
    text = bad._repr_html_()
    assert "diverged" in text and "loss was nan at step 3" in shown(bad).cells()
    assert "diverged" in repr(bad)


def test_findings_show_as_a_table_with_severity(run):
    found = diagnose(run)
    assert isinstance(found, Findings) and isinstance(found, list)
    page = shown(found)
    header, *rows = page.tables[0]
    assert header[:2] == ["severity", "finding"]
    assert [(r[0], r[1]) for r in rows] == [(f.severity, f.code) for f in found]
    assert repr(found) == "Findings(" + ", ".join(
        f"{f.severity}:{f.code}" + (f"[{f.layer}]" if f.layer else "") for f in found) + ")"
    assert shown(found[0]).tables[0][1][1] == found[0].code


def test_probe_shows_the_last_step_per_layer():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with probe(model, every=2) as p:
        for _ in range(3):
            opt.zero_grad()
            nn.functional.cross_entropy(model(torch.randn(8, 3)), torch.zeros(8).long()
                                        ).backward()
            opt.step()
            p.step()
    page = shown(p)
    header, *rows = page.tables[0]
    assert [r[0] for r in rows] == ["0", "1", "2"]
    last = max(r["step"] for r in p.records)
    std = next(r["value"] for r in p.records
               if (r["step"], r["layer"], r["quantity"]) == (last, "1", "act_std"))
    assert float(rows[1][header.index("act std")]) == pytest.approx(std, rel=1e-3)
    assert "recording" in p._repr_html_()
    assert repr(p) == ("Probe(Sequential, every=2, bins=30, 2 steps sampled (last 2), "
                       f"{len(p.records)} records)")


def test_study_report_shows_ranked_table_and_comparisons():
    ms, runs = members({("he", "0"): [0.9, 0.92], ("zeros", "0"): [0.5, 0.52]})
    report = build_report("s", ms, runs)
    page = shown(report)
    ranked, comparisons = page.tables
    assert ranked[1][1] == "init=he, l2=0" and ranked[1][3] == "0.910±0.127"
    assert comparisons[1][:3] == ["init", "he", "zeros"]
    assert "complete" in report._repr_html_()
    assert repr(report).startswith("StudyReport(s: 2 configurations ranked by test_acc")
    result = StudyResult(total=4, trained=2, statuses={"completed": 3, "diverged": 1})
    assert shown(result).pairs()["status diverged"] == "1"
    assert "incomplete" in result._repr_html_()
    assert repr(result) == ("StudyResult(4 runs, 2 trained now, statuses "
                            "{'completed': 3, 'diverged': 1})")


def test_claim_result_shows_verdict_and_numbers():
    claim = Claim(7, "zero-init", "Zero init keeps units identical.", "notes, init",
                  "one-sided t-test", measure=None, decide=None, figure=None)
    m = Measurement(values={"distance": [0.0, 0.0, 0.0], "acc": 0.5}, notes=["small nets"])
    result = ClaimResult(claim, m, Verdict("holds", "distance 0 over 3 seeds"), runs=3,
                         seconds=1.5)
    page = shown(result)
    text = result._repr_html_()
    assert "holds" in text and "distance 0 over 3 seeds" in text
    assert page.pairs()["acc"] == "0.5"
    assert page.pairs()["distance"].startswith("0 [")
    assert repr(result) == "ClaimResult(#7 zero-init: holds; 3 runs, 1.5 s)"
    broken = ClaimResult(claim, None, None, error="Traceback...\nValueError: boom")
    assert "error" in broken._repr_html_() and "ValueError: boom" in broken._repr_html_()


def test_landscapes_show_kind_size_and_loss_range():
    line = Line(t=np.linspace(0, 1, 5), loss=np.array([1.0, 0.5, 0.2, np.nan, 0.3]))
    pairs = shown(line).pairs()
    assert pairs["kind"] == "line" and pairs["points"] == "5"
    assert float(pairs["min loss"]) == 0.2 and pairs["non-finite"] == "1"
    assert repr(line) == "Line(line, 5 points, loss 0.2..1)"
    surf = Surface(x=np.arange(3.0), y=np.arange(2.0), loss=np.arange(6.0).reshape(2, 3) + 1,
                   center_loss=3.0)
    pairs = shown(surf).pairs()
    assert pairs["points"] == "2x3" and float(pairs["max loss"]) == 6.0
    assert float(pairs["center loss"]) == 3.0
    assert "\n" not in repr(surf)


def test_stored_run_records_show_themselves():
    """A run read back from a study store (no model, no probes) still shows itself."""
    rec = stored("abc").record
    rec["history"] = [{"epoch": 1, "train_loss": 1.0, "val_loss": 0.6}]
    run = Run.from_record(rec)
    assert float(shown(run).pairs()["test_acc"]) == pytest.approx(0.9)
