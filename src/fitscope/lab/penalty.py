"""Deprecated: moved to :mod:`fitscope.regularization_paths`; importing this name warns,
and a later release removes it. The name is that module itself, so attributes
set on it reach the code that uses them."""

import sys
import warnings

import fitscope.regularization_paths as _moved

warnings.warn("fitscope.lab.penalty moved to fitscope.regularization_paths; import it "
              "from there", DeprecationWarning, stacklevel=2)
sys.modules[__name__] = _moved
