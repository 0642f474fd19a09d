"""Claims from the notes on initialization (notes 000, 001, 003; deeplearning.ai's
"Initializing neural networks" and the slides' "Parameter initialization strategies")."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import plotly.graph_objects as go
import torch

from ..config import RunConfig
from ..probe.stats import unit_distance, unit_offsets
from ..probe.theory import linear_toy_network, theory_table
from ..run import Run
from .base import Context, Measurement, Verdict, declared, mean, metric, setting
from .plots import finish
from .tests import greater, mean_ci, versus

# -- shared measurement: one probed forward/backward at init ------------------------------


def init_profile(cfg: RunConfig, max_examples: int = 512) -> dict[str, list[float]]:
    """Per layer at initialization, from the probe's theory-beside-measurement table
    (:func:`fitscope.probe.theory.theory_table`, on up to ``max_examples`` training
    examples): the RMS of the hidden activations a[l] (measured and predicted) and the RMS
    of the back-propagated dL/dz[l]."""
    rows = theory_table(cfg, max_examples=max_examples)
    hidden = rows[:-1]
    return {"act_rms": [math.sqrt(r["a_moment_measured"]) for r in hidden],
            "act_rms_theory": [math.sqrt(r["a_moment"]) for r in hidden],
            "grad_rms": [math.sqrt(r["grad_z_var_measured"]) for r in rows]}


def layer_unit_distance(w: torch.Tensor) -> float:
    """The probe's relative distance between a layer's units (0: identical units)."""
    w = w.detach()
    return unit_distance(float(unit_offsets(w).norm()), float(w.float().norm()), w.shape[0])


def _layer_figure(series: dict[str, list[float]], title: str, ytitle: str,
                  log: bool = True) -> go.Figure:
    fig = go.Figure()
    for name, ys in series.items():
        fig.add_scatter(x=list(range(1, len(ys) + 1)), y=ys, mode="lines+markers", name=name)
    fig.update_layout(title=title, xaxis_title="layer", yaxis_title=ytitle)
    if log:
        fig.update_yaxes(type="log")
    return fig


# -- 3: symmetry of constant init --------------------------------------------------------

SYMMETRY_BASE = RunConfig.model_validate({
    "data": {"name": "spiral", "n_samples": 600, "noise": 0.15},
    "model": {"depth": 2, "width": 16, "activation": "tanh"},
    "optimizer": {"name": "adam", "lr": 0.02}, "budget": {"epochs": 30, "batch_size": 64}})
SYMMETRIC_TOL = 1e-4  # relative distance between units below which they are "identical"


def measure_symmetry(ctx: Context) -> Measurement:
    inits: dict[str, dict[str, Any]] = {
        "zeros": {"init.scheme": "zeros"},
        "constant 0.5": {"init.scheme": "constant", "init.value": 0.5},
        "xavier": {"init.scheme": "xavier_normal"}}
    base = SYMMETRY_BASE.with_overrides({"budget.epochs": ctx.epochs(30)})
    runs = ctx.train_variants(base, inits)
    return Measurement(
        values={"unit_distance": {k: [max(layer_unit_distance(w) for w in _hidden_weights(r))
                                      for r in rs] for k, rs in runs.items()},
                "test_acc": {k: metric(rs, "test_acc") for k, rs in runs.items()}},
        series={k: [layer_unit_distance(w) for w in _hidden_weights(rs[0])]
                for k, rs in runs.items()})


def _hidden_weights(run: Run) -> list[torch.Tensor]:
    """The weight matrix of each hidden layer of the run's MLP, input side first."""
    hidden = run.trained_model().get_submodule("hidden")
    return [layer.get_parameter("linear.weight") for layer in hidden.children()]


def decide_symmetry(m: Measurement) -> Verdict:
    dist, acc = m.values["unit_distance"], m.values["test_acc"]
    constant = ("zeros", "constant 0.5")
    symmetric = all(max(dist[k]) < SYMMETRIC_TOL for k in constant)
    said = [versus(acc, "xavier", k, "test accuracy", paired=False) for k in constant]
    worse = [c for c, _ in said]
    detail = (f"largest relative distance between hidden units after training: zeros "
              f"{max(dist['zeros']):.2g}, constant {max(dist['constant 0.5']):.2g}, xavier "
              f"{min(dist['xavier']):.2g} (smallest); " + "; ".join(text for _, text in said))
    if symmetric and all(c.significant for c in worse):
        return Verdict("holds", detail + ".")
    if symmetric:
        return Verdict("holds only when", detail + ".",
                       "judged by the units' symmetry: the accuracy loss was not significant")
    return Verdict("does not hold", detail + ": the units did not stay identical.")


def figure_symmetry(m: Measurement) -> go.Figure:
    fig = go.Figure([go.Bar(name=k, x=[f"hidden {i + 1}" for i in range(len(ys))], y=ys)
                     for k, ys in m.series.items()])
    fig.update_layout(barmode="group", title="Relative distance between the units of each "
                      "hidden layer after training (0: identical units)",
                      yaxis_title="RMS distance / RMS norm")
    return fig


SYMMETRY = declared(
    3, measure_symmetry, decide_symmetry, figure_symmetry, SYMMETRIC_TOL=SYMMETRIC_TOL)


# -- 4: the linear toy network -------------------------------------------------------------

TOY_DEPTHS = tuple(range(2, 11))


def measure_toy(ctx: Context) -> Measurement:
    """||y_hat|| / ||x|| of the notes' linear network (weights scale * I) for L layers."""
    x = torch.randn(256, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    values: dict[str, dict[float, float]] = {"max_rel_error": {}}
    curves: dict[tuple[str, Any], list[float]] = {}
    for scale in (1.5, 0.5):
        gains = []
        for depth in TOY_DEPTHS:
            net = linear_toy_network(depth, scale).double()
            with torch.no_grad():
                gains.append(float(net(x).norm() / x.norm()))
        values["max_rel_error"][scale] = max(abs(g / scale ** (d - 1) - 1)
                                             for g, d in zip(gains, TOY_DEPTHS))
        curves[("measured", scale)] = gains
        curves[("theory", scale)] = [scale ** (d - 1) for d in TOY_DEPTHS]
    return Measurement(values=values, series={"curves": curves})


def decide_toy(m: Measurement) -> Verdict:
    errs = m.values["max_rel_error"]
    detail = (f"largest relative deviation of ||y_hat|| / ||x|| from scale^(L-1) over "
              f"L = 2..10: {errs[1.5]:.1e} for 1.5 I, {errs[0.5]:.1e} for 0.5 I")
    if max(errs.values()) < 1e-9:
        return Verdict("holds", detail + " (float64).")
    return Verdict("does not hold", detail + ".")


def figure_toy(m: Measurement) -> go.Figure:
    fig = go.Figure()
    for (kind, scale), ys in m.series["curves"].items():
        measured = kind == "measured"
        fig.add_scatter(x=list(TOY_DEPTHS), y=ys, mode="lines+markers",
                        name=f"measured {scale} I" if measured else f"{scale}^(L-1)",
                        line={"dash": None if measured else "dot"})
    fig.update_layout(title="Output scale of the deep linear network against L",
                      xaxis_title="L (layers)", yaxis_title="||y_hat|| / ||x|| (log scale)")
    fig.update_yaxes(type="log")
    return fig


TOY = declared(4, measure_toy, decide_toy, figure_toy)


# -- 5: too small learns slowly, too large explodes ---------------------------------------

FAILS_BELOW = 0.7  # training accuracy under which a network "fails" (chance is 0.5)

NINE_LAYER = RunConfig.model_validate({
    "data": {"name": "moons", "n_samples": 600, "noise": 0.15},
    "model": {"depth": 8, "width": 16, "activation": "relu"},
    "optimizer": {"name": "momentum", "lr": 0.02}, "budget": {"epochs": 20, "batch_size": 64}})
SMALL_STDS = (0.01, 0.1, 0.2, 0.25)  # too small: He's std is sqrt(2/16) = 0.35 in the hidden layers
VANISHING = 0.1  # first-layer gradient RMS at init under 1/10 of He's: "vanishing"


# One init of claim 5: "too small" N(0, std^2), "He" (std None), or "too large" N(0, 1).
Init = setting("Init", "kind std", lambda kind, std: kind if std is None else
               f"{kind} N(0, 1)" if std == 1 else f"{kind} N(0, {std:g}^2)")

HE, LARGE = Init("He", None), Init("too large", 1.0)
SCALES: dict[tuple, dict[str, Any]] = {
    **{Init("too small", s): {"init.scheme": "normal", "init.std": s} for s in SMALL_STDS},
    HE: {"init.scheme": "kaiming_normal"},
    LARGE: {"init.scheme": "normal", "init.std": 1.0}}


def epochs_to_half(run) -> int:
    """The first epoch whose training loss is under half the chance loss ln 2 (two
    classes); the number of epochs + 1 if none is (or the run diverged)."""
    budget = run.config.budget.epochs
    if run.status == "diverged":
        return budget + 1
    return next((row["epoch"] for row in run.history if row["train_loss"] < math.log(2) / 2),
                budget + 1)


def measure_scale(ctx: Context) -> Measurement:
    base = NINE_LAYER.with_overrides({"budget.epochs": ctx.epochs(20)})
    values: dict[str, dict[tuple, Any]] = {k: {} for k in (
        "final_train_loss", "train_acc", "epochs_to_half", "diverged", "first_layer_grad_rms",
        "last_layer_act_rms")}
    series: dict[str, Any] = {}
    for init, rs in ctx.train_variants(base, SCALES).items():
        values["final_train_loss"][init] = [
            r.history[-1]["train_loss"] if r.status != "diverged" else math.inf for r in rs]
        values["train_acc"][init] = metric(rs, "train_acc")
        values["epochs_to_half"][init] = [float(epochs_to_half(r)) for r in rs]
        values["diverged"][init] = sum(r.status == "diverged" for r in rs)
        prof = init_profile(base.with_overrides(SCALES[init]))
        values["first_layer_grad_rms"][init] = prof["grad_rms"][0]
        values["last_layer_act_rms"][init] = prof["act_rms"][-1]
        series[str(init)] = [row["train_loss"] for row in rs[0].history]
    return Measurement(values=values, series=series, notes=[
        (f"too small: N(0, s^2) for s in {SMALL_STDS}; 'stuck' is claim 8's 'fails': mean "
        f"training accuracy under {FAILS_BELOW} after {base.budget.epochs} epochs (chance is "
        "0.5); 'slow' learns past it but takes more epochs than He to bring the training "
        "loss under ln(2) / 2 (never: the budget + 1).")])


def decide_scale(m: Measurement) -> Verdict:
    """Per too-small std: vanishing (first-layer gradient at init under :data:`VANISHING`
    of He's), stuck (mean training accuracy under :data:`FAILS_BELOW`) or slow (learns past
    it, but takes more epochs than He to halve the chance loss, by a one-sided test); too
    large: a diverged run or last-layer activations 100x He's at init. The verdict maps
    the too-small stds."""
    v = m.values
    grad, acc, epochs = v["first_layer_grad_rms"], v["train_acc"], v["epochs_to_half"]
    diverged, act = v["diverged"], v["last_layer_act_rms"]
    stds = sorted(init.std for init in v["final_train_loss"] if init.kind == "too small")
    vanishing, stuck, slow, parts = [], [], [], []
    for s in stds:
        small = Init("too small", s)
        c = greater(epochs[small], epochs[HE], label=f"std {s:g}: epochs to halve the loss > He's")
        mean_acc = mean(acc[small])
        if grad[small] < VANISHING * grad[HE]:
            vanishing.append(s)
        if mean_acc < FAILS_BELOW:
            stuck.append(s)
        elif c.significant:
            slow.append(s)
        parts.append(f"std {s:g}: first-layer gradient RMS at init {grad[small]:.2g}, training "
                     f"accuracy {mean_acc:.3f}, epochs to halve the loss "
                     f"{mean(epochs[small]):.1f} ({c.text()})")
    exploding = diverged[LARGE] > 0 or act[LARGE] > 100 * act[HE]
    detail = (f"He: first-layer gradient RMS {grad[HE]:.2g}, training accuracy "
              f"{mean(acc[HE]):.3f}, epochs to halve the loss {mean(epochs[HE]):.1f}; "
              + "; ".join(parts) + f"; too large: {diverged[LARGE]} runs diverged, last-layer "
              f"activation RMS at init {act[LARGE]:.3g} vs He {act[HE]:.3g}")
    slow_vanishing = [s for s in slow if s in vanishing]
    if slow_vanishing == stds and exploding:
        return Verdict("holds", detail + ".")
    if slow_vanishing or (exploding and (slow or stuck)):
        bits = []
        if slow_vanishing:
            bits.append(f"the init std is {', '.join(f'{s:g}' for s in slow_vanishing)} "
                        "(vanishing gradients, learns slowly)")
        if stuck:
            bits.append(f"at std {', '.join(f'{s:g}' for s in stuck)} it does not learn at "
                        f"all in this budget (training accuracy under {FAILS_BELOW})")
        rest = [s for s in stds if s not in slow_vanishing and s not in stuck]
        if rest:
            bits.append(f"at std {', '.join(f'{s:g}' for s in rest)} it is not shown slower "
                        "with vanishing gradients")
        if not exploding:
            bits.append("too large did not explode")
        return Verdict("holds only when", detail + ".", "; ".join(bits))
    return Verdict("does not hold", detail + ".")


def figure_scale(m: Measurement) -> go.Figure:
    fig = _layer_figure(m.series, "Training loss per epoch, nine-layer ReLU net, SGD with "
                        "momentum (seed 0)", "training loss", log=True)
    fig.update_xaxes(title="epoch")
    return fig


SCALE = declared(
    5, measure_scale, decide_scale, figure_scale, SMALL_STDS=SMALL_STDS, VANISHING=VANISHING,
    FAILS_BELOW=FAILS_BELOW)


# -- 6: N(0,1) explodes, 0.01 N(0,1) collapses --------------------------------------------

def measure_matmul(ctx: Context) -> Measurement:
    """The slides' experiment: repeated multiplication by N(0, s^2) matrices, width 256."""
    width, depth = 256, 10
    values: dict[str, dict[str, list[float]]] = {"log10_growth_per_layer": {}}
    series = {}
    for label, std in (("N(0, 1)", 1.0), ("0.01 N(0, 1)", 0.01), ("xavier 1/sqrt(n)",
                                                                  1 / math.sqrt(width))):
        per_seed = []
        for seed in range(ctx.seeds):
            g = torch.Generator().manual_seed(seed)
            a = torch.randn(1000, width, generator=g, dtype=torch.float64)
            stds = []
            for _ in range(depth):
                a = a @ (torch.randn(width, width, generator=g, dtype=torch.float64) * std)
                stds.append(float(a.std()))
            per_seed.append(stds)
        growth = [math.log10(s[-1]) / depth for s in per_seed]  # log10 factor per layer
        values["log10_growth_per_layer"][label] = growth
        series[label] = np.mean(per_seed, axis=0).tolist()
    return Measurement(values=values, series=series)


def decide_matmul(m: Measurement) -> Verdict:
    growth = m.values["log10_growth_per_layer"]
    up, down = growth["N(0, 1)"], growth["0.01 N(0, 1)"]
    explodes, collapses = min(up) > 0.5, max(down) < -0.5
    detail = (f"activation std changes by 10^{mean(up):.2f} per layer with N(0, 1) and by "
              f"10^{mean(down):.2f} with 0.01 N(0, 1) (width 256, 10 layers)")
    if explodes and collapses:
        return Verdict("holds", detail + ".")
    return Verdict("does not hold", detail + ".")


MATMUL = declared(
    6, measure_matmul, decide_matmul,
    lambda m: _layer_figure(m.series, "Std of the activations after each multiplication "
                                      "(width 256)", "std (log scale)"))


# -- 7: Xavier keeps tanh variance ----------------------------------------------------------

def _deep_tanh(depth: int, scheme: str, mode: str = "in") -> RunConfig:
    return RunConfig.model_validate({
        "data": {"name": "mnist1d", "n_samples": 1000},
        "model": {"depth": depth, "width": 256, "activation": "tanh"},
        "init": {"scheme": scheme, "xavier_mode": mode}})


TANH_DEPTH = 20
KEEP_FACTOR = 2.0   # a variance is "kept" while within this factor of its start


def kept_layers(act_rms: list[float], grad_rms: list[float]) -> int:
    """How many tanh layers keep both variances within a factor 2 of their start: the
    largest L such that for every l <= L the activations' Var(a[l]) / Var(a[1]) and the
    back-propagated gradient's Var(dL/dz) l - 1 layers below the top over its value at
    the top are in [1/2, 2]. Read from one network of depth D: the activations of its
    first L layers are those of an L-layer network, and the gradient is followed down
    from the top hidden layer."""
    top = len(act_rms)  # hidden layers; grad_rms has one more entry (the output layer)
    grads = grad_rms[:top][::-1]  # top hidden layer first
    kept = 0
    for depth in range(1, top + 1):
        a = act_rms[depth - 1] ** 2 / act_rms[0] ** 2
        g = grads[depth - 1] ** 2 / grads[0] ** 2
        if not (1 / KEEP_FACTOR <= a <= KEEP_FACTOR and 1 / KEEP_FACTOR <= g <= KEEP_FACTOR):
            break
        kept = depth
    return kept


TANH_INITS = ("xavier", "N(0, 1)", "N(0, 0.01^2)")


def measure_xavier_tanh(ctx: Context) -> Measurement:
    cfgs = {"xavier": _deep_tanh(TANH_DEPTH, "xavier_normal"),
            "N(0, 1)": _deep_tanh(TANH_DEPTH, "normal").with_overrides({"init.std": 1.0}),
            "N(0, 0.01^2)": _deep_tanh(TANH_DEPTH, "normal")}
    values: dict[str, dict[str, list[float]]] = {
        "kept_layers": {}, "act_var_ratio_10": {}, "grad_var_ratio_10": {}}
    curves: dict[tuple[str, Any], list[float]] = {}
    for label, cfg in cfgs.items():
        profiles = [init_profile(seeded) for seeded in ctx.seeded(cfg)]
        values["kept_layers"][label] = [float(kept_layers(p["act_rms"], p["grad_rms"]))
                                        for p in profiles]
        values["act_var_ratio_10"][label] = [p["act_rms"][9] ** 2 / p["act_rms"][0] ** 2
                                             for p in profiles]
        values["grad_var_ratio_10"][label] = [
            p["grad_rms"][TANH_DEPTH - 10] ** 2 / p["grad_rms"][TANH_DEPTH - 1] ** 2
            for p in profiles]
        curves[("activations", label)] = np.mean([p["act_rms"] for p in profiles],
                                                 axis=0).tolist()
        curves[("gradients", label)] = np.mean([p["grad_rms"][:TANH_DEPTH] for p in profiles],
                                               axis=0).tolist()
        if label == "xavier":
            curves[("activations", "xavier, theory")] = profiles[0]["act_rms_theory"]
    return Measurement(values=values, series={"curves": curves},
                       notes=[(f"RMS of tanh activations and of the back-propagated dL/dz per "
                              f"layer at init on MNIST-1D, {TANH_DEPTH} layers of width 256, "
                              "Xavier with variance 1/n_in (the notes' form); the theory "
                              "line propagates E[a^2] through each layer with Gaussian "
                              "pre-activations (fitscope.probe.theory). Ratios over 10 "
                              "layers: activations of layer 10 over layer 1, gradient 10 "
                              "layers below the top over the top.")])


def decide_xavier_tanh(m: Measurement) -> Verdict:
    """Xavier keeps both variances (within a factor 2) through more layers than either
    badly scaled init, on every seed; the verdict gives the depth it keeps them to."""
    v = m.values
    kept = {k: min(v["kept_layers"][k]) for k in TANH_INITS}
    depth = len(m.series.get("curves", {}).get(("activations", "xavier"), [])) or TANH_DEPTH
    detail = (f"layers through which activations and gradients both stay within a factor "
              f"{KEEP_FACTOR:g} (fewest over seeds): Xavier {kept['xavier']:.0f}, N(0, 1) "
              f"{kept['N(0, 1)']:.0f}, N(0, 0.01^2) {kept['N(0, 0.01^2)']:.0f}; over 10 "
              "layers the activation variance changes by "
              + ", ".join(f"{k} x{mean(v['act_var_ratio_10'][k]):.2g}" for k in TANH_INITS)
              + " and the gradient variance by "
              + ", ".join(f"{k} x{mean(v['grad_var_ratio_10'][k]):.2g}" for k in TANH_INITS))
    if kept["xavier"] <= max(kept["N(0, 1)"], kept["N(0, 0.01^2)"]):
        return Verdict("does not hold", detail + ": Xavier keeps them no deeper than a badly "
                       "scaled init.")
    if kept["xavier"] >= depth:
        return Verdict("holds", detail + ".")
    return Verdict("holds only when", detail + ".",
                   f"the network has at most {kept['xavier']:.0f} tanh layers: deeper, "
                   f"Xavier's variances drift past a factor {KEEP_FACTOR:g} (slowly, where "
                   "N(0, 1)'s gradient and N(0, 0.01^2)'s activations change exponentially)")


def figure_xavier_tanh(m: Measurement) -> go.Figure:
    from plotly.subplots import make_subplots

    fig = make_subplots(1, 2, subplot_titles=("RMS of activations a[l]",
                                              "RMS of back-propagated dL/dz[l]"))
    for (panel, label), ys in m.series["curves"].items():
        fig.add_scatter(x=list(range(1, len(ys) + 1)), y=ys, mode="lines+markers",
                        name=f"{panel} {label}", row=1, col=1 if panel == "activations" else 2)
    fig.update_xaxes(title="layer")
    fig.update_yaxes(type="log", title="RMS (log scale)")
    fig.update_layout(title=f"tanh network of {TANH_DEPTH} layers at init (width 256)")
    return fig


XAVIER_TANH = declared(
    7, measure_xavier_tanh, decide_xavier_tanh, figure_xavier_tanh, KEEP_FACTOR=KEEP_FACTOR,
    TANH_DEPTH=TANH_DEPTH)


# -- 8: Xavier fails deep ReLU, He trains ---------------------------------------------------

DEEP_RELU = RunConfig.model_validate({
    "data": {"name": "moons", "n_samples": 600, "noise": 0.15},
    "model": {"depth": 20, "width": 32, "activation": "relu"},
    "init": {"xavier_mode": "avg"},
    "optimizer": {"name": "momentum", "lr": 0.01}, "budget": {"epochs": 15, "batch_size": 64}})


RELU_DEPTHS = (10, 20, 30, 40)
RELU_SCHEMES = ("xavier_normal", "kaiming_normal")


def measure_relu_depth(ctx: Context) -> Measurement:
    base = DEEP_RELU.with_overrides({"budget.epochs": ctx.epochs(15)})
    runs = ctx.train_variants(base, {(d, s): {"model.depth": d, "init.scheme": s}
                                     for d in RELU_DEPTHS for s in RELU_SCHEMES})
    values: dict[str, dict[str, dict[int, Any]]] = {
        k: {s: {} for s in RELU_SCHEMES}
        for k in ("train_acc", "final_train_loss", "act_var_ratio_last_first")}
    series: dict[str, Any] = {"depths": list(RELU_DEPTHS)}
    for (d, s), rs in runs.items():
        values["train_acc"][s][d] = metric(rs, "train_acc")
        values["final_train_loss"][s][d] = metric(rs, "train_loss")
        prof = init_profile(base.with_overrides({"model.depth": d, "init.scheme": s}))
        values["act_var_ratio_last_first"][s][d] = \
            prof["act_rms"][-1] ** 2 / prof["act_rms"][0] ** 2
        if d == RELU_DEPTHS[-1]:
            series[s] = prof["act_rms"]
    return Measurement(values=values, series=series, notes=[
        (f"ReLU MLPs of width {base.model.width} on moons, SGD with momentum, "
        f"{base.budget.epochs} epochs, at depths {RELU_DEPTHS}; Xavier with variance "
        "2 / (n_in + n_out). A network fails when its mean training accuracy stays under "
        f"{FAILS_BELOW}.")])


def decide_relu_depth(m: Measurement) -> Verdict:
    """Per depth: Xavier trains worse (its final training loss above He's, paired by seed)
    and fails (mean training accuracy under 0.7). The verdict maps the depths."""
    acc_of, loss = m.values["train_acc"], m.values["final_train_loss"]
    ratio = m.values["act_var_ratio_last_first"]["xavier_normal"]
    xavier, he = loss["xavier_normal"], loss["kaiming_normal"]
    depths = sorted(xavier)
    fails, worse, parts = [], [], []
    for d in depths:
        c = greater(xavier[d], he[d], paired=True,
                    label=f"depth {d}: Xavier's final training loss > He's")
        acc = mean(acc_of["xavier_normal"][d])
        if c.significant:
            worse.append(d)
            if acc < FAILS_BELOW:
                fails.append(d)
        parts.append(f"depth {d}: training accuracy Xavier {acc:.3f} vs He "
                     f"{mean(acc_of['kaiming_normal'][d]):.3f}, activation variance last/first "
                     f"at init Xavier {ratio[d]:.2g} ({c.text()})")
    detail = "; ".join(parts)
    if fails == depths:
        return Verdict("holds", detail + ".")
    if fails:
        only_worse = [d for d in worse if d not in fails]
        rest = (f"; at depth {', '.join(map(str, only_worse))} Xavier trains, only worse"
                if only_worse else "")
        return Verdict("holds only when", detail + ".",
                       f"depth >= {min(fails)} (Xavier fails at depth "
                       f"{', '.join(map(str, fails))}){rest}")
    if worse:
        return Verdict("holds only when", detail + ".",
                       f"'fails' means trains worse (at depth {', '.join(map(str, worse))}): "
                       f"Xavier still learned above {FAILS_BELOW:.0%} at every depth")
    return Verdict("does not hold", detail + ".")


def figure_relu_depth(m: Measurement) -> go.Figure:
    from plotly.subplots import make_subplots

    depths = m.series["depths"]
    fig = make_subplots(1, 2, subplot_titles=(
        "training accuracy against depth (mean, 95% CI over seeds)",
        f"RMS of activations per layer at init, depth {depths[-1]}"))
    for s, name in (("xavier_normal", "Xavier"), ("kaiming_normal", "He")):
        est = [mean_ci(m.values["train_acc"][s][d]) for d in depths]
        fig.add_scatter(x=depths, y=[e.mean for e in est], mode="lines+markers", name=name,
                        error_y={"type": "data", "array": [e.half_width for e in est]},
                        row=1, col=1)
        ys = m.series[s]
        fig.add_scatter(x=list(range(1, len(ys) + 1)), y=ys, mode="lines", name=f"{name}, init",
                        row=1, col=2)
    return finish(fig, "Xavier against He on deep ReLU networks",
                  x=["depth (hidden layers)", "layer"], y=[None, (None, "log")])


RELU_DEPTH = declared(
    8, measure_relu_depth, decide_relu_depth, figure_relu_depth, RELU_DEPTHS=RELU_DEPTHS,
    FAILS_BELOW=FAILS_BELOW)

CLAIMS = [SYMMETRY, TOY, SCALE, MATMUL, XAVIER_TANH, RELU_DEPTH]
