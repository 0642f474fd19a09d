"""Live display overhead: the digits MLP trained for 20 epochs with and without the live
display (:class:`fitscope.live.LiveDisplay`, its default throttle), rendered into a
headless display handle that serializes every update to JSON as a kernel would; medians
of interleaved repeats.

Both arms are probed every 10 steps (so the live display has histograms to draw, and the
ratio is the display's own cost). Target (issue 19): live / plain <= 1.10x. Time is the
wall-clock time of ``train(config)`` on one torch thread, which the display's throttle
also uses.

    .venv/bin/python benchmarks/live_display.py [--repeats 5] [--epochs 20]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import interleaved_medians

from fitscope import RunConfig, train
from fitscope.live import LiveDisplay, RecordingHandle

DIGITS_MLP = RunConfig.model_validate({  # the default MLP (2 x 32 ReLU, Adam) on digits
    "data": {"name": "digits"}, "observe": {"probe_every": 10}})
TARGET = 1.10


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(1)
    cfg = DIGITS_MLP.with_overrides({"budget.epochs": args.epochs})
    displays: list[LiveDisplay] = []

    def live() -> None:
        displays.append(LiveDisplay(show=RecordingHandle))
        train(cfg, callbacks=[displays[-1]])

    live()  # warm up: data cache, lazy imports (plotly), kernels
    train(cfg)
    displays.clear()
    t = interleaved_medians({"plain": lambda: train(cfg), "live": live}, args.repeats)
    redraws = sorted(d.redraws for d in displays)
    sent = sorted(sum(h.sent for h in d.handles.values()) for d in displays)
    print(f"digits MLP, {args.epochs} epochs, probes every 10 steps, one torch thread; "
          f"medians of {args.repeats} interleaved repeats: plain {t['plain']:.2f} s, "
          f"live {t['live']:.2f} s; redraws per run {redraws[len(redraws) // 2]}, "
          f"{sent[len(sent) // 2] / 1e3:.0f} kB sent per run")
    ratio = t["live"] / t["plain"]
    print(f"live/plain {ratio:.2f}x (target <= {TARGET:.2f}x: "
          f"{'meets it' if ratio <= TARGET else 'OVER it'})")


if __name__ == "__main__":
    main()
