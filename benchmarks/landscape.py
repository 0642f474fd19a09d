"""A 41 x 41 loss-landscape slice: batched evaluation against a point-by-point loop.

Batched: :func:`fitscope.landscape.plane`; for these plain MLPs that is the fast path of
:mod:`fitscope.landscape.batched_mlp` (the points as the members of a stacked MLP, run
by the population's pass :func:`fitscope.population.stacked.forward_layers` on
transposed activations, cache-sized chunks of points, the slice's first layer computed
once). Loop: what one writes by hand, for each
of the 1681 points copy it into the model (``vector_to_parameters``) and run one forward
pass and ``F.cross_entropy`` over the training set. Both evaluate the same points on the
same data; their losses are compared, then timed interleaved, median of the repeats.
Target (issue 8): batched at least 5x faster on the digits MLP. Each case is timed with
one thread and with torch's default threads (the machine's cores), both sides alike; the
verdict is on the default. A second case, a small MLP on 600 two-moons points, shows
where per-point overhead weighs more. ``--device cuda`` runs it on a GPU.

    python benchmarks/landscape.py [--repeats 5] [--points 41] [--device cpu]
"""

from __future__ import annotations

import argparse
import sys

import torch

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from _timing import interleaved_medians

from fitscope import RunConfig, train
from fitscope.landscape import plane, problem_for_run, random_directions
from fitscope.landscape.evaluate import eval_mode
from fitscope.landscape.plane import axis, grid_coords

CASES = {
    "digits MLP 64-32-32-10, 1078 train rows": RunConfig.model_validate(
        {"data": {"name": "digits"}, "budget": {"epochs": 5}}),
    "moons MLP 2-32-32-1, 600 train rows": RunConfig.model_validate(
        {"data": {"name": "moons"}, "budget": {"epochs": 5}}),
}


def loop_plane(problem, center, directions, points: int) -> torch.Tensor:
    """The plain way: one point at a time, copied into the model."""
    coords = grid_coords(axis(points, 1.0), axis(points, 1.0)).to(center)
    model, losses = problem.model, []
    with torch.no_grad(), eval_mode(model):
        for a, b in coords:
            torch.nn.utils.vector_to_parameters(center + a * directions[0] + b * directions[1],
                                                model.parameters())
            losses.append(problem.loss_fn(model(problem.x), problem.y).item())
        torch.nn.utils.vector_to_parameters(center, model.parameters())
    return torch.tensor(losses, dtype=torch.float64).reshape(points, points)


def measure(name: str, cfg: RunConfig, points: int, repeats: int) -> float:
    run = train(cfg)
    problem = problem_for_run(run)
    problem.metric_fn = None  # the loop computes the loss only; so does the batched side
    center, directions = problem.center(), random_directions(run.model, 2, seed=0)
    batched = plane(problem, center, directions, points=points).loss
    looped = loop_plane(problem, center, directions, points).numpy()
    diff = abs(batched - looped).max()
    med = interleaved_medians({
        "batched": lambda: plane(problem, center, directions, points=points),
        "loop": lambda: loop_plane(problem, center, directions, points),
    }, repeats)
    ratio = med["loop"] / med["batched"]
    print(f"{name}, {torch.get_num_threads()} thread(s): {points}x{points} = "
          f"{points * points} points, chunk {problem.default_chunk()} points, "
          f"median of {repeats}")
    print(f"  max |batched - loop| loss difference: {diff:.2e}")
    print(f"  batched {med['batched']:.3f} s   loop {med['loop']:.3f} s   "
          f"speed-up loop / batched = {ratio:.2f}x")
    return ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--points", type=int, default=41)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    args = parser.parse_args()
    default_threads = torch.get_num_threads()
    print(f"torch {torch.__version__}, device {args.device}, default threads {default_threads}")
    ratios = {}
    for threads in sorted({1, default_threads}):
        torch.set_num_threads(threads)
        for name, cfg in CASES.items():
            ratios[threads, name] = measure(name, cfg.with_overrides(
                {"budget.device": args.device}), args.points, args.repeats)
    digits = next(iter(CASES))
    for threads in sorted({1, default_threads}):
        print(f"digits MLP speed-up, {threads} thread(s): {ratios[threads, digits]:.2f}x")
    verdict = "met" if ratios[default_threads, digits] >= 5 else "NOT met"
    print(f"target >= 5x with the default {default_threads} thread(s): {verdict}")


if __name__ == "__main__":
    main()
