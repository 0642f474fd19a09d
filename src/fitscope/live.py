"""Live training in a notebook: the loss curves and, for a probed run, the per-layer
histograms, redrawn in the cell's output while the run trains.

``fitscope.train(cfg, live=True)`` adds a :class:`LiveDisplay`; it is a plain
:class:`~fitscope.core.loop.Callback`, so ``train(cfg, callbacks=[LiveDisplay()])`` does the
same. The figures are :mod:`fitscope.figures`' own (``run.plot.loss()`` and
``run.plot.histograms()`` of the run so far), sent through IPython display handles.
Each output carries, beside the interactive plotly figure, a static HTML/SVG copy
(:func:`fitscope.display.sparkline`) that a saved notebook keeps and any viewer shows.

Redrawing is throttled by wall time: a redraw happens at the end of an epoch once
``min_interval`` seconds passed since the last one, and only while the time spent
redrawing stays under ``budget`` (5%) of the time trained so far, so the display costs at
most about that share of training. The last state is always drawn when training ends.
"""

from __future__ import annotations

import html
import json
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from .core.loop import Callback
from .run import Run

if TYPE_CHECKING:
    from .engine import Trainer
    from .probe import Probe

Handle = Any  # an IPython DisplayHandle, or anything with update(bundle, raw=True)


def ipython_handle(bundle: dict[str, Any]) -> Handle:
    """Show ``bundle`` (a mime bundle) in the cell's output; the handle updates it.
    Outside IPython (a script) each redraw prints its one-line text instead."""
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.display import display

    if not InteractiveShell.initialized():
        handle = TextHandle()
        handle.update(bundle)
        return handle
    return display(bundle, raw=True, display_id=True)


class TextHandle:
    """Prints each bundle's ``text/plain``: the display of a plain Python session."""

    def update(self, bundle: dict[str, Any], raw: bool = True) -> None:
        print(bundle["text/plain"], flush=True)


class RecordingHandle:
    """A headless display handle: keeps every bundle it is given, serialized to JSON as
    a kernel would send it to the notebook (tests and ``benchmarks/live_display.py``)."""

    def __init__(self, bundle: dict[str, Any]):
        self.bundles: list[dict[str, Any]] = []
        self.sent = 0  # bytes of JSON
        self.update(bundle)

    def update(self, bundle: dict[str, Any], raw: bool = True) -> None:
        self.sent += len(json.dumps(bundle))
        self.bundles.append(bundle)


class LiveDisplay(Callback):
    """Redraws the loss curves (and the histograms of ``kind``, when the run is probed)
    while training; see the module doc. ``show`` makes a display handle from a first mime
    bundle (IPython's by default; a headless one in tests and benchmarks)."""

    def __init__(self, kind: str = "activations", min_interval: float = 0.5,
                 budget: float = 0.05, show: Callable[[dict], Handle] = ipython_handle):
        self.kind, self.min_interval, self.budget, self.show = kind, min_interval, budget, show
        self.handles: dict[str, Handle] = {}
        self.redraws = 0
        self.drawing = 0.0  # wall seconds spent redrawing
        self._start = self._last = 0.0
        self._probe: Probe | None = None
        self._trainer: Trainer | None = None

    def on_train_start(self, trainer: Trainer) -> None:
        from .probe.training import ProbeStepper

        self._trainer = trainer
        self._probe = next((cb.probe for cb in trainer.callbacks
                            if isinstance(cb, ProbeStepper)), None)
        self._start = self._last = time.perf_counter()
        self.drawing = 0.0
        self.redraws = 0
        self.handles = {}

    def on_epoch_end(self, trainer: Trainer, row: dict) -> None:
        now = time.perf_counter()
        if now - self._last < self.min_interval:
            return
        if self.drawing > self.budget * (now - self._start - self.drawing):
            return
        self.redraw(Run(config=trainer.config, status="completed",
                        history=list(trainer.history)), f"epoch {row['epoch']}")

    def on_train_end(self, trainer: Trainer, run: Run) -> None:
        self.redraw(run, run.status)

    def redraw(self, run: Run, state: str) -> None:
        """Draw ``run`` (its history, and the probe's records so far) into the handles."""
        t0 = time.perf_counter()
        from . import figures

        parts = {"loss": (figures.loss(run), loss_html(run, state))}
        records = run.probes or (self._probe.records if self._probe is not None else [])
        if records:
            probed = Run(config=run.config, probes=records)
            parts["histograms"] = (figures.histograms(probed, self.kind),
                                   histograms_html(probed, self.kind))
        for name, (fig, static) in parts.items():
            bundle = {"application/vnd.plotly.v1+json": fig.to_dict(),
                      "text/html": static, "text/plain": f"fitscope live: {name}, {state}"}
            if name in self.handles:
                self.handles[name].update(bundle, raw=True)
            else:
                self.handles[name] = self.show(bundle)
        self.redraws += 1
        self._last = time.perf_counter()
        self.drawing += self._last - t0


def loss_html(run: Run, state: str) -> str:
    """The static copy of the loss figure: the curves as an inline SVG."""
    from .display import sparkline

    curves: dict[str, Sequence[float]] = {k: run.column(k) for k in ("train_loss", "val_loss")
                                          if run.history and k in run.history[0]}
    return (f"<div><b>fitscope live</b> {html.escape(run.config.name or run.run_id)}: "
            f"{html.escape(state)}</div>" + sparkline(curves, width=360, height=120))


def histograms_html(run: Run, kind: str) -> str:
    """The static copy of the histograms: counts per bin of each layer, as an inline SVG."""
    from .display import sparkline
    from .figures import HISTOGRAMS, at_step, probed_steps

    step = probed_steps(run)[-1]
    hists = at_step(run, HISTOGRAMS[kind], step)
    return (f"<div><small>{html.escape(kind)} per layer at step {step} (counts per bin)"
            f"</small></div>" + sparkline({k: v["counts"] for k, v in hists.items()},
                                          width=360, height=120))
