"""Data: built-in sets, user files, splits and preprocessing (see ``docs/data.md``).

:func:`load_data` (in :mod:`fitscope.data.load`) turns a
:class:`~fitscope.config.DataConfig` into :class:`DataSplits`. Every problem with a data
file is a :class:`DataError` naming the file, or ``FileNotFoundError`` for a missing one.
The names below are imported on first use (:mod:`fitscope._lazy`), so that
:mod:`fitscope.data.fingerprint`, which a run id needs, loads without torch.
"""

from typing import TYPE_CHECKING

from fitscope._lazy import lazy_package

__all__ = ["DataError", "DataSplits", "load_data", "read_idx", "write_idx"]
lazy_package(__name__, {"DataError": ".errors", "DataSplits": ".load", "load_data": ".load",
                        "read_idx": ".idx", "write_idx": ".idx"})

if TYPE_CHECKING:
    from .errors import DataError
    from .idx import read_idx, write_idx
    from .load import DataSplits, load_data
