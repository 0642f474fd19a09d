"""fitscope: see and measure why neural networks train or fail, underfit or overfit.

    import fitscope
    run = fitscope.train(fitscope.RunConfig())   # two moons, a small ReLU MLP, Adam
    print(run.status, run.metrics["test_acc"])
    runs = fitscope.train_many(configs)          # in input order; same shapes batched

The names below, and the subpackages (``fitscope.population``, ``fitscope.study``, ...),
are imported on first use (:mod:`fitscope._lazy`). ``fitscope.probe`` is the probe
subpackage, and calling it calls :func:`fitscope.probe.probe`
(``with fitscope.probe(model, every=10) as p``).
"""

from typing import TYPE_CHECKING

from ._lazy import lazy_package

__version__ = "0.1.0"

__all__ = ["RunConfig", "Run", "Callback", "train", "train_many", "load_run", "apply_init",
           "__version__", "probe", "diagnose"]
lazy_package(__name__, {
    "RunConfig": ".config", "Callback": ".engine", "train": ".engine", "apply_init": ".init",
    "train_many": ".many", "diagnose": ".probe", "Run": ".run", "load_run": ".run"})

if TYPE_CHECKING:
    from . import probe
    from .config import RunConfig
    from .engine import Callback, train
    from .init import apply_init
    from .many import train_many
    from .probe import diagnose
    from .run import Run, load_run
