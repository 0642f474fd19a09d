"""The population engine against the sequential engine on the same configs.

Two settings, each N members differing in seed and learning rate, Adam, batch 64, 200
steps:

- ``toy``: the nine-layer width-16 tanh MLP on two moons (600 train rows: 20 epochs of
  10 steps), N = 8, 32, 64, 128. Targets: >= 12x at N = 32, >= 20x at N = 128.
- ``digits``: a width-128 MLP on digits (8x8 images, 10 classes), N = 32, nine layers
  as in ``toy`` and two layers (64-128-128-10). Target: >= 3x at N = 32.
- ``mnist1d-cnn``: the default CNN (``model.kind = "cnn"``, channels (8, 16), kernel 3,
  ReLU) on MNIST-1D (40-point signals, 10 classes), N = 32, on the functional stack
  (:mod:`fitscope.population.functional`).
- ``digits-residual``: a user's ``nn.Module`` (:class:`ResidualMLP`: 64-128, one
  residual block of two width-128 layers, 128-10) on digits, N = 32, passed as
  ``models=`` (the functional stack too; the benchmark prints whether it took its
  direct path or ``vmap``). For these two the target is >= 3x, or >= 80%
  of "at floor" where that is below 3.75x (the floor allows too little for 3x).

Every measurement runs in a fresh process, so that its peak memory (the process's
maximum resident set, less what it held after imports and data loading) is its own.
"pop est MB" is the engine's own upper estimate of that peak
(``fitscope.population.engine.estimated_bytes``, which caps one stacked program).
One repeat times the population engine once per N and the sequential engine once over
all the configs, run by run; the sequential time for N members is the sum of the times
of the first N runs (the N-member population trains exactly those configs). The numbers
printed are medians over repeats, interleaved so that load on the machine hits both
engines alike. ``--seq-members M`` times only the first M sequential runs and
extrapolates larger N from their mean (printed as "extrapolated").

The speedup and its verdict are on wall-clock seconds. CPU seconds (the process's user
and system time) are printed beside them: with one thread they are the wall time less
the time other processes took the core, so on a shared machine their ratio is the
steadier estimate of what a quiet machine gives; with more threads they add up the
threads' time (spinning included) and say nothing about wall time.

"pop floor s" is the work the population cannot avoid, each part timed alone with its
operands in cache (``floor_child``: the training steps' batched matrix multiplies -- for
the functional stack, one member's module run forward and backward on the N members'
rows at once --, one Adam update per step, the evaluations), and "at floor" the
sequential time over it:
the speedup a population whose every kernel ran at its in-cache speed would reach on
this machine. A target above it cannot be met here by scheduling the same kernels
better.

    python benchmarks/population.py                 # torch's default threads
    python benchmarks/population.py --threads 1 --repeats 3
    python benchmarks/population.py --passive-omp   # default threads, on a shared machine
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from multiprocessing import get_context

import torch
from torch import nn

from fitscope import RunConfig


class ResidualMLP(nn.Module):
    """A user's model for ``digits-residual``: x -> h = relu(W0 x), h -> relu(h + f(h))
    with f a two-layer ReLU block of width 128, then a linear head to 10 logits."""

    def __init__(self, n_in: int = 64, width: int = 128, n_out: int = 10):
        super().__init__()
        self.inp = nn.Linear(n_in, width)
        self.block = nn.Sequential(nn.Linear(width, width), nn.ReLU(),
                                   nn.Linear(width, width))
        self.out = nn.Linear(width, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.inp(x))
        return self.out(torch.relu(h + self.block(h)))


SETTINGS = {
    "toy": ({"data": {"name": "moons", "n_samples": 1000},
             "model": {"depth": 9, "width": 16, "activation": "tanh"}},
            (8, 32, 64, 128), {32: 12.0, 128: 20.0}),
    "digits-9x128": ({"data": {"name": "digits"},
                      "model": {"depth": 9, "width": 128, "activation": "tanh"}},
                     (32,), {32: 3.0}),
    "digits-2x128": ({"data": {"name": "digits"},
                      "model": {"depth": 2, "width": 128, "activation": "tanh"}},
                     (32,), {32: 3.0}),
    "mnist1d-cnn": ({"data": {"name": "mnist1d"},
                     "model": {"kind": "cnn", "channels": [8, 16]}}, (32,), {32: 3.0}),
    "digits-residual": ({"data": {"name": "digits"}}, (32,), {32: 3.0}),
}
USER_MODELS = {"digits-residual": ResidualMLP}  # settings that train a user's module
FLOOR_TARGETS = ("mnist1d-cnn", "digits-residual")  # >= 80% of "at floor" below 3.75x


def describe(setting: str) -> str:
    """The setting's data and model in words."""
    body = SETTINGS[setting][0]
    model = body.get("model", {})
    if setting in USER_MODELS:
        net = f"user module {USER_MODELS[setting].__name__}"
    elif model.get("kind") == "cnn":
        net = f"CNN channels {tuple(model['channels'])}"
    else:
        net = f"depth {model['depth']} width {model['width']} {model['activation']}"
    return f"{body['data']['name']}, {net}"


def user_models(setting: str, n: int) -> list[nn.Module] | None:
    """The setting's user modules, one per member (seeded), or None (built-in model)."""
    if setting not in USER_MODELS:
        return None
    torch.manual_seed(0)
    return [USER_MODELS[setting]() for _ in range(n)]


def configs(setting: str, n: int) -> list[RunConfig]:
    """N members: seeds 0..N-1, learning rates spread over [1e-3, 1e-2] (log scale)."""
    body = {**SETTINGS[setting][0], "optimizer": {"name": "adam"},
            "budget": {"epochs": 200, "max_steps": 200, "batch_size": 64}}
    base = RunConfig.model_validate(body)
    return [base.with_overrides({"budget.seed": i, "optimizer.lr": 1e-3 * 10 ** (i % 8 / 7)})
            for i in range(n)]


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _prepare(threads: int | None, setting: str, n: int) -> list[RunConfig]:
    if threads:
        torch.set_num_threads(threads)
    from fitscope.data import load_data

    cs = configs(setting, n)
    load_data(cs[0].data, cs[0].task.kind)
    return cs


def population_child(threads: int | None, setting: str, n: int
                     ) -> tuple[float, float, float, float]:
    """(seconds, CPU seconds, peak MB over the baseline, the engine's estimate of that peak
    in MB) of one population of n members."""
    from fitscope.population import train
    from fitscope.population.engine import estimated_bytes, lead_trainer

    cs = _prepare(threads, setting, n)
    models = user_models(setting, n)
    train(cs[:2], models=user_models(setting, 2))  # warm-up: first calls of torch, engine
    base = _rss_mb()
    t0, c0 = time.perf_counter(), time.process_time()
    runs = train(cs, models=models)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    assert len(runs) == n
    lead = lead_trainer(cs[0], None if models is None else models[0])
    return seconds, cpu, _rss_mb() - base, estimated_bytes(lead, n) / 2**20


def _hot_seconds(fn, warm: int = 2, reps: int = 7) -> float:
    """Least seconds of ``fn()`` repeated back to back (its operands stay in cache): the
    floor is a lower bound, and other jobs on the machine only ever add time (a median
    took their share into the floor and so lowered the target)."""
    for _ in range(warm):
        fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def floor_child(threads: int | None, setting: str, n: int) -> dict[str, float]:
    """Seconds of the work an N-member population cannot avoid, each part timed alone and
    back to back so that its operands stay in cache (the least of 7):

    - ``train``: the batched matrix multiplies of the training steps, at the
      :class:`~fitscope.population.stacked.StackedMLP` layers' shapes: per layer the
      forward ``baddbmm`` and the weight-gradient ``bmm``, and the input-gradient ``bmm``
      for every layer but the first; timed at the batch size and scaled by the rows each
      step sees (a last short batch per epoch costs its share). On the functional stack
      (a CNN, a user's module), whose kernels are the module's own: one member's module,
      in training mode, forward and backward (autograd) on N x batch rows, the same
      per-example work as a population step in each kernel's unmapped form, scaled
      the same way; the module is timed as written and with the stack's forms of its
      layers (:mod:`fitscope.population.mapped`: a faster max pool), and the faster
      counts;
    - ``adam``: one Adam update of the (N, D) parameters, gradients and moments per
      step (the engine's own ``Updater.step``);
    - ``eval``: the evaluations of ``Population.fit`` (``evaluate`` of the validation
      split at the end of every epoch, then of the train, validation and test splits for
      the final metrics), timed whole.

    Their sum is a lower bound for these kernels on this machine: a real step cannot keep
    every operand in cache (the population's weights, gradients and Adam moments are
    4 x N x D floats), and activations, losses, data order and Python come on top.
    """
    from fitscope.population.engine import Population, evaluate
    from fitscope.population.stacked import StackedMLP

    cs = _prepare(threads, setting, n)
    pop = Population(cs, models=user_models(setting, n))
    net, lead, b = pop.net, pop.lead, pop.lead.batch_size
    rows_seen, left = 0, lead.total_steps  # the rows the steps see, epoch by epoch
    while left > 0:
        k = min(left, lead.steps_per_epoch)
        rows_seen += min(len(lead.x_train), k * b)
        left -= k
    if isinstance(net, StackedMLP):
        matmul, macs = _stacked_matmuls(net, n, b, rows_seen)
    else:  # the module as the user wrote it, or in the stack's forms: the faster
        matmul, macs = min(_module_passes(m, lead, n, b, rows_seen)
                           for m in (pop.members[0].model, net.module))
    grad = torch.randn_like(net.flat) * 1e-3
    adam = _hot_seconds(lambda: pop.updater.step(0, 1, [net.flat], [grad])) * lead.total_steps
    s = lead.splits
    epochs = math.ceil(lead.total_steps / lead.steps_per_epoch)
    evaluation = sum(count * _hot_seconds(partial(evaluate, net, x, y, lead.classify), reps=3)
                     for x, y, count in ((s.x_val, s.y_val, epochs + 1),
                                         (s.x_train, s.y_train, 1), (s.x_test, s.y_test, 1)))
    return {"train": matmul, "adam": adam, "eval": evaluation, "train_macs": macs,
            "direct": float(getattr(net, "direct", False))}


def _stacked_matmuls(net, n: int, b: int, rows_seen: int) -> tuple[float, int]:
    """Seconds and multiply-adds of the training steps' batched matrix multiplies."""
    matmul, macs = 0.0, 0
    for j, layer in enumerate(net.layers):
        units, inputs = layer.w.shape[1:]
        macs += n * units * inputs * rows_seen * (3 if j > 0 else 2)
        h = torch.randn(n, inputs, b)
        gz, z = torch.randn(n, units, b), torch.empty(n, units, b)
        gw = torch.empty(n, units, inputs)
        matmul += _hot_seconds(partial(torch.baddbmm, layer.bias, layer.w, h, out=z))
        matmul += _hot_seconds(partial(torch.bmm, gz, h.transpose(1, 2), out=gw))
        if j > 0:
            matmul += _hot_seconds(partial(torch.bmm, layer.wt, gz, out=h))
    return matmul * rows_seen / b, macs


def _module_passes(model: nn.Module, lead, n: int, b: int, rows_seen: int
                   ) -> tuple[float, int]:
    """Seconds of the training steps' forward and backward passes as one member's module
    runs them on n x b rows at once, and their multiply-adds (torch's flop counter, over
    2, of one such pass, scaled like the time)."""
    from torch.utils.flop_counter import FlopCounterMode

    model.train()
    x = lead.x_train
    x = x.repeat(math.ceil(n * b / len(x)), 1)[:n * b]

    def step() -> None:
        model.zero_grad(set_to_none=True)
        model(x).sum().backward()

    with FlopCounterMode(display=False) as counter:
        step()
    macs = counter.get_total_flops() // 2 * rows_seen // b
    return _hot_seconds(step) * rows_seen / b, macs


def sequential_child(threads: int | None, setting: str, n: int, marks: tuple[int, ...]
                     ) -> tuple[list[float], list[float], dict[int, float]]:
    """(seconds and CPU seconds of each of n sequential runs, peak MB over the baseline
    after each mark)."""
    from fitscope.engine import train

    cs = _prepare(threads, setting, n)
    models = user_models(setting, n) or [None] * n
    train(cs[0], model=(user_models(setting, 1) or [None])[0])  # warm-up
    base, times, cpus, peaks, runs = _rss_mb(), [], [], {}, []
    for i, (c, model) in enumerate(zip(cs, models), start=1):
        t0, c0 = time.perf_counter(), time.process_time()
        runs.append(train(c, model=model))  # kept, as a study keeps its runs
        times.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
        if i in marks:
            peaks[i] = _rss_mb() - base
    return times, cpus, peaks


def in_fresh_process(fn, *args):
    ctx = get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
        return pool.submit(fn, *args).result()


def bench(setting: str, repeats: int, threads: int | None, seq_members: int | None) -> None:
    _, sizes, targets = SETTINGS[setting]
    seq_n = min(max(sizes), seq_members or max(sizes))
    pop_times: dict[int, list[float]] = {n: [] for n in sizes}
    pop_cpus: dict[int, list[float]] = {n: [] for n in sizes}
    pop_mem: dict[int, list[float]] = {n: [] for n in sizes}
    floors: dict[int, list[dict[str, float]]] = {n: [] for n in sizes}
    pop_est: dict[int, float] = {}
    seq_runs: list[list[float]] = []
    seq_cpus: list[list[float]] = []
    seq_mem: list[dict[int, float]] = []
    for _ in range(repeats):
        for n in sizes:
            seconds, cpu, mb, est_mb = in_fresh_process(population_child, threads, setting, n)
            pop_est[n] = est_mb
            pop_times[n].append(seconds)
            pop_cpus[n].append(cpu)
            pop_mem[n].append(mb)
            floors[n].append(in_fresh_process(floor_child, threads, setting, n))
        times, cpus, peaks = in_fresh_process(sequential_child, threads, setting, seq_n,
                                              tuple(n for n in sizes if n <= seq_n))
        seq_runs.append(times)
        seq_cpus.append(cpus)
        seq_mem.append(peaks)
    print(f"\n{setting}: {describe(setting)}, Adam, batch 64, 200 steps; median of {repeats}")
    print(f"{'N':>5} {'sequential s':>13} {'population s':>13} {'speedup':>8} {'target':>11}"
          f" {'seq cpu s':>10} {'pop cpu s':>10} {'cpu speedup':>12}"
          f" {'seq peak MB':>12} {'pop peak MB':>12} {'pop est MB':>11}"
          f" {'pop floor s':>12} {'at floor':>9}")
    for n in sizes:
        if n <= seq_n:
            seq = statistics.median(sum(t[:n]) for t in seq_runs)
            seq_cpu = statistics.median(sum(t[:n]) for t in seq_cpus)
            seq_mb = f"{statistics.median(m[n] for m in seq_mem):12.1f}"
            note = ""
        else:
            seq = statistics.median(statistics.mean(t) for t in seq_runs) * n
            seq_cpu = statistics.median(statistics.mean(t) for t in seq_cpus) * n
            seq_mb, note = f"{'-':>12}", f"  (sequential extrapolated from {seq_n} runs)"
        pop, pop_cpu = statistics.median(pop_times[n]), statistics.median(pop_cpus[n])
        floor = statistics.median(_floor(f) for f in floors[n])
        ratio = seq / pop
        target = targets.get(n)
        if target is not None and setting in FLOOR_TARGETS and seq / floor < 1.25 * target:
            target = 0.8 * seq / floor  # the floor allows too little for the target
        met = "met" if target and ratio >= target else "NOT met"
        verdict = "" if target is None else f"{target:4.1f}x {met}"
        print(f"{n:5d} {seq:13.2f} {pop:13.2f} {ratio:7.1f}x {verdict:>11}"
              f" {seq_cpu:10.2f} {pop_cpu:10.2f} {seq_cpu / pop_cpu:11.1f}x"
              f" {seq_mb} {statistics.median(pop_mem[n]):12.1f} {pop_est[n]:11.1f} {floor:12.2f}"
              f" {seq / floor:8.1f}x{note}")
    n = max(sizes)
    parts = {k: statistics.median(f[k] for f in floors[n]) for k in floors[n][0]}
    kind = "forward and backward passes" if setting in FLOOR_TARGETS else "matmuls"
    if setting in FLOOR_TARGETS:  # which path the functional stack's trial chose
        path = "direct" if parts["direct"] else "vmap"
        print(f"the functional stack trained on its {path} path "
              f"(fitscope.population.functional.FunctionalStack.direct)")
    print(f"floor at N = {n} (work timed alone, operands in cache; see floor_child): "
          f"training {kind} {parts['train']:.2f} s ({parts['train_macs'] / 1e9:.0f} G "
          f"multiply-adds, {parts['train_macs'] / parts['train'] / 1e9:.0f} G/s) + Adam "
          f"{parts['adam']:.2f} s + evaluations {parts['eval']:.2f} s; the population took "
          f"{statistics.median(pop_times[n]) / _floor(parts):.1f} times that")


def _floor(parts: dict[str, float]) -> float:
    return parts["train"] + parts["adam"] + parts["eval"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads in every process (default: torch's own)")
    parser.add_argument("--seq-members", type=int, default=None,
                        help="time only this many sequential runs; extrapolate beyond")
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--passive-omp", action="store_true",
                        help="OMP_WAIT_POLICY=PASSIVE in the measuring processes: waiting "
                             "threads sleep instead of spinning (on a machine shared with "
                             "other jobs, threads spinning at barriers for a descheduled one "
                             "dominate multi-thread timings)")
    args = parser.parse_args()
    if args.passive_omp:  # read by OpenMP when a fresh measuring process loads torch
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    threads = args.threads or torch.get_num_threads()
    policy = os.environ.get("OMP_WAIT_POLICY", "default")
    print(f"torch {torch.__version__}, {threads} thread(s), {os.cpu_count()} CPUs, "
          f"OMP_WAIT_POLICY {policy}, load average at start {os.getloadavg()[0]:.1f}")
    for setting in args.settings:
        bench(setting, args.repeats, args.threads, args.seq_members)
    print(f"\nload average at end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
