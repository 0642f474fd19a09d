"""How often `fitscope diagnose` is right: precision and recall on labelled scenarios.

Runs every case of :mod:`fitscope.probe.cases` (a tiny training run each), diagnoses
it, and scores the findings at warning or error against the case's label: micro-averaged
over (case, finding) pairs (:func:`fitscope.probe.cases.score`), for all cases and for
the held-back split, which no threshold was tuned on. For each fixable case (its label
names a fix) it then applies the findings' recommended config change, retrains on 3
seeds beside the unchanged config, and counts a success when the required findings are
gone and the mean validation loss fell by more than its spread over the seeds after the
fix (:func:`fitscope.probe.fixes.verify`); ``fixed_every_seed`` counts the successes whose
validation loss also fell on each seed.

    python benchmarks/diagnosis.py [--quick] [--dev] [--workers N] [--cases] [--ids A,B]
                                   [--seeds K] [--seed-offset K]

prints one line per finding, ``finding NAME precision=... recall=...``, then for the
development split, the held-back split and, where there are several, each held-back case
file (each written and run as its own unseen split) one line per finding,
``split_finding SPLIT NAME precision=... recall=...``, and the split's size, overall
scores and lowest per-finding score, ``split SPLIT cases=... healthy=... precision=...
recall=... lowest_finding=...``; then a last line ``overall precision=... recall=...
fix_rate=... cases=N healthy=H heldback_precision=... heldback_recall=...``. ``--quick``
runs every fourth case with one seed for the fixes; ``--dev`` runs the development cases
only (tuning never runs a held-back case); ``--cases`` prints each case's findings;
``--seed-offset K`` trains each case on its own seed plus K (its fixes on that seed and
the next ones), so that a rule can be judged on the development cases at several seeds
(the fifth round's tuning used 0, 1 and 2, the sixth's, seventh's and eighth's 0 to 4),
not on one case at one seed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from multiprocessing import Pool


def _one(args: tuple[str, int, int]) -> dict:
    case_id, seeds, offset = args
    import torch

    torch.set_num_threads(1)
    from fitscope.probe.cases import BY_ID, run_case
    from fitscope.probe.findings import diagnose
    from fitscope.probe.fixes import verify

    case = BY_ID[case_id]
    t0 = time.perf_counter()
    run = run_case(case, seed=case.run_config().budget.seed + offset if offset else None)
    found = diagnose(run)
    reported = {f.code for f in found if f.severity in ("warning", "error")}
    possible = {f.code for f in found if f.severity == "possible"}
    fixed = None
    if case.fix is not None:
        def factory():
            from fitscope.data import load_data
            cfg = case.run_config()
            s = load_data(cfg.data, cfg.task.kind)
            return case.build_model(s.n_features, s.n_classes)

        v = verify(run, found, seeds=seeds, model_factory=factory if case.model else None)
        gone = all(code not in v.findings_after for code in case.requires)
        fixed = {"change": v.change, "helped": v.helped, "gone": gone,
                 "success": v.helped and gone, "every_seed": v.helped and gone and v.every_seed,
                 "before": v.before, "after": v.after}
    return {"id": case_id, "reported": sorted(reported), "possible": sorted(possible),
            "fixed": fixed, "seconds": time.perf_counter() - t0}


def select(quick: bool = False, ids: str = "", dev: bool = False) -> list:
    """The cases to run: every fourth (``quick``), those named in ``ids`` (comma-separated)
    or all; ``dev`` drops every held-back case, so that tuning never runs one."""
    from fitscope.probe.cases import BY_ID, CASES

    cases = [BY_ID[i] for i in ids.split(",")] if ids else CASES[::4] if quick else CASES
    return [c for c in cases if not (dev and c.heldback)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="every fourth case, 1 seed")
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--cases", action="store_true", help="print each case's findings")
    parser.add_argument("--ids", default="", help="only these case ids (comma-separated)")
    parser.add_argument("--dev", action="store_true",
                        help="development cases only: no held-back case is run")
    parser.add_argument("--seeds", type=int, default=None, help="seeds for the fixes")
    parser.add_argument("--seed-offset", type=int, default=0,
                        help="train each case on its own seed plus this")
    args = parser.parse_args(argv)

    from fitscope.probe.cases import BY_ID, score

    cases = select(args.quick, args.ids, args.dev)
    seeds = args.seeds or (1 if args.quick else 3)
    t0 = time.perf_counter()
    jobs = [(c.id, seeds, args.seed_offset) for c in cases]
    if args.workers > 1:
        with Pool(args.workers) as pool:
            results = list(pool.imap_unordered(_one, jobs))
    else:  # in this process (and its torch thread setting)
        results = [_one(job) for job in jobs]
    results.sort(key=lambda r: [c.id for c in cases].index(r["id"]))
    pairs = [(BY_ID[r["id"]], set(r["reported"])) for r in results]
    codes = sorted({code for c in cases for code in c.requires}
                   | {code for _, rep in pairs for code in rep})
    every = score(pairs, codes)
    held = score([p for p in pairs if p[0].heldback])
    if args.cases:
        for r in results:
            case = BY_ID[r["id"]]
            fx = r["fixed"]
            fix = "" if fx is None else (f" fix={'ok' if fx['success'] else 'FAILED'} "
                                         f"{fx['change']}")
            split = "held" if case.heldback else "dev"
            print(f"case {r['id']} split={split} requires={sorted(case.requires)} "
                  f"reported={r['reported']} possible={r['possible']}{fix}")
    for code in codes:
        row = every[code]
        print(f"finding {code} precision={row['precision']:.2f} recall={row['recall']:.2f}")
    files = sorted({c.source for c in cases if c.heldback})
    groups = [("development", [p for p in pairs if not p[0].heldback]),
              ("heldback", [p for p in pairs if p[0].heldback])]
    if len(files) > 1:  # each held-back file is its own unseen split: scored alone too
        groups += [(f"heldback:{f}", [p for p in pairs if p[0].source == f]) for f in files]
    for name, part in groups:
        table = score(part, codes)
        for code in codes:
            row = table[code]
            print(f"split_finding {name} {code} precision={row['precision']:.2f} "
                  f"recall={row['recall']:.2f}")
        row = table["overall"]
        lowest = min((min(table[k]["precision"], table[k]["recall"]) for k in codes),
                     default=1.0)
        print(f"split {name} cases={len(part)} healthy={sum(c.healthy for c, _ in part)} "
              f"precision={row['precision']:.3f} recall={row['recall']:.3f} "
              f"lowest_finding={lowest:.2f}")
    fixes = [r["fixed"] for r in results if r["fixed"] is not None]
    rate = sum(f["success"] for f in fixes) / len(fixes) if fixes else 1.0
    print(f"fixable={len(fixes)} fixed={sum(f['success'] for f in fixes)} "
          f"fixed_every_seed={sum(f['every_seed'] for f in fixes)} "
          f"seconds={time.perf_counter() - t0:.0f} workers={args.workers}")
    o, h = every["overall"], held["overall"]
    print(f"overall precision={o['precision']:.3f} recall={o['recall']:.3f} fix_rate={rate:.2f} "
          f"cases={len(cases)} healthy={sum(c.healthy for c in cases)} "
          f"heldback_precision={h['precision']:.3f} heldback_recall={h['recall']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
