"""The engine against a minimal hand-written PyTorch loop on the same digits MLP.

Both use the same data, init, data order (one randperm per epoch from the seed), Adam
(the engine its own transforms, :mod:`fitscope.core.transforms`; the loop torch's fused
``Adam``) and a validation loss per epoch; the ratio engine / loop is measured in one run.
Target: at most 1.10x.
"""

from __future__ import annotations

import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from _timing import interleaved_medians

from fitscope import RunConfig, train
from fitscope.data import load_data
from fitscope.init import apply_init
from fitscope.models import build_model

CONFIG = RunConfig.model_validate({
    "data": {"name": "digits"}, "model": {"depth": 2, "width": 128, "activation": "relu"},
    "optimizer": {"name": "adam", "lr": 1e-3}, "budget": {"epochs": 20, "batch_size": 64},
})


def hand_loop(cfg: RunConfig) -> float:
    torch.manual_seed(cfg.budget.seed)
    s = load_data(cfg.data)
    model = build_model(cfg, s.n_features, s.n_classes, s.input_shape)
    apply_init(model, cfg.init, generator=torch.Generator().manual_seed(cfg.budget.seed))
    opt = torch.optim.Adam(model.parameters(), lr=cfg.optimizer.lr, fused=True)
    g = torch.Generator().manual_seed(cfg.budget.seed)
    bs, n = cfg.budget.batch_size, len(s.x_train)
    for _ in range(cfg.budget.epochs):
        model.train()
        perm = torch.randperm(n, generator=g)
        for i in range(0, n, bs):
            idx = perm[i:i + bs]
            loss = F.cross_entropy(model(s.x_train[idx]), s.y_train[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            val = F.cross_entropy(model(s.x_val), s.y_val).item()
    return val


def main(repeats: int = 5) -> float:
    torch.set_num_threads(1)
    load_data(CONFIG.data)  # warm the data cache for both
    engine_val = train(CONFIG).history[-1]["val_loss"]
    loop_val = hand_loop(CONFIG)
    med = interleaved_medians({"engine": lambda: train(CONFIG), "loop": lambda: hand_loop(CONFIG)},
                              repeats)
    ratio = med["engine"] / med["loop"]
    print(f"digits MLP 64-128-128-10, Adam, batch 64, {CONFIG.budget.epochs} epochs, "
          f"1 thread, median of {repeats}")
    print(f"  final val loss: engine {engine_val:.6f}  loop {loop_val:.6f}")
    print(f"  engine {med['engine']:.3f} s   hand loop {med['loop']:.3f} s")
    print(f"  ratio engine / loop = {ratio:.3f}x   (target <= 1.10x: "
          f"{'met' if ratio <= 1.10 else 'NOT met'})")
    return ratio


if __name__ == "__main__":
    main()
