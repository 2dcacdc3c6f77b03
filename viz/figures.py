"""Plotly figures for the dashboard.

Figures are built from summaries computed here (bin counts), never from raw series, so a figure costs the
browser a few kilobytes however long the recording is.
"""
import numpy as np
import plotly.graph_objects as go

from viz.colors import LEVEL_COLORS, N_LEVELS, quantize, value_range

BINS_PER_LEVEL = 4


def histogram(shown, kind, title):
    """Distribution of one cell's displayed values, each bar in the colour the text uses for it (a legend too)."""
    lo, hi = value_range(kind)
    edges = np.linspace(lo, hi, N_LEVELS * BINS_PER_LEVEL + 1)
    shown = np.asarray(shown, dtype=np.float32)
    counts, _ = np.histogram(np.clip(shown[~np.isnan(shown)], lo, hi), edges)
    centers = (edges[:-1] + edges[1:]) / 2
    colors = [LEVEL_COLORS[k] for k in quantize(centers, lo, hi)]
    bar = go.Bar(x=np.round(centers, 4), y=counts, width=(hi - lo) / len(counts),
                 marker={"color": colors, "line": {"width": 0}}, hovertemplate="%{x:.2f}: %{y} positions<extra></extra>")
    fig = go.Figure(bar)
    fig.update_layout(title={"text": title, "font": {"size": 12}}, height=220, margin={"l": 45, "r": 10, "t": 30, "b": 30},
                      bargap=0, plot_bgcolor="#fff", xaxis={"range": [lo, hi], "showgrid": False},
                      yaxis={"title": {"text": "positions"}, "gridcolor": "#eee"})
    return fig


# ---------------------------------------------------------------------------------------------------------
# Compare view (viz/app/compare.py; written by the compare helper): what changes over training.

MAX_LOSS_POINTS = 500
METRIC_LABELS = {"auroc": "AUROC (folded to ≥ 0.5)", "spearman": "|Spearman r|", "pearson": "|Pearson r|"}


def loss_curve(log, marked=()):
    """Training loss (averaged over at most MAX_LOSS_POINTS stretches, so a long log stays a small figure) and
    validation loss against iteration, with a dotted line at each iteration in `marked` (the checkpoints shown)."""
    fig = go.Figure()
    if len(log) and {"iteration", "train_loss"} <= set(log.columns):
        stretches = np.array_split(np.arange(len(log)), min(len(log), MAX_LOSS_POINTS))
        iteration, train = log["iteration"].to_numpy(float), log["train_loss"].to_numpy(float)
        fig.add_scatter(x=[iteration[s].mean() for s in stretches], y=[np.nanmean(train[s]) for s in stretches],
                        mode="lines", name="train", line={"color": "#8c96c6"})
    if len(log) and {"iteration", "val_loss"} <= set(log.columns):
        val = log[log["val_loss"].notna()]
        fig.add_scatter(x=val["iteration"], y=val["val_loss"], mode="lines+markers", name="validation",
                        line={"color": "#188546"})
    if not fig.data:
        fig.add_annotation(text="no training log (log.csv) in this run", showarrow=False, x=0.5, y=0.5,
                           xref="paper", yref="paper")
    for x in marked:
        fig.add_vline(x=x, line={"dash": "dot", "color": "#999", "width": 1})
    fig.update_layout(height=260, margin={"l": 50, "r": 10, "t": 10, "b": 40}, plot_bgcolor="#fff",
                      legend={"orientation": "h", "y": 1.02, "yanchor": "bottom"},
                      xaxis={"title": {"text": "iteration"}, "gridcolor": "#eee"},
                      yaxis={"title": {"text": "loss (nats per char)"}, "gridcolor": "#eee"})
    return fig


def score_vs_iteration(points, concept, cell_label, metric):
    """A concept's best cell score and one cell's score at each checkpoint.

    points: [{iteration, best, best_cell, best_sign, cell, cell_sign}, ...] oldest first; metric as in
    viz.ranking (auroc, spearman, pearson)."""
    x = [p["iteration"] for p in points]
    sign = {1: "high inside", -1: "low inside"} if metric == "auroc" else {1: "rises with it", -1: "falls with it"}
    fig = go.Figure()
    fig.add_scatter(x=x, y=[p["best"] for p in points], mode="lines+markers", name="best cell",
                    customdata=[[p["best_cell"], sign[int(p["best_sign"])]] for p in points],
                    hovertemplate="iter %{x}: cell %{customdata[0]} %{y:.3f} (%{customdata[1]})<extra></extra>",
                    line={"color": "#999"})
    fig.add_scatter(x=x, y=[p["cell"] for p in points], mode="lines+markers", name=f"cell {cell_label}",
                    customdata=[sign[int(p["cell_sign"])] for p in points],
                    hovertemplate="iter %{x}: %{y:.3f} (%{customdata})<extra></extra>", line={"color": "#188546"})
    fig.update_layout(height=260, margin={"l": 50, "r": 10, "t": 10, "b": 40}, plot_bgcolor="#fff",
                      legend={"orientation": "h", "y": 1.02, "yanchor": "bottom"},
                      xaxis={"title": {"text": "iteration"}, "gridcolor": "#eee"},
                      yaxis={"title": {"text": f"{concept}: {METRIC_LABELS.get(metric, metric or 'score')}"},
                             "gridcolor": "#eee", "range": [0.5 if metric == "auroc" else 0, 1.02]})
    return fig
