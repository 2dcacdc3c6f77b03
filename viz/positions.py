"""Where a cell is strongest: the positions worth showing as excerpts (Browse and Find both list them)."""
import numpy as np


def strongest_positions(values, k, spacing):
    """Up to k positions of largest value, at least `spacing` apart (so excerpts do not overlap), largest first."""
    values = np.nan_to_num(np.asarray(values, dtype=np.float64), nan=-np.inf)
    m = min(len(values), k * spacing * 2)  # each choice rules out < 2 * spacing positions: enough candidates
    candidates = np.argpartition(-values, m - 1)[:m] if m else []
    chosen = []
    for p in sorted(candidates, key=lambda p: (-values[p], p)):
        if all(abs(p - q) >= spacing for q in chosen):
            chosen.append(int(p))
            if len(chosen) == k:
                break
    return chosen
