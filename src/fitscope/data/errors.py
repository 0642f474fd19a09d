"""The one exception type a data source raises for data it cannot use."""

from __future__ import annotations


class DataError(ValueError):
    """A data file or data set that cannot be used.

    The message names the file (or the data set) and what is wrong with it, e.g.
    ``data/iris.csv: line 7: the target cell is empty``. A subclass of ``ValueError``, so
    callers that catch ``ValueError`` keep working; the command line turns it into exit
    status 2.
    """
