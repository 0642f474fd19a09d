"""A study of 64 runs with ``--engine auto`` against ``--engine sequential``.

The nine-layer width-16 tanh MLP of the notes on the spiral: 8 learning rates x 8 seeds,
Adam, batch 64. Both engines run the same study through ``run_study`` on the local
backend (2 workers) into their own stores; the script prints both wall times, their
ratio, and whether every run got the same status. Issue 5 asks for auto to be faster
with identical statuses.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from fitscope.study.runner import run_study
from fitscope.study.spec import StudySpec
from fitscope.study.store import Store

STUDY = """
name = "engines"
seeds = 8
[base]
data = {name = "spiral", n_samples = 600, noise = 0.2}
model = {depth = 8, width = 16, activation = "tanh"}
init = {scheme = "xavier_normal"}
optimizer = {name = "adam"}
budget = {epochs = 10, batch_size = 64}
[grid]
"optimizer.lr" = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1]
"""


def timed(engine: str, directory: Path) -> tuple[float, dict[str, str]]:
    spec_path = directory / f"{engine}.toml"
    spec_path.write_text(STUDY)
    spec = StudySpec.load(spec_path)
    with Store(directory / f"{engine}.sqlite") as store:
        t0 = time.perf_counter()
        run_study(spec, store, workers=2, engine=engine)
        seconds = time.perf_counter() - t0
        return seconds, store.statuses()


def main() -> float:
    with tempfile.TemporaryDirectory() as tmp:
        seq_s, seq_status = timed("sequential", Path(tmp))
        auto_s, auto_status = timed("auto", Path(tmp))
    same = seq_status == auto_status
    ratio = seq_s / auto_s
    print("64-run study (nine-layer tanh MLP, 8 lr x 8 seeds, 10 epochs), 2 workers")
    print(f"  --engine sequential {seq_s:.1f} s   --engine auto {auto_s:.1f} s   "
          f"speed-up {ratio:.2f}x (target > 1x: {'met' if ratio > 1 else 'NOT met'})")
    print(f"  identical statuses for all {len(seq_status)} runs: {same}")
    return ratio


if __name__ == "__main__":
    main()
