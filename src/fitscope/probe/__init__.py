"""See inside training: per-layer probes, theory beside measurement, and diagnosis.

- :func:`probe` (``with fitscope.probe(model, every=10) as p``): tidy per-layer records
  on any ``nn.Module`` (:mod:`fitscope.probe.hooks`, :mod:`fitscope.probe.stats`);
- :mod:`fitscope.probe.theory`: the variance each layer should have at initialization,
  beside what the probe measures, and the notes' linear toy network;
- :func:`diagnose`: findings from a run or from a model and a batch
  (:mod:`fitscope.probe.findings`);
- :mod:`fitscope.probe.tensorboard`: TensorBoard event files (optional extra).

Calling this package calls :func:`probe` (``fitscope.probe(model)``); its modules are
attributes imported on first use (``fitscope.probe.theory.theory_table``).
"""

from typing import TYPE_CHECKING

from .._lazy import lazy_package

__all__ = ["Finding", "Probe", "diagnose", "probe"]
lazy_package(__name__, {
    "Finding": ".findings", "diagnose": ".findings", "Probe": ".hooks", "probe": ".hooks"},
    call="probe")

if TYPE_CHECKING:
    from .findings import Finding, diagnose
    from .hooks import Probe, probe
