"""Loss landscapes of real networks and of the notes' toy surfaces (see ``docs/landscape.md``).

For any ``nn.Module``, a loss and data, wrapped in a :class:`Problem`:

- :func:`interpolate`: the 1-D line between two parameter vectors;
- :func:`plane`: a 2-D slice along random filter-normalized directions (Li et al. 2018);
- :func:`trajectory`: the training path on the plane of its first two principal components;
- :func:`expected_sharpness` and :func:`top_hessian_eigenvalue`: how sharp a minimum is.

For fitscope runs, :func:`run_landscape` (cached) and :func:`compare_sharpness` (a measured
comparison of two groups of runs, with a named test). :mod:`fitscope.landscape.toy` holds the
2-D toy surfaces with the optimizers run on them; :mod:`fitscope.landscape.figures` draws it all.
"""

from typing import TYPE_CHECKING

from .._lazy import lazy_package

__all__ = [
    "Line", "Problem", "Surface", "accuracy", "compare_sharpness", "expected_sharpness",
    "filter_normalize", "interpolate", "pca_directions", "plane", "problem_for_run",
    "random_direction", "random_directions", "run_landscape", "sharpness_of_run",
    "top_hessian_eigenvalue", "trajectory",
]
lazy_package(__name__, {
    "compare_sharpness": ".compare", "sharpness_of_run": ".compare",
    "filter_normalize": ".directions", "random_direction": ".directions",
    "random_directions": ".directions", "Problem": ".evaluate", "accuracy": ".evaluate",
    "interpolate": ".line", "plane": ".plane", "Line": ".results", "Surface": ".results",
    "problem_for_run": ".runs", "run_landscape": ".runs",
    "expected_sharpness": ".sharpness", "top_hessian_eigenvalue": ".sharpness",
    "pca_directions": ".trajectory", "trajectory": ".trajectory"})

if TYPE_CHECKING:
    from .compare import compare_sharpness, sharpness_of_run
    from .directions import filter_normalize, random_direction, random_directions
    from .evaluate import Problem, accuracy
    from .line import interpolate
    from .plane import plane
    from .results import Line, Surface
    from .runs import problem_for_run, run_landscape
    from .sharpness import expected_sharpness, top_hessian_eigenvalue
    from .trajectory import pca_directions, trajectory
