"""Probe overhead: the digits MLP trained without probes, with probes every 10 steps and
with probes every step, in one process, interleaved; medians of several repeats.

Targets (issue 3): probing every 10 steps at most 1.25x the training time without
probes, every step at most 2x. Training time is the CPU time of ``train(config)`` on one
thread (the work done; wall-clock time on a shared machine also measures the neighbours).

    .venv/bin/python benchmarks/probe_overhead.py [--repeats 7] [--epochs 10]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from fitscope import RunConfig, train

DIGITS_MLP = RunConfig.model_validate({  # the default MLP (2 x 32 ReLU, Adam) on digits
    "data": {"name": "digits"},
})
TARGETS = {10: 1.25, 1: 2.0}  # probe_every -> the largest ratio the issue accepts


def train_seconds(cfg: RunConfig, probe_every: int) -> float:
    cfg = cfg.with_overrides({"observe.probe_every": probe_every})
    start = time.process_time()
    run = train(cfg)
    seconds = time.process_time() - start
    if (len(run.probes) > 0) != (probe_every > 0):
        raise RuntimeError(f"probe_every={probe_every} gave {len(run.probes)} probe records")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    torch.set_num_threads(1)  # steadier timings on a shared machine
    cfg = DIGITS_MLP.with_overrides({"budget.epochs": args.epochs})
    for every in (0, 1):
        train_seconds(cfg, every)  # warm up: data cache, lazy imports, kernels
    times: dict[int, list[float]] = {0: [], 10: [], 1: []}
    for _ in range(args.repeats):  # interleaved, so changes in load hit every setting alike
        for every in times:
            times[every].append(train_seconds(cfg, every))
    base = statistics.median(times[0])
    steps = train(cfg).metrics["steps"]
    print(f"digits MLP {cfg.model.depth} x {cfg.model.width} {cfg.model.activation}, "
          f"{steps} steps, CPU time on one thread, medians of {args.repeats} interleaved repeats")
    for every, target in TARGETS.items():
        ratio = statistics.median(times[every]) / base
        verdict = "meets the target" if ratio <= target else "OVER the target"
        print(f"  probes every {every:>2} steps: {ratio:.2f}x the training time without probes "
              f"(target <= {target}x): {verdict}")


if __name__ == "__main__":
    main()
