"""Live training: redraws into display handles, throttled, the last state always drawn."""

import pytest

from fitscope import RunConfig, train
from fitscope.live import LiveDisplay, RecordingHandle

CFG = RunConfig().with_overrides({"budget.epochs": 4, "data.n_samples": 200,
                                  "model.width": 8})


def live(**kwargs) -> LiveDisplay:
    return LiveDisplay(show=RecordingHandle, **kwargs)


def test_every_epoch_redrawn_when_unthrottled_and_the_last_is_the_run():
    display = live(min_interval=0.0, budget=1e9)
    run = train(CFG.with_overrides({"observe.probe_every": 3}), callbacks=[display])
    loss, hists = display.handles["loss"], display.handles["histograms"]
    assert display.redraws == 4 + 1  # each epoch, then the end
    assert len(loss.bundles) == 5 and loss.sent > 0
    final = loss.bundles[-1]["application/vnd.plotly.v1+json"]["data"]
    assert final[0]["y"] == run.column("train_loss") and final[1]["y"] == run.column("val_loss")
    first = loss.bundles[0]["application/vnd.plotly.v1+json"]["data"]
    assert first[0]["y"] == run.column("train_loss")[:1]  # drawn during training
    last_step = max(r["step"] for r in run.probes)
    counts = [r["value"]["counts"] for r in run.probes
              if r["step"] == last_step and r["quantity"] == "act_hist"]
    assert [t["y"] for t in hists.bundles[-1]["application/vnd.plotly.v1+json"]["data"]] \
        == counts
    # a static copy for a saved notebook: an inline SVG, no script
    for bundle in (loss.bundles[-1], hists.bundles[-1]):
        assert "<svg" in bundle["text/html"] and "<script" not in bundle["text/html"]
    assert "completed" in loss.bundles[-1]["text/plain"]


@pytest.mark.parametrize("kwargs,redraws", [
    ({"min_interval": 3600.0}, 1),  # never due: only the end
    ({"min_interval": 0.0, "budget": 0.0}, 2)])  # the first epoch's draw spends the budget
def test_throttled_redraws_leave_the_final_state(kwargs, redraws):
    display = live(**kwargs)
    run = train(CFG, callbacks=[display])
    assert display.redraws == redraws
    assert list(display.handles) == ["loss"]  # not probed: no histograms
    final = display.handles["loss"].bundles[-1]["application/vnd.plotly.v1+json"]["data"]
    assert final[0]["y"] == run.column("train_loss")


def test_live_true_keeps_the_run_and_prints_outside_a_notebook(capsys):
    run = train(CFG, live=True)
    plain = train(CFG)
    assert run.run_id == plain.run_id and run.history[-1]["train_loss"] == \
        plain.history[-1]["train_loss"]
    assert "fitscope live: loss, completed" in capsys.readouterr().out


def test_the_benchmark_prints_its_ratio(monkeypatch, capsys):
    """benchmarks/live_display.py at its smallest prints ``live/plain 1.04x`` (that form)."""
    import importlib.util
    import re
    import sys
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "live_display.py"
    spec = importlib.util.spec_from_file_location("benchmark_live_display", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(sys, "argv", ["live_display.py", "--repeats", "1", "--epochs", "1"])
    module.main()
    assert re.search(r"^live/plain \d+\.\d\dx \(target <= 1\.10x", capsys.readouterr().out,
                     re.MULTILINE)
