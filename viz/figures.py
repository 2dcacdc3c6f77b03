"""Plotly figures for the dashboard.

Figures are built from summaries computed here (bin counts), never from raw series, so a figure costs the
browser a few kilobytes however long the recording is.
"""
import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from viz.colors import KIND_LABELS, LEVEL_COLORS, N_LEVELS, ZERO_LEVEL, quantize, value_range

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
                 marker={"color": colors, "line": {"width": 0}},
                 hovertemplate="%{x:.2f}: %{y} positions<extra></extra>")
    fig = go.Figure(bar)
    fig.update_layout(template="none",  # plotly's default template would add 6 kB to every response
                      title={"text": title, "font": {"size": 12}, "x": 0.02}, height=220, bargap=0,
                      margin={"l": 50, "r": 10, "t": 30, "b": 30}, font={"family": "system-ui, sans-serif"},
                      xaxis={"range": [lo, hi], "showgrid": False, "zeroline": False},
                      yaxis={"title": {"text": "positions"}, "gridcolor": "#eee", "zeroline": False})
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


def closest_ngram_order(points):
    """Which n-gram order each checkpoint's predictions are closest to ("at iteration 100 the model is a bigram
    model; at 1000, a 5-gram"), with the KL divergence to that order on hover.

    points: [{iteration, order, kl}, ...] oldest first, from the ngram.json beside each recording (viz.ngram)."""
    fig = go.Figure()
    fig.add_scatter(x=[p["iteration"] for p in points], y=[p["order"] for p in points], mode="lines+markers",
                    customdata=[p["kl"] for p in points], line={"color": "#2c3f9b", "shape": "hv"},
                    hovertemplate="iter %{x}: closest to the %{y}-gram (KL ≥ %{customdata:.3f} nats)<extra></extra>")
    fig.update_layout(height=220, margin={"l": 50, "r": 10, "t": 10, "b": 40}, plot_bgcolor="#fff",
                      xaxis={"title": {"text": "iteration"}, "gridcolor": "#eee"},
                      yaxis={"title": {"text": "closest n-gram order"}, "gridcolor": "#eee", "dtick": 1,
                             "rangemode": "tozero"})
    return fig


# ---------------------------------------------------------------------------------------------------------
# Find view (viz/app/find.py; written by the find-view helper): which cells track which concept.

LAYER_COLORS = ["#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#000000", "#f0e442"]  # Okabe-Ito


def concept_overview(best, concept_ids, layers):
    """Concepts x layers heatmap of the best cell's score.

    best: one row per (concept, layer) with concept, layer, score, strength, kind, cell, sign, metric; concepts
    in concept_ids without rows (constant on the text) stay blank. Colour is strength (2·AUROC − 1 for a binary
    concept, |r| for a continuous one) so that 0 is chance and 1 perfect on both; the number is the score."""
    z = np.full((len(concept_ids), layers), np.nan)
    text = [["" for _ in range(layers)] for _ in concept_ids]
    hover = [["not in this text" for _ in range(layers)] for _ in concept_ids]
    row_of = {c: i for i, c in enumerate(concept_ids)}
    for r in best.itertuples():
        i = row_of[r.concept]
        z[i, r.layer] = r.strength
        text[i][r.layer] = f"{r.score:.2f}"
        hover[i][r.layer] = (f"best: {r.kind} {r.layer}:{r.cell}, {METRIC_LABELS.get(r.metric, r.metric)} "
                             f"{r.score:.3f} ({'+' if r.sign > 0 else '−'})")
    fig = go.Figure(go.Heatmap(z=z.tolist(), x=[f"layer {k}" for k in range(layers)], y=list(concept_ids), text=text,
                               texttemplate="%{text}", customdata=hover, zmin=0, zmax=1, colorscale="Greens",
                               colorbar={"title": {"text": "strength"}, "thickness": 12},
                               hovertemplate="%{y}, %{x}: %{customdata}<extra></extra>", xgap=2, ygap=2))
    fig.update_layout(height=90 + 24 * len(concept_ids), margin={"l": 120, "r": 10, "t": 10, "b": 30},
                      plot_bgcolor="#f4f4f4", yaxis={"autorange": "reversed"}, xaxis={"side": "top"})
    return fig


def gate_saturation(gate_stats):
    """One point per cell: the fraction of positions where its gate is left-saturated (< 0.1) against
    right-saturated (> 0.9), one panel per gate, coloured by layer (Karpathy et al. 2015, figure 7).

    gate_stats as in a recording's gate_stats.json: {gate: {"layer_K": {"left": [...], "right": [...]}}}."""
    gates = [g for g in KIND_LABELS if g in gate_stats]  # an LSTM's i, f, o; a GRU's r, z
    fig = make_subplots(rows=1, cols=len(gates), subplot_titles=[KIND_LABELS[g] for g in gates],
                        shared_yaxes=True, horizontal_spacing=0.04)
    for col, gate in enumerate(gates, 1):
        for name in sorted(gate_stats[gate], key=lambda name: int(name.rsplit("_", 1)[1])):
            layer, stats = int(name.rsplit("_", 1)[1]), gate_stats[gate][name]
            fig.add_scatter(x=stats["left"], y=stats["right"], mode="markers", name=f"layer {layer}",
                            legendgroup=name, showlegend=col == 1, customdata=np.arange(len(stats["left"])),
                            marker={"color": LAYER_COLORS[layer % len(LAYER_COLORS)], "size": 6, "opacity": 0.75},
                            hovertemplate=f"cell {layer}:%{{customdata}}: left %{{x:.2f}}, "
                                          "right %{y:.2f}<extra></extra>",
                            row=1, col=col)
        # A cell cannot be saturated more than all the time: points lie below x + y = 1.
        fig.add_shape(type="line", x0=0, y0=1, x1=1, y1=0, line={"dash": "dot", "color": "#bbb", "width": 1},
                      row=1, col=col)
    fig.update_xaxes(range=[-0.03, 1.03], title={"text": "fraction left-saturated (< 0.1)"}, gridcolor="#eee")
    fig.update_yaxes(range=[-0.03, 1.03], gridcolor="#eee")
    fig.update_yaxes(title={"text": "fraction right-saturated (> 0.9)"}, col=1)
    fig.update_layout(height=340, margin={"l": 60, "r": 10, "t": 30, "b": 40}, plot_bgcolor="#fff",
                      legend={"orientation": "h", "y": -0.25})
    return fig


# ---------------------------------------------------------------------------------------------------------
# Atlas view (viz/app/atlas.py): every cell against every concept.

ATLAS_METRICS = {"auroc": "AUROC", "spearman": "|Spearman ρ|"}


def atlas_heatmap(scores, metrics, best):
    """Cells x concepts heatmap of viz.atlas: one row per cell, labelled "LAYER:CELL KIND", grouped by its best
    concept (groups in column order, each best first, a line between groups; a y tick at its middle names each
    group where there is room, bigger groups first, the others keep their hover) and coloured by strength
    (2·AUROC − 1, or |ρ|: 0 = chance, 1 = perfect) on the green half of the activation scale. One trace per
    metric, so each hover names its own; the raw score is the hover's number.

    scores, metrics, best: viz.atlas.atlas()'s table and metrics, and best_concepts() of them."""
    group = {c: k for k, c in enumerate(scores.columns)}
    order = best.assign(group=best["best"].map(group)).sort_values(["group", "strength"], ascending=[True, False])
    rows = [f"{layer}:{cell} {kind}" for layer, cell, kind in order.index]
    table = scores.loc[order.index]
    sizes = order["best"].value_counts(sort=False).reindex(order["best"].unique())
    firsts = sizes.cumsum() - sizes
    plot_height = min(1200, max(240, 3 * len(rows)))
    gap, ticks = 14 * len(rows) / plot_height, {}  # rows between two readable tick labels
    for concept, size in sizes.sort_values(ascending=False, kind="stable").items():  # the biggest groups first
        middle = firsts[concept] + size // 2
        if all(abs(middle - other) >= gap for other in ticks):
            ticks[middle] = f"{concept} ({size})"
    scale = [[k / (len(LEVEL_COLORS) - ZERO_LEVEL - 1), color] for k, color in enumerate(LEVEL_COLORS[ZERO_LEVEL:])]
    fig = go.Figure()
    for metric, label in ATLAS_METRICS.items():
        columns = [c for c in scores.columns if metrics[c] == metric]
        if not columns:
            continue
        raw = table[columns].to_numpy(np.float64)
        strength = 2 * raw - 1 if metric == "auroc" else raw
        fig.add_heatmap(z=np.round(strength, 3).tolist(), x=columns, y=rows, customdata=np.round(raw, 3).tolist(),
                        zmin=0, zmax=1, colorscale=scale, showscale=not fig.data, name=label,
                        colorbar={"title": {"text": "strength"}, "thickness": 12},
                        hovertemplate=f"cell %{{y}} · %{{x}}: {label} %{{customdata:.3f}}<extra></extra>", xgap=1)
    for first in firsts.iloc[1:]:
        fig.add_hline(y=first - 0.5, line={"color": "#888", "width": 1})
    fig.update_layout(height=140 + plot_height, margin={"l": 150, "r": 10, "t": 90, "b": 10},
                      plot_bgcolor="#f4f4f4", font={"family": "system-ui, sans-serif"},
                      xaxis={"side": "top", "tickangle": -45, "categoryorder": "array",
                             "categoryarray": list(scores.columns)},
                      yaxis={"autorange": "reversed", "tickmode": "array", "tickvals": [rows[i] for i in sorted(ticks)],
                             "ticktext": [ticks[i] for i in sorted(ticks)]})
    return fig
