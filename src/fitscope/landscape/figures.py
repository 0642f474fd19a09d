"""Plotly figures of landscapes, written as self-contained HTML (plotly.js inlined, no CDN).

Surfaces are coloured by log10 of the loss (a landscape spans orders of magnitude; the
minimum's basin would be one flat colour on a linear scale); the hover text shows the
loss itself.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .results import Line, Surface
from .toy import ToySurface, losses

LOG_FLOOR = 1e-12  # keeps log10 finite at a zero loss


def _log(values: np.ndarray) -> np.ndarray:
    return np.log10(np.maximum(values, LOG_FLOOR))


def line_figure(line: Line, title: str = "", fig: go.Figure | None = None,
                name: str = "") -> go.Figure:
    """Loss (top, log scale) and accuracy (below, when there is one) along the line;
    t = 0 and t = 1 marked. With ``fig`` (a figure this function made) the line's traces,
    named after ``name``, are added to it: two lines on one figure."""
    if fig is not None:
        # the figure's accuracy panel, if it has one, holds traces on y2
        rows = 2 if any(t.yaxis == "y2" for t in fig.data) else 1
        prefix = f"{name} " if name else f"line {len(fig.data) + 1} "
        fig.add_trace(go.Scatter(x=line.t, y=line.loss, name=prefix + "loss",
                                 mode="lines+markers"), row=1, col=1)
        if line.accuracy is not None and rows == 2:
            fig.add_trace(go.Scatter(x=line.t, y=line.accuracy, name=prefix + "accuracy",
                                     mode="lines+markers"), row=2, col=1)
        return fig
    prefix = f"{name} " if name else ""
    rows = 1 if line.accuracy is None else 2
    fig = make_subplots(rows=rows, cols=1, shared_xaxes=True, vertical_spacing=0.06,
                        row_heights=[0.65, 0.35][:rows] if rows == 2 else None)
    fig.add_trace(go.Scatter(x=line.t, y=line.loss, name=prefix + "loss",
                             mode="lines+markers"), row=1, col=1)
    fig.update_yaxes(title_text="loss", type="log", row=1, col=1)
    if line.accuracy is not None:
        fig.add_trace(go.Scatter(x=line.t, y=line.accuracy, name=prefix + "accuracy",
                                 mode="lines+markers"), row=2, col=1)
        fig.update_yaxes(title_text="accuracy", range=[0, 1.02], row=2, col=1)
    for t in (0.0, 1.0):
        fig.add_vline(x=t, line={"color": "grey", "dash": "dash"})
    ends = line.meta.get("ends", "theta_a -> theta_b")
    fig.update_xaxes(title_text=f"t  ({ends}: t = 0 -> t = 1)", row=rows, col=1)
    fig.update_layout(title=title or "loss along the line", template="plotly_white")
    return fig


def _path_traces(surface: Surface) -> tuple[list[go.Scatter], list[go.Scatter3d]]:
    """The training path over the contour (2-D) and over the surface (3-D)."""
    if surface.path is None:
        flat = [go.Scatter(x=[0.0], y=[0.0], mode="markers", name="center",
                           marker={"symbol": "x", "size": 12, "color": "black"})]
        return flat, []
    px, py = surface.path[:, 0], surface.path[:, 1]
    text = [f"step {s}" for s in surface.path_steps or []]
    flat = [go.Scatter(x=px, y=py, mode="lines+markers", name="training path", text=text,
                       line={"color": "white"}, marker={"size": 5, "color": "black"}),
            go.Scatter(x=px[:1], y=py[:1], mode="markers", name="init",
                       marker={"symbol": "circle-open", "size": 14, "color": "red"})]
    z = _log(surface.path_loss) if surface.path_loss is not None else np.zeros_like(px)
    solid = [go.Scatter3d(x=px, y=py, z=z, mode="lines+markers", name="path (3-D)", text=text,
                          line={"color": "black", "width": 4}, marker={"size": 2})]
    return flat, solid


def surface_figure(surface: Surface, title: str = "") -> go.Figure:
    """Contours (left) and the 3-D surface (right) of a slice, with the path if any."""
    z = _log(surface.loss)
    fig = make_subplots(rows=1, cols=2, specs=[[{"type": "xy"}, {"type": "scene"}]],
                        subplot_titles=("contours of log10 loss", "surface"),
                        column_widths=[0.5, 0.5])
    hover = "x %{x:.3g}<br>y %{y:.3g}<br>loss %{customdata:.4g}<extra></extra>"
    fig.add_trace(go.Contour(x=surface.x, y=surface.y, z=z, customdata=surface.loss,
                             hovertemplate=hover, ncontours=30, colorscale="Viridis",
                             colorbar={"title": "log10 loss", "x": 0.45}), row=1, col=1)
    fig.add_trace(go.Surface(x=surface.x, y=surface.y, z=z, colorscale="Viridis",
                             showscale=False), row=1, col=2)
    flat, solid = _path_traces(surface)
    for trace in flat:
        fig.add_trace(trace, row=1, col=1)
    for trace in solid:
        fig.add_trace(trace, row=1, col=2)
    if surface.kind == "trajectory" and surface.explained_variance:
        ev = surface.explained_variance
        xt, yt = f"PC1 ({100 * ev[0]:.1f}% of the path)", f"PC2 ({100 * ev[1]:.1f}%)"
    else:
        xt, yt = "direction 1 (filter-normalized)", "direction 2 (filter-normalized)"
    fig.update_xaxes(title_text=xt, row=1, col=1)
    fig.update_yaxes(title_text=yt, row=1, col=1)
    fig.update_scenes(xaxis_title="x", yaxis_title="y", zaxis_title="log10 loss")
    fig.update_layout(title=title or f"loss landscape ({surface.kind})",
                      template="plotly_white", height=560)
    return fig


def toy_figure(surf: ToySurface, paths: dict[str, np.ndarray], title: str = "") -> go.Figure:
    """A toy surface's contours with optimizer paths ``{name: (K, 2)}`` drawn on it."""
    xs, ys, z = surf.grid()
    shifted = np.log10(1.0 + z - surf.f_min)
    fig = go.Figure(go.Contour(x=xs, y=ys, z=shifted, ncontours=30, colorscale="Greys",
                               showscale=False, hoverinfo="skip"))
    for name, path in paths.items():
        text = [f"step {k}, f = {v:.4g}" for k, v in enumerate(losses(surf, path))]
        fig.add_trace(go.Scatter(x=path[:, 0], y=path[:, 1], mode="lines+markers", name=name,
                                 text=text, marker={"size": 3}))
    mx, my = zip(*surf.minima)
    fig.add_trace(go.Scatter(x=mx, y=my, mode="markers", name="minimum",
                             marker={"symbol": "star", "size": 14, "color": "gold"}))
    (x0, x1), (y0, y1) = surf.bounds
    # outside ticks push both axes' labels off the corner, where the first ones touched
    ticks = {"ticks": "outside", "ticklen": 5, "tickcolor": "rgba(0, 0, 0, 0)"}
    fig.update_xaxes(range=[x0, x1], title_text="x", **ticks)
    fig.update_yaxes(range=[y0, y1], title_text="y", **ticks)
    fig.update_layout(title=title or f"{surf.name}: f = {surf.formula}",
                      template="plotly_white")
    return fig


def figure_for(result: Line | Surface, title: str = "", fig: go.Figure | None = None,
               name: str = "") -> go.Figure:
    """The figure of a line or a surface; a line may be added to an existing line
    figure ``fig``. Two surfaces live on different planes, so a surface is never
    overlaid (ValueError)."""
    if isinstance(result, Line):
        return line_figure(result, title, fig, name)
    if fig is not None:
        raise ValueError("a surface has its own plane and axes: plot it on a figure of its "
                         "own (fig=None); overlaying works for lines")
    return surface_figure(result, title)


def write_html(fig: go.Figure, path: str | Path) -> Path:
    """Write ``fig`` as one self-contained HTML file (plotly.js inlined)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.write_html(path, include_plotlyjs=True, full_html=True)
    return path
