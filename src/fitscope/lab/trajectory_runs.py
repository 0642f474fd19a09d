"""Deprecated: moved to :mod:`fitscope.landscape.trajectory_records`; importing this name
warns, and a later release removes it. The name is that module itself, so
attributes set on it reach the code that uses them."""

import sys
import warnings

import fitscope.landscape.trajectory_records as _moved

warnings.warn("fitscope.lab.trajectory_runs moved to fitscope.landscape.trajectory_records; "
              "import it from there", DeprecationWarning, stacklevel=2)
sys.modules[__name__] = _moved
