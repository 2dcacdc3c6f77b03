"""Which cell of run B is cell X of run A?

Two runs (different seeds, sizes or corpora) number their cells arbitrarily, so cell 3:17 of one has nothing
to do with cell 3:17 of the other. Over the same text, though, a cell that does the same job moves the same
way: we pair cells by the Pearson correlation of their activations. The sign is kept (a quote detector can be
learned upside down) and the best partner is chosen by |r|. Within one run the cell index is stable across
checkpoints and is used as is. An LSTM and a GRU or vanilla RNN share only h, so they are matched by h.
"""
import numpy as np
import pandas as pd

from model.errors import CellscopeError


class MatchError(CellscopeError, ValueError):
    """Two recordings that cannot be compared cell by cell."""


def correlations(a, b, chunk=4096):
    """Pearson r between every row of a [m, n] and every row of b [k, n] -> float32 [m, k].

    a and b may be lazy (RecordedRows): `chunk` positions are read at a time, so memory stays O((m + k) * chunk)
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


class RecordedRows:
    """One kind of a recording's cells as rows [cells, n] for correlations(): read a chunk of positions at a time
    with pread (Recording.states), never through a memory map that would fault if a file shrank under the server.
    rows: flat cell indices (layer * cells + cell) to keep, or None for every cell."""

    def __init__(self, rec, kind, rows=None):
        self.rec, self.kind, self.rows = rec, kind, rows
        self.shape = (rec.layers * rec.cells if rows is None else len(rows), rec.n_chars)

    def __len__(self):
        return self.shape[0]

    def __getitem__(self, key):
        start, stop, _ = key[1].indices(self.rec.n_chars)
        block = self.rec.states(self.kind, start, stop).reshape(-1, stop - start)
        return block if self.rows is None else block[self.rows]


def matching_kind(rec_a, rec_b, kind):
    """The kind to match two recordings' cells by: `kind` when both hold it, else h, which every cell type has."""
    return kind if kind in rec_a.kinds and kind in rec_b.kinds else "h"


def match_cells(rec_a, rec_b, kind="c", cells=None, chunk=4096):
    """For each cell of A (all layers, or only `cells` = [(layer, cell), ...]) the best-correlated cell of B.

    Returns a DataFrame with layer_a, cell_a, layer_b, cell_b, corr (signed Pearson r; chosen by |r|).
    Both recordings must be over the same text: correlation over different text means nothing.
    """
    if rec_a.text != rec_b.text:
        raise MatchError(f"cannot match cells: {rec_a.path} and {rec_b.path} were recorded over different text "
                         f"({rec_a.n_chars} vs {rec_b.n_chars} chars); record both over the same text file")
    if cells is None:
        cells = [(layer, cell) for layer in range(rec_a.layers) for cell in range(rec_a.cells)]
        rows_a = RecordedRows(rec_a, kind)
    else:
        rows_a = RecordedRows(rec_a, kind, [layer * rec_a.cells + cell for layer, cell in cells])
    r = correlations(rows_a, RecordedRows(rec_b, kind), chunk=chunk)
    best = np.abs(r).argmax(axis=1)
    layer_a, cell_a = np.array(cells, dtype=np.int64).reshape(-1, 2).T
    return pd.DataFrame({"layer_a": layer_a, "cell_a": cell_a,
                         "layer_b": best // rec_b.cells, "cell_b": best % rec_b.cells,
                         "corr": r[np.arange(len(r)), best]})
