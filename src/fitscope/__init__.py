"""fitscope: see and measure why neural networks train or fail, underfit or overfit.

    import fitscope
    run = fitscope.train(fitscope.RunConfig())   # two moons, a small ReLU MLP, Adam
    print(run.status, run.metrics["test_acc"])
"""

__version__ = "0.1.0"

from .config import RunConfig  # noqa: E402
from .engine import Callback, train  # noqa: E402
from .init import apply_init  # noqa: E402
from .probe import diagnose, probe  # noqa: E402
from .run import Run, load_run  # noqa: E402

__all__ = ["RunConfig", "Run", "Callback", "train", "load_run", "apply_init", "__version__"]
__all__ += ["probe", "diagnose"]
