"""Regularization claims 13, 15 and 16: through the data and the targets (augmentation,
label smoothing, multi-task learning)."""

from __future__ import annotations

from ...config import RunConfig
from ..base import Claim, Context, Measurement, Verdict, metric
from .common import (_bar_figure, _ci_bar, _gap_figure, _gap_values, _m, _paired_greater,
                     _train)

# -- 13: data augmentation helps when images are few -------------------------------------

AUGMENT = {"rotate_deg": 15.0, "translate": 0.1, "scale": 0.1}


def measure_augmentation(ctx: Context) -> Measurement:
    """An MLP on 50 digits images, with and without random rotation, shift and zoom."""
    base = RunConfig.model_validate({
        "data": {"name": "digits", "train_size": 50}, "model": {"depth": 2, "width": 64},
        "optimizer": {"name": "adam", "lr": 0.003},
        "budget": {"epochs": ctx.epochs(60), "batch_size": 25}})
    runs = _train(ctx, base, {"none": {}, "augmented": {"regularization.augment": AUGMENT}},
                  resplit=True)
    return Measurement(values={**_gap_values(runs), "augment": AUGMENT,
                               "train_size": base.data.train_size})


def decide_augmentation(m: Measurement) -> Verdict:
    acc = m.values["test_acc"]
    c = _paired_greater(acc["augmented"], acc["none"])
    detail = (f"with {m.values['train_size']} training images, test accuracy is "
              f"{_m(acc['augmented']):.3f} with augmentation against {_m(acc['none']):.3f} "
              f"without ({c.text()})")
    return Verdict("holds" if c.significant else "does not hold", detail + ".")


AUGMENTATION = Claim(
    13, "augmentation-few-images", "Data augmentation (rotating, shifting, zooming the "
    "images) improves test accuracy when training images are few.",
    "note 003, Data Augmentation", "test accuracy with augmentation > without, one-sided "
    "sign-flip permutation test over seeds and training subsets (Holm-adjusted p < 0.05)",
    measure_augmentation, decide_augmentation,
    lambda m: _gap_figure(m, f"MLP on {m.values['train_size']} digits images: augmentation "
                             f"{m.values['augment']}"),
    smallest_effect=0.5,
    protocol=('MLP 2x64 on 50 training digits, Adam, batch 25, with and without '
              'rotation/shift/zoom augmentation; each seed draws its own split, init and data '
              'order'), factors=('training-set size',))



# -- 15: label smoothing and noisy labels -------------------------------------------------

LABEL_NOISE = 0.3
SMOOTHING = 0.3


def measure_label_smoothing(ctx: Context) -> Measurement:
    """An MLP on digits with ``LABEL_NOISE`` of its training labels wrong, with and
    without label smoothing; the same pair on clean labels for reference."""
    base = RunConfig.model_validate({
        "data": {"name": "digits"}, "model": {"depth": 2, "width": 64},
        "optimizer": {"name": "adam", "lr": 0.003},
        "budget": {"epochs": ctx.epochs(20), "batch_size": 64}})
    variants = {f"{labels}{', smoothed' if ls else ''}": {
        "data.label_noise": noise, "regularization.label_smoothing": ls}
        for labels, noise in (("noisy", LABEL_NOISE), ("clean", 0.0)) for ls in (0.0, SMOOTHING)}
    runs = _train(ctx, base, variants)
    return Measurement(values={"test_acc": {k: metric(rs, "test_acc") for k, rs in runs.items()},
                               "train_acc": {k: metric(rs, "train_acc") for k, rs in runs.items()},
                               "label_noise": LABEL_NOISE, "smoothing": SMOOTHING})


def decide_label_smoothing(m: Measurement) -> Verdict:
    acc = m.values["test_acc"]
    noisy = _paired_greater(acc["noisy, smoothed"], acc["noisy"])
    clean = _paired_greater(acc["clean, smoothed"], acc["clean"])
    detail = (f"with {m.values['label_noise']:.0%} wrong training labels, test accuracy is "
              f"{_m(acc['noisy, smoothed']):.3f} with smoothing {m.values['smoothing']} against "
              f"{_m(acc['noisy']):.3f} without ({noisy.text()}); on clean labels "
              f"{_m(acc['clean, smoothed']):.3f} against {_m(acc['clean']):.3f} ({clean.text()})")
    return Verdict("holds" if noisy.significant else "does not hold", detail + ".")


LABEL_SMOOTHING = Claim(
    15, "label-smoothing-noisy-labels", "Label smoothing makes training robust to wrong "
    "labels in the training set.", "note 003, Noise Robustness (noise at the output targets)",
    "test accuracy with smoothing > without when training labels are noisy, one-sided paired "
    "sign-flip permutation test over seeds (Holm-adjusted p < 0.05); the clean-label pair is reported beside it",
    measure_label_smoothing, decide_label_smoothing,
    lambda m: _bar_figure([_ci_bar("train accuracy (on the labels trained on)",
                                   m.values["train_acc"]),
                           _ci_bar("test accuracy", m.values["test_acc"])],
                          f"MLP on digits, {m.values['label_noise']:.0%} wrong labels, label "
                          f"smoothing {m.values['smoothing']}", "training labels", "accuracy"),
    smallest_effect=0.5,
    protocol=('MLP 2x64 on digits, Adam, noisy or clean training labels, with and without label'
              ' smoothing; each seed varies init and data order'), factors=('label-noise rate',))


# -- 16: multi-task learning helps a task with few labels --------------------------------

MAIN_FRACTION = 0.05
AUX_TASKS = ("parity", "upper_half")


def measure_multitask(ctx: Context) -> Measurement:
    """A shared MLP trunk on digits whose main (10-class) labels are kept on 5% of the
    training set; auxiliary heads (parity, upper half) see every label. The baseline has
    the same heads with weight 0, so both train the same network on the same main labels."""
    base = RunConfig.model_validate({
        "data": {"name": "digits"}, "model": {"depth": 2, "width": 64},
        "task": {"main_label_fraction": MAIN_FRACTION,
                 "aux": [{"kind": k, "weight": 0.0} for k in AUX_TASKS]},
        "optimizer": {"name": "adam", "lr": 0.003},
        "budget": {"epochs": ctx.epochs(15), "batch_size": 64}})
    variants = {name: {"task.aux": [{"kind": k, "weight": w} for k in AUX_TASKS]}
                for name, w in (("main task only", 0.0), ("with auxiliary tasks", 1.0))}
    runs = _train(ctx, base, variants, resplit=True)
    return Measurement(values={**_gap_values(runs), "main_label_fraction": MAIN_FRACTION,
                               "aux": list(AUX_TASKS)})


def decide_multitask(m: Measurement) -> Verdict:
    acc = m.values["test_acc"]
    c = _paired_greater(acc["with auxiliary tasks"], acc["main task only"])
    detail = (f"with main labels on {m.values['main_label_fraction']:.0%} of the training "
              f"set, main-task test accuracy is {_m(acc['with auxiliary tasks']):.3f} with the "
              f"auxiliary heads against {_m(acc['main task only']):.3f} without ({c.text()})")
    return Verdict("holds" if c.significant else "does not hold", detail + ".")


MULTITASK = Claim(
    16, "multitask-few-labels", "Multi-task learning with shared layers helps a task with "
    "little data: the shared layers learn from the pooled data of all tasks.",
    "note 003, Multi-Task Learning",
    "main-task test accuracy with auxiliary heads (weight 1) > with the same heads at weight "
    "0, one-sided sign-flip permutation test over seeds and data splits (Holm-adjusted p < 0.05)",
    measure_multitask, decide_multitask,
    lambda m: _gap_figure(m, f"Digits with main labels on {m.values['main_label_fraction']:.0%}"
                             f" of the training set; auxiliary tasks {m.values['aux']}"),
    smallest_effect=0.5,
    protocol=('MLP 2x64 on digits, main labels on a fraction of the training set, alone or with'
              ' auxiliary heads through the shared layers; each seed draws its own split, init '
              'and data order'))


