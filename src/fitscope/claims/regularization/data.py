"""Regularization claims 13, 15 and 16: through the data and the targets (augmentation,
label smoothing, multi-task learning)."""

from __future__ import annotations

from ...config import RunConfig
from ..base import Context, Measurement, Verdict, declared, metrics, setting, verdict_from
from ..tests import greater, versus
from .common import _bar_figure, _ci_bar, _gap_figure, _gap_values

# -- 13: data augmentation helps when images are few -------------------------------------

AUGMENT = {"rotate_deg": 15.0, "translate": 0.1, "scale": 0.1}
AUGMENT_SIZES = (25, 50, 100, 200)


# Claim 13's setting: "none" or "augmented", and the training-set size.
Augmented = setting("Augmented", "variant n", lambda variant, n: f"{variant}, n={n}")

def measure_augmentation(ctx: Context) -> Measurement:
    """An MLP on 25 to 200 digits images, with and without random rotation, shift and
    zoom; each seed draws its own training subset."""
    base = RunConfig.model_validate({
        "data": {"name": "digits", "train_size": 50}, "model": {"depth": 2, "width": 64},
        "optimizer": {"name": "adam", "lr": 0.003},
        "budget": {"epochs": ctx.epochs(60), "batch_size": 25}})
    variants = {Augmented(v, n): {"data.train_size": n, **o} for n in AUGMENT_SIZES
                for v, o in (("none", {}), ("augmented", {"regularization.augment": AUGMENT}))}
    runs = ctx.train_variants(base, variants, resplit=True)
    return Measurement(values={**_gap_values(runs), "augment": AUGMENT},
                       series={"train_sizes": list(AUGMENT_SIZES)})


def decide_augmentation(m: Measurement) -> Verdict:
    """Per training-set size, augmented test accuracy above plain (paired by seed and
    subset); the claim is about few images, so it must show at the smallest size."""
    acc, sizes = m.values["test_acc"], m.series["train_sizes"]
    helps, parts = [], []
    for n in sizes:
        c, text = versus(acc, Augmented("augmented", n), Augmented("none", n),
                         f"with {n} images:", ("with augmentation", "without"))
        if c.significant:
            helps.append(n)
        parts.append(text)
    detail = "test accuracy " + "; ".join(parts)
    if sizes[0] not in helps:
        return Verdict("does not hold", detail + ".")
    if len(helps) == len(sizes):
        return Verdict("holds", detail + f": it helps at every size up to {sizes[-1]}.")
    prefix = max(n for i, n in enumerate(sizes) if all(s in helps for s in sizes[:i + 1]))
    return Verdict("holds only when", detail + ".",
                   f"the training set has at most {prefix} images (no significant gain at "
                   f"{', '.join(str(n) for n in sizes if n not in helps)})")


AUGMENTATION = declared(
    13, measure_augmentation, decide_augmentation,
    lambda m: _gap_figure(m, "MLP on few digits images, augmentation "
                             f"{m.values['augment']}"), AUGMENT_SIZES=AUGMENT_SIZES)


# -- 15: label smoothing and noisy labels -------------------------------------------------

NOISE_RATES = (0.0, 0.2, 0.4)
SMOOTHING = 0.3


# Claim 15's setting: the share of wrong training labels, and smoothing on or off.
Labels = setting("Labels", "wrong smoothed",
                 lambda wrong, smoothed: f"{wrong:.0%} wrong{', smoothed' if smoothed else ''}")

def measure_label_smoothing(ctx: Context) -> Measurement:
    """An MLP on digits with 0%, 20% or 40% of its training labels wrong, with and without
    label smoothing."""
    base = RunConfig.model_validate({
        "data": {"name": "digits"}, "model": {"depth": 2, "width": 64},
        "optimizer": {"name": "adam", "lr": 0.003},
        "budget": {"epochs": ctx.epochs(20), "batch_size": 64}})
    variants = {Labels(r, ls > 0): {"data.label_noise": r,
                                        "regularization.label_smoothing": ls}
                for r in NOISE_RATES for ls in (0.0, SMOOTHING)}
    runs = ctx.train_variants(base, variants)
    return Measurement(values={**metrics(runs, "test_acc", "train_acc"),
                               "smoothing": SMOOTHING},
                       series={"noise_rates": list(NOISE_RATES)})


def decide_label_smoothing(m: Measurement) -> Verdict:
    """Per noise rate, smoothing's gain in test accuracy (paired by seed); and the
    interaction: the gain at the highest rate above the gain on clean labels (a paired
    test on the differences of differences). Robust to wrong labels = a gain under noise
    that is larger than on clean labels."""
    acc, rates = m.values["test_acc"], m.series["noise_rates"]
    gain = {r: [a - b for a, b in zip(acc[Labels(r, True)], acc[Labels(r, False)])]
            for r in rates}
    helps, parts = [], []
    for r in rates:
        c, text = versus(acc, Labels(r, True), Labels(r, False), f"{r:.0%} wrong labels:",
                         (f"with smoothing {m.values['smoothing']}", "without"),
                         reported=r == 0)  # clean labels: the reference, not a criterion
        if c.significant and r > 0:
            helps.append(r)
        parts.append(text)
    top = max(rates)
    inter = greater(gain[top], gain[min(rates)], paired=True,
                    label=f"gain at {top:.0%} wrong > gain on clean labels")
    detail = "test accuracy at " + "; ".join(parts) + (
        f"; interaction, smoothing's gain at {top:.0%} wrong labels against clean: "
        f"{inter.text()}")
    noisy = [r for r in rates if r > 0]
    if helps == noisy and inter.significant:
        return Verdict("holds", detail + ".")
    if helps:
        more = "" if inter.significant else "; its gain is not larger than on clean labels"
        return Verdict("holds only when", detail + ".",
                       f"{' or '.join(f'{r:.0%}' for r in helps)} of the labels are wrong"
                       f"{more}")
    return Verdict("does not hold", detail + ".")


LABEL_SMOOTHING = declared(
    15, measure_label_smoothing, decide_label_smoothing,
    lambda m: _bar_figure([_ci_bar("train accuracy (on the labels trained on)",
                                   m.values["train_acc"]),
                           _ci_bar("test accuracy", m.values["test_acc"])],
                          f"MLP on digits, label smoothing {m.values['smoothing']} against "
                          "none, by share of wrong training labels", "training labels",
                          "accuracy"), NOISE_RATES=NOISE_RATES)


# -- 16: multi-task learning helps a task with few labels --------------------------------

MAIN_FRACTION = 0.05
AUX_TASKS = ("ink_left", "ink_top")  # from the input alone: they cannot reveal the label


def measure_multitask(ctx: Context) -> Measurement:
    """A shared MLP trunk on digits whose main (10-class) labels are kept on 5% of the
    training set; two auxiliary heads learn tasks computed from the input alone (which
    half of the image holds more ink, left/right and top/bottom) on every training image.
    Being functions of the input, they give no information about the main label that the
    image does not: the shared layers learn from the pooled images, not from leaked labels
    (parity or "digit >= 5" on every image would reveal part of the hidden labels). The
    baseline has the same heads with weight 0, so both train the same network on the same
    main labels."""
    base = RunConfig.model_validate({
        "data": {"name": "digits"}, "model": {"depth": 2, "width": 64},
        "task": {"main_label_fraction": MAIN_FRACTION,
                 "aux": [{"kind": k, "weight": 0.0} for k in AUX_TASKS]},
        "optimizer": {"name": "adam", "lr": 0.003},
        "budget": {"epochs": ctx.epochs(15), "batch_size": 64}})
    variants = {name: {"task.aux": [{"kind": k, "weight": w} for k in AUX_TASKS]}
                for name, w in (("main task only", 0.0), ("with auxiliary tasks", 1.0))}
    runs = ctx.train_variants(base, variants, resplit=True)
    return Measurement(values={**_gap_values(runs), "main_label_fraction": MAIN_FRACTION,
                               "aux": list(AUX_TASKS)})


def decide_multitask(m: Measurement) -> Verdict:
    acc = m.values["test_acc"]
    c, text = versus(acc, "with auxiliary tasks", "main task only", "main-task test accuracy "
                     "is", ("with the auxiliary heads", "without"))
    detail = f"with main labels on {m.values['main_label_fraction']:.0%} of the training set, " \
        + text
    return verdict_from(detail, c.significant)


MULTITASK = declared(
    16, measure_multitask, decide_multitask,
    lambda m: _gap_figure(m, "Digits with main labels on "
                             f"{m.values['main_label_fraction']:.0%} of the training set; "
                             f"auxiliary tasks {m.values['aux']}"))


