"""Studies: sweeps of run configs over seeds, a crash-safe store, and reports.

See ``docs/studies.md``. The pieces:

- :class:`StudySpec` (``spec.py``): a TOML study file expanded into runs;
- :class:`Store` (``store.py``): the SQLite run store;
- :func:`run_study` (``runner.py``): train what the store lacks, locally or on Ray;
- :func:`build_report` (``report.py``): statistics over seeds, HTML and terminal.
"""

from .runner import StudyError, run_study
from .spec import StudySpec, StudySpecError
from .store import Store

__all__ = ["StudySpec", "StudySpecError", "Store", "run_study", "StudyError"]
