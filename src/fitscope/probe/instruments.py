"""Cockpit-style instruments at the end of a run (Schneider et al. 2021): gradient noise
and the top Hessian eigenvalue against the edge of stability.

:func:`measure` adds them to a run's probe records at its last step, as layer ``"root"``
quantities ``grad_noise``, ``hessian_top`` and ``eos_ratio``, so TensorBoard export
writes them like any record. No finding uses them: they were not tried as a decision
input on the diagnosis benchmark (see docs/probes.md).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import torch
from torch import Tensor, nn

from ..run import Run


def gradient_noise(model: nn.Module, loss_fn: Callable[[Tensor, Tensor], Tensor],
                   batches: Iterable[tuple[Tensor, Tensor]]) -> dict[str, float]:
    """How noisy the minibatch gradients are at the model's current weights.

    With g_b the gradient of ``loss_fn(model(x_b), y_b)`` over all parameters for each
    of the B batches and g_bar their mean::

        noise = (1/B) sum_b ||g_b - g_bar||^2 / ||g_bar||^2

    Below 1 the minibatch gradients agree on a direction; far above 1 a step follows
    mostly the batch's noise (the regime where a smaller learning rate or a larger batch
    helps). Returns ``noise``, ``mean_norm`` ||g_bar|| and ``batches`` B. The model's
    gradients are left as they were; it runs in its current mode.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    grads = []
    for x, y in batches:
        g = torch.autograd.grad(loss_fn(model(x), y), params, allow_unused=True)
        grads.append(torch.cat([(gi if gi is not None else torch.zeros_like(p)).reshape(-1)
                                for gi, p in zip(g, params)]).detach())
    if len(grads) < 2:
        raise ValueError("gradient_noise needs at least 2 batches")
    stack = torch.stack(grads).double()
    mean = stack.mean(dim=0)
    spread = float((stack - mean).square().sum(dim=1).mean())
    norm2 = float(mean.square().sum())
    return {"noise": spread / norm2 if norm2 > 0 else math.inf,
            "mean_norm": math.sqrt(norm2), "batches": len(grads)}


def edge_of_stability(top_eigenvalue: float, lr: float) -> float:
    """lambda_max * lr / 2: gradient descent on a quadratic of curvature lambda_max
    converges only for lr < 2 / lambda_max, so a ratio at or above 1 means the steps
    overshoot along the sharpest direction (Cohen et al. 2021 find full-batch training
    hovering there)."""
    return top_eigenvalue * lr / 2.0


def measure(run: Run, batches: int = 8, hessian: bool = True) -> list[dict]:
    """Gradient noise over ``batches`` training minibatches of the run's batch size and,
    with ``hessian``, the top Hessian eigenvalue on the training split
    (:func:`fitscope.landscape.top_hessian_eigenvalue`) and its :func:`edge_of_stability`
    ratio, at the run's final weights; appended to ``run.probes`` and returned."""
    from ..data import load_data
    from ..landscape.runs import data_loss_fn, problem_for_run

    if run.model is None or run.status == "diverged":
        raise ValueError(f"run {run.run_id} has no usable weights to measure "
                         f"(status {run.status})")
    cfg = run.config
    s = load_data(cfg.data, cfg.task.kind)
    loss_fn = data_loss_fn(cfg.task.kind, s.n_classes)
    size = cfg.budget.batch_size or len(s.x_train)
    g = torch.Generator().manual_seed(cfg.budget.seed)
    perm = torch.randperm(len(s.x_train), generator=g)
    chunks = [(s.x_train[i], s.y_train[i]) for i in perm.split(size)][:batches]
    step = max((r["step"] for r in run.probes), default=run.metrics.get("steps", 0))
    was_training = run.model.training
    run.model.eval()
    try:
        noise = gradient_noise(run.model, loss_fn, chunks)
    finally:
        run.model.train(was_training)
    records = [{"step": step, "layer": "root", "quantity": "grad_noise",
                "value": noise["noise"]}]
    if hessian:
        from ..landscape import top_hessian_eigenvalue

        lam = top_hessian_eigenvalue(problem_for_run(run, "train"), iters=100,
                                     tol=1e-3)["eigenvalue"]
        records += [{"step": step, "layer": "root", "quantity": "hessian_top", "value": lam},
                    {"step": step, "layer": "root", "quantity": "eos_ratio",
                     "value": edge_of_stability(lam, cfg.optimizer.lr)}]
    run.probes.extend(records)
    return records
