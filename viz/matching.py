"""Which cell of run B is cell X of run A?

Two runs (different seeds, sizes or corpora) number their cells arbitrarily, so cell 3:17 of one has nothing
to do with cell 3:17 of the other. Over the same text, though, a cell that does the same job moves the same
way: we pair cells by the Pearson correlation of their activations. The sign is kept (a quote detector can be
learned upside down) and the best partner is chosen by |r|. Within one run the cell index is stable across
checkpoints and is used as is.
"""
import numpy as np
import pandas as pd

from model.errors import CellscopeError


class MatchError(CellscopeError, ValueError):
    """Two recordings that cannot be compared cell by cell."""


def correlations(a, b, chunk=4096):
    """Pearson r between every row of a [m, n] and every row of b [k, n] -> float32 [m, k].

    a and b may be memory maps: `chunk` positions are read at a time, so memory stays O((m + k) * chunk)
    however long the text is. Rows are centered with their mean and summed as products (one matrix product per
    chunk); a constant row correlates 0 with everything rather than NaN.
    """
    m, n = a.shape
    if b.shape[1] != n:
        raise MatchError(f"series lengths differ: {n} vs {b.shape[1]}")
    mean_a, mean_b = np.zeros(m), np.zeros(len(b))
    for t in range(0, n, chunk):
        mean_a += np.asarray(a[:, t:t + chunk], dtype=np.float64).sum(axis=1)
        mean_b += np.asarray(b[:, t:t + chunk], dtype=np.float64).sum(axis=1)
    mean_a, mean_b = (mean_a / n).astype(np.float32), (mean_b / n).astype(np.float32)
    gram = np.zeros((m, len(b)), np.float32)
    ss_a, ss_b = np.zeros(m, np.float32), np.zeros(len(b), np.float32)
    for t in range(0, n, chunk):
        xa = np.asarray(a[:, t:t + chunk], dtype=np.float32) - mean_a[:, None]
        xb = np.asarray(b[:, t:t + chunk], dtype=np.float32) - mean_b[:, None]
        gram += xa @ xb.T
        ss_a += np.einsum("ij,ij->i", xa, xa)
        ss_b += np.einsum("ij,ij->i", xb, xb)
    denom = np.sqrt(np.outer(ss_a, ss_b))
    return np.divide(gram, denom, out=np.zeros_like(gram), where=denom > 0)


def match_cells(rec_a, rec_b, kind="c", cells=None, chunk=4096):
    """For each cell of A (all layers, or only `cells` = [(layer, cell), ...]) the best-correlated cell of B.

    Returns a DataFrame with layer_a, cell_a, layer_b, cell_b, corr (signed Pearson r; chosen by |r|).
    Both recordings must be over the same text: correlation over different text means nothing.
    """
    if rec_a.text != rec_b.text:
        raise MatchError(f"cannot match cells: {rec_a.path} and {rec_b.path} were recorded over different text "
                         f"({rec_a.n_chars} vs {rec_b.n_chars} chars); record both over the same text file")
    arr_a, arr_b = rec_a.array(kind), rec_b.array(kind)
    if cells is None:
        cells = [(layer, cell) for layer in range(rec_a.layers) for cell in range(rec_a.cells)]
        rows_a = arr_a.reshape(rec_a.layers * rec_a.cells, rec_a.n_chars)
    else:
        rows_a = np.stack([arr_a[layer, cell] for layer, cell in cells])
    rows_b = arr_b.reshape(rec_b.layers * rec_b.cells, rec_b.n_chars)
    r = correlations(rows_a, rows_b, chunk=chunk)
    best = np.abs(r).argmax(axis=1)
    layer_a, cell_a = np.array(cells, dtype=np.int64).reshape(-1, 2).T
    return pd.DataFrame({"layer_a": layer_a, "cell_a": cell_a,
                         "layer_b": best // rec_b.cells, "cell_b": best % rec_b.cells,
                         "corr": r[np.arange(len(r)), best]})
