"""What a live training shows, computed in its worker from the engine's ``Trainer``.

Every function returns plain JSON-ready data. The decision boundary of a 2-D data set
is drawn in the data's own coordinates (:class:`Plane`), also when the model sees
polynomial features of them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import threading
from typing import Any

import numpy as np
import torch

from fitscope import regularize as reg
from fitscope.config import TOY_2D, DataConfig, RunConfig
from fitscope.data import load_data, prepare
from fitscope.engine import Trainer
from fitscope.probe import Probe, diagnose, stats
from fitscope.probe.stats import histogram, histogram_edges
from fitscope.probe.theory import theory_table
from fitscope.probe.training import ProbeStepper
from fitscope.run import Run

MAX_POINTS = 600
GRID = 60
PROBE_SAMPLES = 100
_THEORY = threading.Lock()  # one large model's theory line at a time
LARGE_MODEL = 100_000  # hidden weights (depth x width^2) from which a model is large
LARGE_THEORY_EXAMPLES = 128  # examples of a large theory line (theory_table's default: 512)
WEIGHT_BINS = 40


def with_probes(cfg: RunConfig, samples: int = PROBE_SAMPLES) -> RunConfig:
    """``cfg`` with ``observe.probe_every`` set so the engine probes the run about
    ``samples`` times (and always at step 0): frequent enough to watch, few enough
    that the records of a 500-epoch run stay small."""
    n = len(load_data(cfg.data, cfg.task.kind).x_train)
    bs = cfg.budget.batch_size
    per_epoch = math.ceil(n / (n if bs == 0 or bs >= n else bs))
    steps = min(cfg.budget.epochs * per_epoch, cfg.budget.max_steps or math.inf)
    return cfg.with_overrides({"observe.probe_every": max(1, math.ceil(steps / samples))})


def probe_of(trainer: Trainer) -> Probe | None:
    """The probe the engine attached to this run (``observe.probe_every > 0``)."""
    return next((cb.probe for cb in trainer.callbacks if isinstance(cb, ProbeStepper)), None)


def probed_units(model: torch.nn.Module) -> int:
    """Output values per example that a probe records: each linear layer's output and
    the activation after it (counted as twice the linear outputs)."""
    return sum(2 * m.out_features for m in model.modules() if isinstance(m, torch.nn.Linear))


def latest_probe(p: Probe, first: bool = False) -> dict | None:
    """The last probed step (with ``first``, the first one: the initialization), per
    layer in forward order: histograms (on the probe's fixed bins) of each activation's
    output and of the loss gradient with respect to each weight layer's output z; and
    each weight layer's Var(z) and Var(dL/dz)."""
    if not p.records:
        return None
    ordered = p.records if first else list(reversed(p.records))
    step = ordered[0]["step"]
    rows = []
    for r in ordered:
        if r["step"] != step:
            break
        rows.append(r)
    if not first:
        rows.reverse()
    values = {(r["layer"], r["quantity"]): r["value"] for r in rows}
    order = list(dict.fromkeys(layer for layer, q in values if q.endswith("_mean")))

    def hist(quantity: str) -> dict:
        layers = [layer for layer in order if (layer, quantity) in values]
        return {"layers": layers, "counts": [values[(la, quantity)]["counts"] for la in layers]}

    weights = [layer for layer in order if (layer, "preact_grad_std") in values]
    variance = {"layers": weights, "z_var": [values[(la, "preact_std")] ** 2 for la in weights],
                "grad_z_var": [values[(la, "preact_grad_std")] ** 2 for la in weights]}
    return {"step": step, "edges": p.edges, "act": hist("act_hist"),
            "grad": hist("preact_grad_hist"), "variance": variance}


def weight_histograms(model: torch.nn.Module, bins: int = WEIGHT_BINS) -> dict:
    """Each linear layer's weights (not biases), in forward order, counted on the probe's
    fixed bins (:func:`fitscope.probe.stats.histogram_edges`: log-spaced in magnitude, so
    weights an L1 penalty drives to zero pile up in the middle bins, while L2 shifts
    every weight inward a little); with each layer's share of weights under 0.01 in
    magnitude."""
    layers, counts, small = [], [], []
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear):
            w = module.weight.detach()
            layers.append(name)
            counts.append(histogram(w, bins).tolist())
            small.append(float((w.abs() < 0.01).float().mean()))
    return {"layers": layers, "counts": counts, "edges": list(histogram_edges(bins)),
            "near_zero": small}


def theory_line(config: RunConfig) -> dict | None:
    """What each weight layer's Var(z) and Var(dL/dz) should be at initialization
    (:func:`fitscope.probe.theory.theory_table`), with the measured values beside; None
    for a model the theory does not cover (batch norm, auxiliary tasks). A large model's
    (:func:`large_model`) is measured on
    :data:`LARGE_THEORY_EXAMPLES` examples, one at a time across trainings, and its
    probe's cached layout is dropped after: on 512 examples a 20 x 256 model's took about
    320 MiB for a moment and left a 50 MB layout. Small ones (the pages' defaults) never
    wait behind it."""
    large = large_model(config)
    try:
        with _THEORY if large else contextlib.nullcontext():
            rows = (theory_table(config, max_examples=LARGE_THEORY_EXAMPLES) if large
                    else theory_table(config))
            if large:  # its probe's cached layout (about 50 MB for 20 x 256) goes too
                stats.layout.cache_clear()
    except ValueError:
        return None
    keys = ("z_var", "grad_z_var", "z_var_measured", "grad_z_var_measured")
    return {"layers": [r["layer"] for r in rows], **{k: [r[k] for r in rows] for k in keys}}


def large_model(config: RunConfig) -> bool:
    """Whether ``config``'s model is large: depth x width^2 of at least
    :data:`LARGE_MODEL` (a 20 x 256 net's first point alone, the initial weights
    evaluated on 4000 rows, took 160 ms of CPU; the default 6 x 32 net's whole first
    turn, build included, 8 ms, the p50 of a 20-page load test). A large model's
    :func:`theory_line` is measured on fewer examples, one at a time; its first turn
    has no priority over the running trainings' steps, and its theory line and first
    view are computed without a turn (:class:`fitscope.lab.session.LiveTraining`)."""
    m = config.model
    return m.depth * max(m.widths, default=0) ** 2 >= LARGE_MODEL


def findings(trainer: Trainer, probe: Probe | None, run: Run | None = None) -> list[dict]:
    """:func:`fitscope.probe.diagnose` on the run so far (or the finished ``run``) with
    the probe's records."""
    if run is None:
        run = Run(config=trainer.config, status=trainer.status, history=list(trainer.history),
                  model_spec=trainer.model_spec)
    if probe is not None:
        run = dataclasses.replace(run, probes=probe.records)
    return [dataclasses.asdict(f) for f in diagnose(run)]


class Plane:
    """A 2-D data set's plane in its raw coordinates: the training points, and the map
    from raw points to the model's inputs, made of :mod:`fitscope.data.prepare`'s own
    steps (polynomial features, then the training rows' standardization)."""

    def __init__(self, cfg: DataConfig, task_kind: str):
        raw = load_data(cfg.model_copy(update={"poly_degree": 1, "standardize": False}),
                        task_kind)
        self.points = raw.x_train.numpy()
        self.held_out = {"val": raw.x_val.numpy(), "test": raw.x_test.numpy()}
        self.degree, self.standardize = cfg.poly_degree, cfg.standardize
        self._train = self._poly(self.points)

    def _poly(self, x: np.ndarray) -> np.ndarray:
        return x if self.degree == 1 else prepare.poly_features(x, self.degree)

    def inputs(self, x: np.ndarray) -> torch.Tensor:
        """Model inputs (N, n_features) for raw points ``x`` (N, 2)."""
        features = self._poly(x)
        if self.standardize:
            features = prepare.standardize([self._train, features], per_feature=True)[1]
        return torch.as_tensor(features, dtype=torch.float32)


def plane_of(trainer: Trainer) -> Plane | None:
    """The :class:`Plane` of a run on a 2-D data set, else None."""
    data = trainer.config.data
    return Plane(data, trainer.config.task.kind) if data.name in TOY_2D else None


def meta(trainer: Trainer, plane: Plane | None = None) -> dict:
    """Once per training: sizes, and on a plane a sample of the training points (raw
    coordinates; labels as trained on, label noise included) and of the validation and
    test points (``val_points``, ``test_points``)."""
    s = trainer.splits
    body: dict[str, Any] = {"n_features": s.n_features, "n_classes": s.n_classes,
            "n_train": len(s.x_train), "steps_per_epoch": trainer.steps_per_epoch,
            "total_steps": trainer.total_steps, "epochs": trainer.config.budget.epochs}
    if plane is not None:
        x, y = plane.points[:MAX_POINTS], s.y_train[:MAX_POINTS]
        body["points"] = {"x": x[:, 0].tolist(), "y": x[:, 1].tolist(), "label": y.tolist()}
        for split, labels in (("val", s.y_val), ("test", s.y_test)):
            x, y = plane.held_out[split][:MAX_POINTS], labels[:MAX_POINTS]
            body[f"{split}_points"] = {"x": x[:, 0].tolist(), "y": x[:, 1].tolist(),
                                       "label": y.tolist()}
    return body


def initial_row(trainer: Trainer) -> dict:
    """Epoch 0: loss and accuracy of the initial weights on the training and validation
    sets (evaluation mode), so a curve starts at the initialization (later epochs' training
    numbers are means over the epoch's minibatches, as the engine records them)."""
    s = trainer.splits
    train_loss, train_acc = trainer.evaluate(s.x_train, s.y_train)
    val_loss, val_acc = trainer.evaluate(s.x_val, s.y_val)
    return {"epoch": 0, "step": 0, "train_loss": train_loss, "train_acc": train_acc,
            "val_loss": val_loss, "val_acc": val_acc}


def live_view(trainer: Trainer, state: str, probe: Probe | None = None,
              probe_step: int | None = None, plane: Plane | None = None,
              weights: bool = False) -> dict:
    """The latest state: progress, early-stopping marks, the decision boundary on a
    plane, the probes when they hold a step newer than ``probe_step``, and with
    ``weights`` the :func:`weight_histograms`."""
    view: dict[str, Any] = {"state": state, "epoch": trainer.epoch, "step": trainer.step}
    if probe is not None and probe.records and probe.records[-1]["step"] != probe_step:
        view["probes"] = latest_probe(probe)
    if trainer.early is not None:
        view["best_epoch"] = trainer.early.best_epoch
    if plane is not None:
        view["boundary"] = decision_boundary(trainer, plane)
    if weights:
        view["weights"] = weight_histograms(trainer.model)
    return view


def final_view(trainer: Trainer, run: Run, probe: Probe | None = None) -> dict:
    """At the end: the epoch whose weights the run kept (early stopping restores one)
    and, for a probed run, the diagnosis."""
    body: dict[str, Any] = {"best_epoch": run.metrics.get("best_epoch")}
    if probe is not None:
        body["findings"] = findings(trainer, probe, run)
    return body


@torch.no_grad()
def decision_boundary(trainer: Trainer, plane: Plane, n: int = GRID) -> dict:
    """The model's output on an ``n`` x ``n`` grid over the training points (plus a
    margin), in raw coordinates: P(class 1) for two classes, the predicted class for
    more, the predicted value for regression. ``z[i][j]`` belongs to ``(x[j], y[i])``."""
    lo, hi = plane.points.min(0), plane.points.max(0)
    pad = 0.1 * (hi - lo)
    xs = np.linspace(lo[0] - pad[0], hi[0] + pad[0], n)
    ys = np.linspace(lo[1] - pad[1], hi[1] + pad[1], n)
    gx, gy = np.meshgrid(xs, ys)
    grid = plane.inputs(np.stack([gx.ravel(), gy.ravel()], 1)).to(trainer.device)
    model, was_training = trainer.model, trainer.model.training
    model.eval()
    out = model(grid)
    model.train(was_training)
    if not trainer.classify:
        z, kind = out[:, 0], "value"
    elif out.shape[1] == 1:
        z, kind = torch.sigmoid(out[:, 0]), "probability"
    else:
        z, kind = reg.predictions(out).float(), "class"
    # three decimals are plenty for a colour map, and a quarter of the bytes
    return {"x": np.round(xs, 4).tolist(), "y": np.round(ys, 4).tolist(), "kind": kind,
            "z": torch.round(z.reshape(n, n), decimals=3).cpu().tolist()}
