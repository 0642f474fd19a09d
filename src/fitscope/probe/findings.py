"""Diagnosis: probe records and training history turned into findings in plain words.

``diagnose(run)`` reads a :class:`~fitscope.run.Run` (its probes, history, status);
``diagnose(model, batch=(x, y))`` runs one probed forward and backward pass on any
``nn.Module`` and reads that. Each :class:`Finding` has a code, a severity, the layer it
is about (or None), the evidence (numbers), an explanation a student understands, and the
fix the notes recommend. Probe checks look at the first and the last probed step (the
init, and where training ended); a code is reported once, at the first step it shows.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..run import Run
from .hooks import probe

# -- thresholds, each with the reason for its value -------------------------------------
VANISHING_RATIO = 1e-2  # first layer's gradient < 1/100 of the output's: it learns 100x slower
EXPLODING_RATIO = 1e2  # first layer's gradient > 100x the output's: its steps are 100x too big
ACTIVATION_GROWTH = 10.0  # a pre-activation 10x larger (RMS) than the first layer's: the
#                           signal is multiplied at every layer (n Var(W) > 1 per layer)
ACTIVATION_LIMIT = 1e3  # pre-activations of RMS 1e3: softmax and exp overflow soon after
SATURATED_FRACTION = 0.2  # a fifth of a layer's tanh/sigmoid values pass < 2% of the gradient
DEAD_FRACTION = 0.5  # half of a layer's ReLUs off for the whole batch (narrow deep ReLU
#                      nets have some dead units even at a good init: Lu et al. 2019)
SYMMETRY_TOL = 1e-3  # units differing by < 0.1% of their size are identical up to rounding
OSCILLATING_SHARE = 0.3  # the epoch loss rose in 30%+ of epochs: steps overshoot
RISE_SHARE = 0.2  # a rise counts when it undoes 20%+ of the run's progress (first - best
#                   loss); smaller rises are minibatch noise around a minimum
REBOUND_FACTOR = 1.5  # the epoch loss jumping 1.5x while undoing RISE_SHARE of the progress,
#                       or ending 2 RISE_SHARE of the progress above its best: a step threw the
#                       weights out of the minimum (epoch averages hide smaller noise)
SLOW_PROGRESS = 0.75  # the training loss kept 75%+ of its first value over the whole run
UPDATE_RATIO_LOW = 1e-3  # ||dW|| / ||W|| below 1e-3 per step (CS231n: ~1e-3 is healthy)
UPDATE_RATIO_HIGH = 0.3  # each step moves the weights by 30% of their size
UNDERFIT_MARGIN = 0.2  # train accuracy within 20% of the way from chance to perfect
OVERFIT_RISE = 0.1  # validation loss 10% above its best while the training loss still fell
MIN_EPOCHS = 4  # history checks need a few epochs to see a trend

SEVERITIES = ("info", "warning", "error")


@dataclass(frozen=True)
class Finding:
    """One thing the diagnosis found; ``severity`` is "info", "warning" or "error"."""

    code: str
    severity: str
    layer: str | None
    evidence: dict[str, Any] = field(default_factory=dict)
    explanation: str = ""
    fix: str = ""

    def __str__(self) -> str:
        where = f" [{self.layer}]" if self.layer else ""
        fix = f"\n  fix: {self.fix}" if self.fix else ""
        return f"{self.severity}: {self.code}{where}: {self.explanation}{fix}"

    def _repr_html_(self) -> str:
        from ..display import finding_html

        return finding_html(self)


class Findings(list):
    """What :func:`diagnose` returns: a list of :class:`Finding` that shows itself as a
    table in a notebook (severity, code, layer, explanation, fix)."""

    def __repr__(self) -> str:
        from ..display import findings_repr

        return findings_repr(self)

    def _repr_html_(self) -> str:
        from ..display import findings_html

        return findings_html(self)


# -- probe records ----------------------------------------------------------------------
def _at(records: list[dict], step: int) -> tuple[dict[tuple[str, str], float], list[str]]:
    """(values by (layer, quantity), pre-activation layers in forward order) at ``step``."""
    values = {(r["layer"], r["quantity"]): r["value"] for r in records
              if r["step"] == step and not isinstance(r["value"], dict)}
    order = [r["layer"] for r in records if r["step"] == step and r["quantity"] == "preact_mean"]
    return values, order


def _per_layer(values: dict, quantity: str) -> dict[str, float]:
    return {layer: v for (layer, q), v in values.items() if q == quantity}


def _gradient_flow(values: dict, order: list[str], step: int) -> list[Finding]:
    grads = [(layer, values.get((layer, "preact_grad_std"))) for layer in order]
    grads = [(layer, g) for layer, g in grads if g is not None]
    if len(grads) < 2 or not grads[-1][1] > 0:
        return []
    (first, g0), (last, gl) = grads[0], grads[-1]
    ratio = g0 / gl
    evidence = {"step": step, "first_layer": first, "last_layer": last, "ratio": ratio,
                "grad_std": dict(grads)}
    if ratio < VANISHING_RATIO:
        return [Finding(
            "vanishing_gradients", "error", first, evidence,
            f"The gradient shrinks by a factor {ratio:.1e} on its way back from the output "
            f"({last}) to the first layer ({first}), so the early layers barely learn. Each "
            "layer multiplies the backward signal by n Var(W) g'(z)^2, and here that is "
            "below 1 again and again.",
            "Initialize for the activation: Xavier (Var(W) = 1/n_in) for tanh or sigmoid, He "
            "(Var(W) = 2/n_in) for ReLU, instead of a fixed small scale such as N(0, 0.01^2); "
            "batch normalization also keeps the scale.")]
    if ratio > EXPLODING_RATIO:
        return [Finding(
            "exploding_gradients", "error", first, evidence,
            f"The gradient grows by a factor {ratio:.1e} from the output ({last}) back to the "
            f"first layer ({first}). Huge gradients throw the weights far in one step: the "
            "loss oscillates or diverges.",
            "Use Xavier or He initialization instead of large weights, lower the learning "
            "rate, and clip the gradient norm (optimizer.clip_norm).")]
    return []


def _activation_scale(values: dict, order: list[str], step: int) -> list[Finding]:
    rms = {layer: math.hypot(values[(layer, "preact_mean")], values[(layer, "preact_std")])
           for layer in order if (layer, "preact_std") in values}
    if not rms:
        return []
    first = order[0]
    worst = max(rms, key=rms.get)
    # growth is judged on hidden layers: the output's logits grow as the net grows confident
    hidden = {k: v for k, v in rms.items() if k != order[-1]} or rms
    grower = max(hidden, key=hidden.get)
    growth = hidden[grower] / rms[first] if rms[first] > 0 else math.inf
    if rms[worst] <= ACTIVATION_LIMIT:
        if not (growth > ACTIVATION_GROWTH and hidden[grower] > 0):
            return []
        worst = grower
    return [Finding(
        "exploding_activations", "error", worst,
        {"step": step, "rms": rms, "growth": growth},
        f"Pre-activations grow from RMS {rms[first]:.3g} in the first layer to {rms[worst]:.3g} "
        f"in {worst}: every layer multiplies the signal's variance by n Var(W) > 1, so it "
        "explodes with depth.",
        "Use Xavier (tanh, sigmoid) or He (ReLU) initialization so that n Var(W) keeps the "
        "variance; standardize the inputs.")]


def _units(values: dict, step: int) -> list[Finding]:
    found = []
    saturated = {k: v for k, v in _per_layer(values, "act_saturated").items()
                 if v > SATURATED_FRACTION}
    if saturated:
        worst = max(saturated, key=saturated.get)
        found.append(Finding(
            "saturated_units", "warning", worst,
            {"step": step, "saturated_fraction": saturated, "threshold": SATURATED_FRACTION},
            f"{saturated[worst]:.0%} of the outputs of {worst} sit in the flat part of tanh or "
            "sigmoid (|tanh| > 0.99, sigmoid < 0.01 or > 0.99), where the derivative is "
            "almost 0: hardly any gradient passes. Large weights push the pre-activations "
            "far from 0.",
            "Xavier initialization (Var(W) = 1/n_in) keeps tanh in its nearly linear range; "
            "standardize the inputs; a smaller learning rate or batch normalization helps."))
    dead = {k: v for k, v in _per_layer(values, "act_dead").items() if v >= DEAD_FRACTION}
    if dead:
        worst = max(dead, key=dead.get)
        found.append(Finding(
            "dead_relu", "warning", worst,
            {"step": step, "dead_fraction": dead, "threshold": DEAD_FRACTION},
            f"{dead[worst]:.0%} of the ReLU units of {worst} output 0 for every example of "
            "the batch. A dead ReLU has zero gradient, so it never comes back.",
            "Lower the learning rate, use He initialization, or a leaky ReLU; avoid large "
            "negative biases."))
    symmetric = {k: v for k, v in _per_layer(values, "unit_distance").items()
                 if v < SYMMETRY_TOL}
    if symmetric:
        layer = next(iter(symmetric))
        found.append(Finding(
            "symmetric_units", "error", layer,
            {"step": step, "unit_distance": symmetric, "threshold": SYMMETRY_TOL},
            f"The units of {layer} have identical incoming weights (distance "
            f"{symmetric[layer]:.1e}): they compute the same thing and get the same gradient, "
            "so they stay identical and the layer works like a single unit. Zero or constant "
            "initialization does this.",
            "Initialize the weights randomly (Xavier or He) to break the symmetry; biases may "
            "start at zero."))
    return found


def probe_findings(records: list[dict]) -> list[Finding]:
    """Findings from probe records: gradient flow, activation scale, saturated, dead and
    symmetric units, at the first and the last probed step."""
    steps = sorted({r["step"] for r in records})
    found: dict[str, Finding] = {}
    for step in dict.fromkeys(steps[:1] + steps[-1:]):
        values, order = _at(records, step)
        for f in (_units(values, step) + _activation_scale(values, order, step)
                  + _gradient_flow(values, order, step)):
            found.setdefault(f.code, f)
    return list(found.values())


# -- history ----------------------------------------------------------------------------
def _median_update_ratio(records: list[dict]) -> float | None:
    ratios = [r["value"] for r in records if r["quantity"] == "update_ratio"]
    return statistics.median(ratios) if ratios else None


def _learning_rate(run: Run, explained: bool) -> list[Finding]:
    losses = [row["train_loss"] for row in run.history]
    if len(losses) < MIN_EPOCHS or run.status == "diverged":
        return []
    progress = max(losses[0] - min(losses), 1e-12)
    ups = sum(b > a for a, b in zip(losses, losses[1:]))
    marked = sum(b - a > RISE_SHARE * progress for a, b in zip(losses, losses[1:]))
    jump = max(b / a for a, b in zip(losses, losses[1:]) if a > 0)
    worst_rise = max(b - a for a, b in zip(losses, losses[1:])) / progress
    ratio = _median_update_ratio(run.probes)
    evidence = {"train_loss": losses, "epochs_loss_rose": ups, "marked_rises": marked,
                "largest_jump": jump,
                "median_update_ratio": ratio, "lr": run.config.optimizer.lr}
    rebound = jump > REBOUND_FACTOR and worst_rise > RISE_SHARE
    if (marked >= max(2, OSCILLATING_SHARE * (len(losses) - 1)) or rebound
            or losses[-1] - min(losses) > 2 * RISE_SHARE * progress
            or (ratio is not None and ratio > UPDATE_RATIO_HIGH)):
        return [Finding(
            "lr_too_high", "warning", None, evidence,
            f"The training loss oscillates: it rose in {ups} of {len(losses) - 1} epochs, once "
            f"by a factor {jump:.2g}, and ends at {losses[-1]:.3g} against a best of "
            f"{min(losses):.3g}. The steps overshoot the minimum instead of settling into it.",
            "Lower the learning rate (3 to 10 times), or let a schedule decay it; gradient "
            "clipping limits the worst steps.")]
    slow = losses[-1] > SLOW_PROGRESS * losses[0] and ups <= 1
    if slow and not explained and (ratio is None or ratio < UPDATE_RATIO_LOW):
        return [Finding(
            "lr_too_low", "warning", None, evidence,
            f"The training loss falls steadily but slowly: from {losses[0]:.3g} to "
            f"{losses[-1]:.3g} in {len(losses)} epochs"
            + (f", with steps that change the weights by {ratio:.1e} of their size" if ratio
               else "") + ". Training would need far more steps.",
            "Raise the learning rate (3 to 10 times) or use an adaptive optimizer such as Adam.")]
    return []


def _fit(run: Run, oscillating: bool) -> list[Finding]:
    found = []
    n_classes = run.model_spec.get("n_classes")
    train_acc = run.metrics.get("train_acc")
    if train_acc is not None and n_classes:
        chance = 1.0 / max(n_classes, 2)
        if train_acc <= chance + UNDERFIT_MARGIN * (1.0 - chance):
            found.append(Finding(
                "underfitting", "warning", None,
                {"train_acc": train_acc, "chance": chance, "n_classes": n_classes},
                f"Training accuracy is {train_acc:.0%}, close to guessing ({chance:.0%}): the "
                "model does not even fit the data it is trained on.",
                "Fix any initialization or learning-rate finding first; then a larger model, "
                "longer training, or less regularization."))
    vals = [row["val_loss"] for row in run.history]
    if len(vals) >= MIN_EPOCHS and all(math.isfinite(v) for v in vals):
        best = min(range(len(vals)), key=vals.__getitem__)
        train = [row["train_loss"] for row in run.history]
        rising = vals[-1] > (1 + OVERFIT_RISE) * vals[best] and train[-1] < train[best]
        if rising and not oscillating:  # an oscillating run's validation loss is noise
            gap = vals[-1] - train[-1]
            found.append(Finding(
                "overfitting", "warning", None,
                {"best_epoch": run.history[best]["epoch"], "best_val_loss": vals[best],
                 "final_val_loss": vals[-1], "final_train_loss": train[-1], "gap": gap},
                f"Validation loss was lowest at epoch {run.history[best]['epoch']} "
                f"({vals[best]:.3g}) and rose to {vals[-1]:.3g} while the training loss kept "
                f"falling to {train[-1]:.3g}: the model learns the training set's noise. The "
                f"generalization gap (validation minus training loss) is {gap:.3g}.",
                "Early stopping (regularization.early_stopping), L2 or weight decay, dropout, "
                "data augmentation, or more training data."))
    return found


def run_findings(run: Run) -> list[Finding]:
    """Findings from a run: its probes, divergence, learning rate, under- and overfitting."""
    found = probe_findings(run.probes)
    if run.status == "diverged":
        found.insert(0, Finding(
            "diverged", "error", None,
            {"step": run.diverged_step, "reason": run.reason},
            f"Training diverged: {run.reason}. The loss blew up, so the weights are useless.",
            "Lower the learning rate (10 times), clip the gradient norm, and use Xavier or He "
            "initialization."))
    explained = any(f.code in ("vanishing_gradients", "symmetric_units") for f in found)
    lr = _learning_rate(run, explained)
    return found + lr + _fit(run, any(f.code == "lr_too_high" for f in lr))


# -- a user's model ---------------------------------------------------------------------
def _default_loss(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    if y.dtype in (torch.int64, torch.int32) and out.dim() == 2 and out.shape[1] > 1:
        return nn.functional.cross_entropy(out, y)
    return nn.functional.mse_loss(out.reshape(y.shape), y.to(out.dtype))


def model_findings(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor],
                   loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
                   bins: int = 30) -> tuple[list[Finding], list[dict]]:
    """(findings, records) of one probed forward and backward pass of ``model`` on
    ``batch``, in the model's current mode. Parameter gradients and buffers (batch-norm
    statistics) are restored afterwards: the model is left as it was."""
    x, y = batch
    loss_fn = loss_fn or _default_loss
    grads = {p: p.grad for p in model.parameters()}
    buffers = {name: b.detach().clone() for name, b in model.named_buffers()}
    try:
        for param in grads:
            param.grad = None
        with probe(model, every=1, bins=bins) as p:
            loss_fn(model(x), y).backward()
    finally:
        for param, g in grads.items():
            param.grad = g
        with torch.no_grad():
            for name, b in model.named_buffers():
                b.copy_(buffers[name])
    return probe_findings(p.records), p.records


def _healthy(found: list[Finding]) -> Findings:
    if any(f.severity != "info" for f in found):
        return Findings(found)
    return Findings(found + [Finding(
        "healthy", "info", None, {},
        "Nothing looks wrong: gradients and activations keep their scale from layer to layer, "
        "units differ from each other, and the losses behave.", "")])


def diagnose(target: Run | nn.Module, batch: tuple[torch.Tensor, torch.Tensor] | None = None,
             loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None
             ) -> Findings:
    """Findings for a :class:`~fitscope.run.Run`, or for a model and a batch ``(x, y)``,
    as a :class:`Findings` list (which shows itself as a table in a notebook).

    For a model, ``loss_fn(model(x), y)`` is the loss (default: cross-entropy for integer
    class targets and several outputs, else mean squared error). A healthy result is one
    ``healthy`` finding.
    """
    if isinstance(target, Run):
        return _healthy(run_findings(target))
    if isinstance(target, nn.Module):
        if batch is None:
            raise ValueError("diagnose(model) needs batch=(x, y): a batch to probe the model on")
        return _healthy(model_findings(target, batch, loss_fn)[0])
    raise TypeError(f"Argument `target` must be a Run or an nn.Module. Received: "
                    f"target={type(target).__name__}")
