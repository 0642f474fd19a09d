"""fitscope against scikit-learn's MLPClassifier on the same digits MLP.

Same network (64-128-128-10 ReLU), Adam with lr 1e-3, batch 64, 100 epochs, the same
standardized train/test arrays and a matched L2 penalty. scikit-learn adds
alpha / (2 * batch) * ||W||^2 to each batch's loss, so its alpha equals fitscope's l2 times
the batch size. Time ratio and both test accuracies over seeds, in one run. Times are
CPU seconds of the process (``time.process_time``) on one thread each: the work done,
which a busy neighbour on a shared machine does not inflate as it does wall-clock time.
Target: fitscope no slower than scikit-learn at equal accuracy.

    .venv/bin/python benchmarks/vs_sklearn.py [--seeds 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings

import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier
from threadpoolctl import threadpool_limits

sys.path.insert(0, __file__.rsplit("/", 1)[0])

from fitscope import RunConfig, train
from fitscope.data import load_data

EPOCHS, BATCH, L2 = 100, 64, 1e-4


def config(seed: int) -> RunConfig:
    return RunConfig.model_validate({
        "data": {"name": "digits", "val_fraction": 0.0},
        "model": {"depth": 2, "width": 128, "activation": "relu"},
        "regularization": {"l2": L2},
        "optimizer": {"name": "adam", "lr": 1e-3},
        "budget": {"epochs": EPOCHS, "batch_size": BATCH, "seed": seed},
    })


def run_fitscope(seed: int) -> tuple[float, float]:
    t0 = time.process_time()
    run = train(config(seed))
    return time.process_time() - t0, run.metrics["test_acc"]


def run_sklearn(seed: int) -> tuple[float, float]:
    s = load_data(config(seed).data)
    clf = MLPClassifier(hidden_layer_sizes=(128, 128), activation="relu", solver="adam",
                        learning_rate_init=1e-3, batch_size=BATCH, max_iter=EPOCHS,
                        alpha=L2 * BATCH, tol=0.0, n_iter_no_change=EPOCHS + 1,
                        shuffle=True, random_state=seed)
    x, y = s.x_train.numpy(), s.y_train.numpy()
    t0 = time.process_time()
    with warnings.catch_warnings(), threadpool_limits(1):  # one BLAS thread, as torch gets
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(x, y)
    seconds = time.process_time() - t0
    return seconds, float((clf.predict(s.x_test.numpy()) == s.y_test.numpy()).mean())


def main(seeds: int) -> float:
    torch.set_num_threads(1)
    load_data(config(0).data)
    run_fitscope(seeds), run_sklearn(seeds)  # warm-up: first-call costs are not the work
    # interleaved, so machine load hits both alike
    rows = [(run_fitscope(seed), run_sklearn(seed)) for seed in range(seeds)]
    fs_t = statistics.median(r[0][0] for r in rows)
    sk_t = statistics.median(r[1][0] for r in rows)
    fs_acc = statistics.fmean(r[0][1] for r in rows)
    sk_acc = statistics.fmean(r[1][1] for r in rows)
    print(f"digits 64-128-128-10 ReLU, Adam 1e-3, batch {BATCH}, {EPOCHS} epochs, "
          f"L2 matched, {seeds} seeds, 1 thread, CPU seconds (medians)")
    for seed, ((ft, fa), (st, sa)) in enumerate(rows):
        print(f"  seed {seed}: fitscope {ft:.2f} s acc {fa:.4f} | scikit-learn {st:.2f} s "
              f"acc {sa:.4f}")
    ratio = fs_t / sk_t
    print(f"  median time: fitscope {fs_t:.2f} s, scikit-learn {sk_t:.2f} s; "
          f"ratio fitscope / scikit-learn = {ratio:.2f}x (target <= 1.00x: "
          f"{'met' if ratio <= 1.0 else 'NOT met'})")
    print(f"  mean test accuracy: fitscope {fs_acc:.4f}, scikit-learn {sk_acc:.4f}")
    return ratio


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    main(parser.parse_args().seeds)
