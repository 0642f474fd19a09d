"""TensorBoard export, read back with TensorBoard's own event reader."""

import pytest

from fitscope import RunConfig, train

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import (
    HISTOGRAMS,
    SCALARS,
    EventAccumulator,
)

from fitscope.probe.tensorboard import export_tensorboard


def test_scalars_and_histograms_read_back_as_written(tmp_path):
    run = train(RunConfig.model_validate({
        "data": {"name": "moons", "n_samples": 200}, "model": {"depth": 1, "width": 8},
        "budget": {"epochs": 2, "batch_size": 50}, "observe": {"probe_every": 3,
                                                               "histogram_bins": 10}}))
    export_tensorboard(run, tmp_path)
    acc = EventAccumulator(str(tmp_path), size_guidance={SCALARS: 0, HISTOGRAMS: 0}).Reload()
    tags = acc.Tags()
    std = [r for r in run.probes if r["quantity"] == "act_std" and r["layer"] == "hidden.0.act"]
    got = acc.Scalars("act_std/hidden.0.act")
    assert [e.step for e in got] == [r["step"] for r in std]
    assert [e.value for e in got] == pytest.approx([r["value"] for r in std], rel=1e-6)
    hist = [r for r in run.probes if r["quantity"] == "weight_hist" and r["layer"] == "out"]
    events = acc.Histograms("weight_hist/out")
    assert [e.step for e in events] == [r["step"] for r in hist]
    for event, r in zip(events, hist):
        assert list(event.histogram_value.bucket) == r["value"]["counts"]
        assert list(event.histogram_value.bucket_limit) == pytest.approx(r["value"]["edges"][1:])
    loss = acc.Scalars("history/train_loss")
    assert [e.value for e in loss] == pytest.approx(run.column("train_loss"), rel=1e-6)
    assert "preact_grad_norm/out" in tags["scalars"]
