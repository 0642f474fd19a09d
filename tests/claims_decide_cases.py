"""Fixed measurements, built by hand, for every claim whose ``decide`` states an arm
against another through :func:`fitscope.claims.tests.versus`, and what each decided with
the code before that change (commit 97a1b2d): the verdict, its condition, every test's
label and Holm-adjusted p, and the numbers its reason printed. The numbers are irregular
per seed, with a diverged seed (NaN) in some arms, so a changed mean, pairing or test
shows."""

import math

import numpy as np

from fitscope.claims import REGISTRY, further
from fitscope.claims.base import Measurement
from fitscope.claims.fashion import FASHION
from fitscope.claims.optimization import lr_decay, minibatch, momentum, surfaces
from fitscope.claims.regularization import data, penalties

SEEDS = 8
NAN = math.nan
_draws = iter(range(10_000))


def s(mu: float, sd: float = 0.02, diverged: int | None = None) -> list[float]:
    """:data:`SEEDS` values around ``mu`` (a fresh seeded draw each call), NaN at seed
    ``diverged``."""
    xs = (mu + sd * np.random.default_rng(next(_draws)).standard_normal(SEEDS)).tolist()
    if diverged is not None:
        xs[diverged] = NAN
    return xs


def _gap(reg: str, acc_gap: float, loss_gap: float) -> dict:
    return {"gap": {"none": s(0.2), reg: s(acc_gap)},
            "loss_gap": {"none": s(1.5, 0.3), reg: s(loss_gap, 0.3, diverged=2)},
            "train_acc": {"none": s(0.99), reg: s(0.98)},
            "test_acc": {"none": s(0.8), reg: s(0.82)}}


def _cases() -> dict[str, tuple[int | str, Measurement]]:
    """Case name: (claim number, or "fashion"; its measurement)."""
    m = Measurement
    out: dict[str, tuple[int | str, Measurement]] = {}
    out["1 one-nn"] = 1, m(values={"train_error_1nn": [0.0] * SEEDS,
                                   "test_error_1nn": s(0.2, 0.03),
                                   "gap": {1: s(0.2, 0.03), 3: s(0.15, 0.03),
                                           9: s(0.19, 0.03)}})
    out["3 symmetry"] = 3, m(values={
        "unit_distance": {"zeros": [0.0] * SEEDS, "constant 0.5": [1e-7] * SEEDS,
                          "xavier": s(1.2)},
        "test_acc": {"xavier": s(0.95), "zeros": s(0.5), "constant 0.5": s(0.94, 0.05)}})
    none, l1, l2 = penalties.NO_PENALTY, penalties.Penalty("L1", 1.0), \
        penalties.Penalty("L2", 2.0)
    out["10 sparsity"] = 10, m(values={
        "pair": [l1, l2], "near_zero": {none: s(0.1), l1: s(0.4, 0.1), l2: s(0.12)},
        "norm": {none: s(2.0, 0.1), l1: s(1.0), l2: s(1.95, 0.1, diverged=1)},
        "train_loss": {none: s(0.1), l1: s(0.15), l2: s(0.16)}, "threshold": 0.01})
    out["11 activation-l1"] = 11, m(values={
        "zero_share": {"activation L1": s(0.6, 0.05), "none": s(0.3, 0.05)},
        "test_acc": {"activation L1": s(0.95), "none": s(0.96)}, "lambda": 0.003})
    out["12 l2-gap"] = 12, m(values={"size": {30: _gap("L2", 0.1, 0.4),
                                              60: _gap("L2", 0.19, 1.45)}})
    aug = {data.Augmented(v, n): s(mu) for n, mu in ((25, 0.6), (50, 0.7), (100, 0.8),
                                                     (200, 0.85))
           for v, mu in (("none", mu), ("augmented", mu + (0.05 if n < 100 else 0.0)))}
    out["13 augmentation"] = 13, m(values={"test_acc": aug},
                                   series={"train_sizes": [25, 50, 100, 200]})
    out["14 flatness"] = 14, m(values={
        "perturbation": {"none": s(0.3, 0.05), "weight noise": s(0.2, 0.05)},
        "hessian": {"none": s(40.0, 5.0), "weight noise": s(38.0, 5.0, diverged=0)},
        "train_loss": {"none": s(0.05), "weight noise": s(0.06)}, "alpha": 0.2})
    lab = data.Labels
    out["15 label-smoothing"] = 15, m(values={
        "test_acc": {lab(0.0, False): s(0.95), lab(0.0, True): s(0.95),
                     lab(0.2, False): s(0.85), lab(0.2, True): s(0.9),
                     lab(0.4, False): s(0.7), lab(0.4, True): s(0.8)}, "smoothing": 0.3},
        series={"noise_rates": [0.0, 0.2, 0.4]})
    out["16 multitask"] = 16, m(values={
        "test_acc": {"with auxiliary tasks": s(0.6, 0.05), "main task only": s(0.55, 0.05)},
        "main_label_fraction": 0.05})
    out["19 dropout"] = 19, m(values={
        "size": {30: _gap("dropout", 0.12, 1.4), 60: _gap("dropout", 0.1, 0.5)},
        "p": 0.5, "checked_size": 60, "layer_z2": [0.9, 1.1],
        "layer_relative": [0.005, 0.004], "network_z2": [1.2, 0.8],
        "network_relative": [0.01, 0.02]})
    out["20 fgsm"] = 20, m(values={
        "epsilon": 0.2, "pixel_range": 2.66,
        "clean_acc": {"standard": s(0.95), "adversarial": s(0.94)},
        "fgsm_acc": {"standard": s(0.3, 0.05), "adversarial": s(0.6, 0.05)},
        "flip_fgsm": {"standard": s(0.6, 0.05), "adversarial": s(0.3)},
        "flip_random": {"standard": s(0.02, 0.01), "adversarial": s(0.01, 0.01)}})
    batch, settings = minibatch.Batch, []
    acc22, gap22 = {}, {}
    for i, p in enumerate(minibatch.BATCH_PROTOCOLS):
        for b in minibatch.BATCH_BUDGETS:
            settings.append([p, b])
            acc22 |= {batch(p, b, 8): s(0.9 + 0.03 * (i - 1)), batch(p, b, 128): s(0.9)}
            gap22 |= {batch(p, b, 8): s(0.05), batch(p, b, 128): s(0.1)}
    out["22 batch-regularizer"] = 22, m(values={"test_acc": acc22, "gap": gap22},
                                        series={"settings": settings})
    on, off = surfaces.ON_RIDGE, surfaces.OFF_RIDGE
    out["23 saddle"] = 23, m(values={"dwell": {on: s(40.0, 5.0), off: s(2.0, 1.0)},
                                     "approach_step": {on: s(0.07, 0.005)},
                                     "near_step": {on: s(0.069, 0.005)}})
    c = surfaces.CLIPPED
    out["24 cliff"] = 24, m(values={"largest_step": {"plain": s(20.0, 1.0), c: s(0.1, 0.01)},
                                    "largest_rise": {"plain": s(140.0, 10.0),
                                                     c: s(0.5, 0.2)}})
    sch = lr_decay.Schedule
    out["25 decay"] = 25, m(values={"final_train_loss": {
        sch(16, "constant"): s(0.28), sch(16, "linear"): s(0.215),
        sch(0, "constant"): s(0.19, diverged=3), sch(0, "linear"): s(0.187)}})
    out["26 momentum"] = 26, m(values={
        "ravine_steps": {"sgd": s(440.0, 5.0), "momentum": s(85.0, 5.0)},
        "digits_train_loss": {"sgd": s(0.3, 0.05), "momentum": s(0.29, 0.05)}})
    out["27 adaptive"] = 27, m(values={
        "adagrad_end_over_start": s(0.3), "rmsprop_min_over_warm": s(1.0),
        "rise_share": {"adagrad": s(0.001, 0.0005), "rmsprop": s(0.85)},
        "final_train_loss": {"adagrad": s(0.5, 0.05), "rmsprop": s(0.01, 0.002)},
        "adam_first_ratio": s(3.16), "adam_peak_ratio": s(6.57),
        "adam_last_ratio": s(3.2), "adam_formula_error": [2e-5] * SEEDS})
    rates = (0.03, 0.1, 0.3)
    out["28 batch-norm"] = 28, m(values={
        "largest_lr": {"plain": s(0.3, 0.05), "bn": s(3.0, 0.5)},
        "init_scales_trained": {"plain": {lr: s(1.0, 0.5) for lr in rates},
                                "bn": {lr: s(4.0 - 10 * lr, 0.5) for lr in rates}},
        "init_range": {"plain": {lr: s(1.5, 0.3) for lr in rates},
                       "bn": {lr: s(0.7, 0.1) for lr in rates}}})
    data29 = further.Data
    out["29 more-data"] = 29, m(values={"test_acc": {
        data29(60, "none"): s(0.8), data29(60, "L2"): s(0.85), data29(60, "dropout"): s(0.9),
        data29(240, "none"): s(0.88)}})
    out["30 bn-speed"] = 30, m(values={
        "early_train_loss": {"plain": s(1.0, 0.1), "batch norm": s(0.5, 0.1),
                             "dropout 0.2": s(1.1, 0.1)},
        "gap": {"plain": s(0.1), "batch norm": s(0.12), "dropout 0.2": s(0.05)},
        "test_acc": {"plain": s(0.9), "batch norm": s(0.91), "dropout 0.2": s(0.93)}})
    out["31 l1-majority"] = 31, m(values={
        "near_zero": {"none": s(0.0, 0.001), "L1": s(0.7, 0.05), "L2": s(0.01, 0.005)},
        "large_kept": {"L1": s(0.6, 0.05), "L2": s(0.62, 0.05)},
        "train_loss": {"none": s(0.1), "L1": s(0.2), "L2": s(0.21)}})
    keep = further.Keep
    out["32 input-retention"] = 32, m(values={"test_acc": {keep(0.8): s(0.95),
                                                           keep(0.5): s(0.9)}})
    out["33 bowl"] = 33, m(values={"steps": {"adagrad": s(300.0, 20.0),
                                             "rmsprop": s(45.0, 5.0)}},
                           series={"lr": {"adagrad": 1.0, "rmsprop": 0.01}})
    out["35 after-stopping"] = 35, m(values={"test_acc": {
        "stopped": s(0.9), "retrain_all": s(0.93), "continue_all": s(0.905)}})
    out["37 sigmoid"] = 37, m(values={
        "mean": {w: {layer: s(0.5) for layer in (1, 2, 3, 4)} for w in ("init", "end")},
        "saturated": {"init": {layer: s(0.05, 0.01) for layer in (1, 2, 3, 4)},
                      "end": {1: s(0.1, 0.02), 2: s(0.2), 3: s(0.3), 4: s(0.6, 0.1)}},
        "test_acc": s(0.5)})
    noisy = momentum.Noisy
    out["38 momentum-noise"] = 38, m(values={
        "noise_share": {noisy(8, "sgd"): s(0.9), noisy(8, "momentum"): s(0.5, 0.05),
                        noisy(64, "sgd"): s(0.7), noisy(64, "momentum"): s(0.69)},
        "train_loss": {noisy(b, n): s(0.2, diverged=5) for b in (8, 64)
                       for n in ("sgd", "momentum")}}, series={"batches": [8, 64]})
    variants = ("plain", "early stopping", "L2 1e-4", "L1 1e-5", "Xavier")
    out["fashion"] = "fashion", m(values={
        "test_acc": {k: s(0.85 + 0.01 * i) for i, k in enumerate(variants)},
        "gap": {k: s(0.1 - 0.01 * i) for i, k in enumerate(variants)}})
    return out


CASES = _cases()


def claim(key: int | str):
    return FASHION if key == "fashion" else REGISTRY[key]
