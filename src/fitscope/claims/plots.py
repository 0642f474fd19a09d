"""The layout a claim's figure of one row of panels ends with: its title and the panels'
axis titles and types (:func:`finish`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go

Axis = str | tuple[str | None, str] | None  # a title, (title, type such as "log"), or None


def finish(fig: go.Figure, title: str, x: Sequence[Axis] = (), y: Sequence[Axis] = (),
           **layout: Any) -> go.Figure:
    """``fig`` with its ``title`` and, for the panels of its one row (made by
    ``make_subplots``; the first panel first), the x and y axes: a title, a (title, type)
    pair ("log" for a log axis; a None title keeps the title), or None to leave that axis
    as it is. ``layout``: more of ``fig.update_layout``'s arguments."""
    for update, axes in ((fig.update_xaxes, x), (fig.update_yaxes, y)):
        for col, axis in enumerate(axes, 1):
            if axis is not None:
                text, kind = (axis, None) if isinstance(axis, str) else axis
                update(row=1, col=col, **({"title_text": text} if text is not None else {}),
                       **({"type": kind} if kind else {}))
    fig.update_layout(title=title, **layout)
    return fig
