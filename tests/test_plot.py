"""``run.plot``, ``report.plot`` and ``landscape.plot()``: each figure's data is the
records it draws, and ``fig=`` overlays a second run."""

import re

import numpy as np
import plotly.graph_objects as go
import pytest
from test_report import members

from fitscope import RunConfig, train
from fitscope.figures import bin_position
from fitscope.landscape.results import Line, Surface
from fitscope.probe.theory import theory_table
from fitscope.run import Run
from fitscope.study.report import build_report


@pytest.fixture(scope="module")
def runs() -> tuple[Run, Run]:
    base = RunConfig().with_overrides({"budget.epochs": 3, "observe.probe_every": 4,
                                       "data.n_samples": 200, "model.width": 8})
    return (train(base.with_overrides({"name": "he"})),
            train(base.with_overrides({"name": "small", "init.scheme": "normal",
                                       "init.std": 0.01})))


def records(run, quantity, step=None):
    return {r["layer"]: r["value"] for r in run.probes
            if r["quantity"] == quantity and (step is None or r["step"] == step)}


def test_loss_and_accuracy_are_the_history(runs):
    a, b = runs
    fig = a.plot.loss()
    assert isinstance(fig, go.Figure)
    assert [t.name for t in fig.data] == ["he train_loss", "he val_loss"]
    assert list(fig.data[0].x) == a.column("epoch")
    assert list(fig.data[0].y) == a.column("train_loss")
    assert list(fig.data[1].y) == a.column("val_loss")
    same = b.plot.loss(fig=fig)
    assert same is fig and len(fig.data) == 4
    assert list(fig.data[3].y) == b.column("val_loss") and fig.data[3].name == "small val_loss"
    assert fig.data[0].line.color != fig.data[2].line.color  # one colour per run
    acc = a.plot.accuracy()
    assert [list(t.y) for t in acc.data] == [a.column("train_acc"), a.column("val_acc")]


def test_histograms_are_the_probe_counts(runs):
    a, b = runs
    last = max(r["step"] for r in a.probes)
    fig = a.plot.histograms()
    acts = records(a, "act_hist", last)
    assert [t.name for t in fig.data] == [f"he {layer}" for layer in acts]
    for trace, hist in zip(fig.data, acts.values()):
        assert list(trace.y) == hist["counts"] and list(trace.x) == list(range(30))
    edges = next(iter(acts.values()))["edges"]
    ticks = dict(zip(fig.layout.xaxis.ticktext, fig.layout.xaxis.tickvals))
    assert ticks["0"] == 14.5 and ticks["1"] == pytest.approx(bin_position(1.0, edges))
    for text, x in ticks.items():  # each marked value is drawn inside its own bin
        k = min(int(x + 0.5), len(edges) - 2)
        assert edges[k] <= float(text) <= edges[k + 1], (text, x)
    grads = a.plot.histograms(kind="gradients", step=0)
    assert [list(t.y) for t in grads.data] == [h["counts"] for h in
                                               records(a, "preact_grad_hist", 0).values()]
    b.plot.histograms(kind="gradients", step=0, fig=grads)
    assert len(grads.data) == 2 * len(records(a, "preact_grad_hist", 0))
    assert grads.data[-1].line.dash == "dash" and grads.data[0].line.dash == "solid"
    with pytest.raises(ValueError, match="step 3 was not probed"):
        a.plot.histograms(step=3)
    with pytest.raises(ValueError, match="kind must be one of"):
        a.plot.histograms(kind="biases")


def test_variance_is_theory_beside_the_run_s_step_0(runs):
    a, _ = runs
    fig = a.plot.variance()
    rows = theory_table(a.config)
    z_theory, z_measured, g_theory, g_measured = fig.data
    std = records(a, "preact_std", 0)
    gstd = records(a, "preact_grad_std", 0)
    assert list(z_theory.y) == [r["z_var"] for r in rows]
    # the backward theory, started from the run's own output gradient (its batch's mean)
    scale = gstd["out"] ** 2 / rows[-1]["grad_z_var_measured"]
    assert list(g_theory.y) == pytest.approx([r["grad_z_var"] * scale for r in rows])
    assert g_theory.y[-1] == pytest.approx(gstd["out"] ** 2)
    assert list(z_measured.y) == pytest.approx([std[r["layer"]] ** 2 for r in rows])
    assert list(g_measured.y) == pytest.approx([gstd[r["layer"]] ** 2 for r in rows])
    # at step 0 the probe and the theory table measure the same init on the same data split
    assert list(z_measured.y) == pytest.approx([r["z_var_measured"] for r in rows], rel=0.5)


def test_weights_are_the_weight_norms_over_steps(runs):
    a, _ = runs
    fig = a.plot.weights()
    for trace in fig.data:
        layer = trace.name.removeprefix("he ")
        want = [(r["step"], r["value"]) for r in a.probes
                if r["layer"] == layer and r["quantity"] == "weight_norm"]
        assert list(zip(trace.x, trace.y)) == want
    assert len(fig.data) == len(records(a, "weight_norm"))


def test_boundary_is_the_model_on_the_plane(runs):
    import torch

    from fitscope.lab.views import Plane

    a, b = runs
    fig = a.plot.boundary(n=20)
    contour, points = fig.data
    plane = Plane(a.config.data, "classification")
    assert np.allclose(points.x, plane.points[:, 0])
    gx, gy = np.meshgrid(contour.x, contour.y)
    with torch.no_grad():
        a.model.eval()
        out = a.model(plane.inputs(np.stack([gx.ravel(), gy.ravel()], 1)))
    p = torch.sigmoid(out[:, 0])  # two classes: one logit, P(class 1)
    assert np.allclose(np.array(contour.z), p.reshape(20, 20).numpy(), atol=2e-3)
    b.plot.boundary(fig=fig, n=20)
    assert len(fig.data) == 3 and fig.data[2].contours.coloring == "lines"
    assert (fig.data[2].contours.start, fig.data[2].contours.end) == (0.5, 0.5)  # P = 0.5
    with pytest.raises(ValueError, match="has no model"):
        Run(config=a.config).plot.boundary()


def test_plots_without_probes_say_how_to_get_them():
    run = Run(config=RunConfig())
    with pytest.raises(ValueError, match=re.escape("observe.probe_every > 0")):
        run.plot.histograms()


def test_study_compare_has_the_means_and_their_intervals():
    ms, stored = members({("he", "0"): [0.9, 0.92], ("zeros", "0"): [0.5, 0.52]})
    report = build_report("s", ms, stored)
    fig = report.plot.compare("test_acc")
    (bar,) = fig.data
    est = [c.estimates["test_acc"] for c in report.configs]
    assert list(bar.x) == [e.mean for e in est]
    assert list(bar.error_x.array) == pytest.approx([e.half_width for e in est])
    assert list(bar.y) == [c.label for c in report.configs]
    loss = report.plot.compare("test_loss", fig=fig)
    assert loss is fig and len(fig.data) == 2
    with pytest.raises(ValueError, match="metric must be one of"):
        report.plot.compare("f1")
    curves = report.plot.curves()
    assert [t.name for t in curves.data if t.showlegend is not False] == \
        [c.label for c in report.configs]


def test_landscape_plot_draws_and_overlays_lines():
    line = Line(t=np.linspace(0, 1, 4), loss=np.array([1.0, 0.5, 0.4, 0.8]),
                accuracy=np.array([0.5, 0.8, 0.9, 0.7]))
    fig = line.plot(name="a")
    assert list(fig.data[0].y) == [1.0, 0.5, 0.4, 0.8] and fig.data[0].name == "a loss"
    other = Line(t=np.linspace(0, 1, 4), loss=np.array([2.0, 1.0, 1.0, 2.0]),
                 accuracy=np.array([0.4, 0.6, 0.6, 0.4]))
    other.plot(fig=fig, name="b")
    assert [t.name for t in fig.data] == ["a loss", "a accuracy", "b loss", "b accuracy"]
    assert fig.data[3].yaxis == "y2" and list(fig.data[2].y) == [2.0, 1.0, 1.0, 2.0]
    surf = Surface(x=np.arange(3.0), y=np.arange(2.0), loss=np.ones((2, 3)))
    assert np.allclose(surf.plot().data[0].customdata, np.ones((2, 3)))
    with pytest.raises(ValueError, match="overlaying works for lines"):
        surf.plot(fig=fig)


def test_bin_position_puts_edges_between_bins_and_is_log_linear_inside():
    edges = [-100.0, -1.0, 0.0, 1.0, 100.0]
    assert [bin_position(e, edges) for e in edges] == [-0.5, 0.5, 1.5, 2.5, 3.5]
    assert bin_position(10.0, edges) == pytest.approx(3.0)  # halfway in log between 1, 100
    assert bin_position(-0.5, edges) == 1.0  # a bin across 0: its middle
    assert bin_position(1000.0, edges) is None
