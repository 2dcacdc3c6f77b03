"""The cell atlas: every cell against every concept, each cell's best concept, the interpretable fraction."""
import json
import subprocess
import sys

import numpy as np

from conftest import ROOT, real_text, synthetic_recording
from viz import atlas
from viz.concepts import CONCEPTS, concept_values

TEXT = real_text("war_and_peace.txt")[60_000:66_000]


def planted(tmp_path):
    """Cell 0:3 c is the quote detector, 1:5 h counts line position (upside down), 1:1 c marks uppercase letters."""
    rng = np.random.default_rng(1)
    quotes = concept_values("quotes", TEXT).astype(np.float32)
    line = concept_values("line-position", TEXT)
    upper = concept_values("uppercase", TEXT).astype(np.float32)
    return synthetic_recording(tmp_path / "run" / "recordings" / "iter-000500", TEXT, planted={
        ("c", 0, 3): quotes + 0.3 * rng.standard_normal(len(TEXT)),
        ("h", 1, 5): -line / 70,
        ("c", 1, 1): upper + 0.01 * rng.standard_normal(len(TEXT))})


def test_the_atlas_finds_each_planted_cell_with_its_concept(tmp_path):
    rec = planted(tmp_path)
    scores, metrics, left_out = atlas.compute(rec)
    assert len(scores) == 2 * 8 * 2 and set(scores.columns) | set(left_out) == set(CONCEPTS)
    assert "url" in left_out and "wikilink" in left_out  # a novel has none: constant, left out with why
    best = atlas.best_concepts(scores, metrics)
    assert best.loc[(0, 3, "c"), "best"] == "quotes" and best.loc[(0, 3, "c"), "interpretable"]
    assert best.loc[(1, 5, "h"), "best"] in ("line-position", "chars-to-newline")
    assert best.loc[(1, 1, "c"), "best"] == "uppercase" and best.loc[(1, 1, "c"), "score"] > 0.99
    cells = atlas.best_cells(scores)
    assert cells.loc["quotes", "cell"] == (0, 3, "c") and cells.loc["line-position", "cell"] == (1, 5, "h")
    noise = best.drop([(0, 3, "c"), (1, 5, "h"), (1, 1, "c")])
    assert not noise["interpretable"].any()  # random cells pass no threshold
    fractions = atlas.fractions(best)
    assert fractions["all"] == 3 / 32 and fractions["layer 0"] == 1 / 16 and fractions["layer 1"] == 2 / 16


def test_the_atlas_is_cached_beside_the_recording(tmp_path, monkeypatch):
    rec = planted(tmp_path)
    first = atlas.atlas(rec)
    assert (rec.path / atlas.CACHE).is_file()
    monkeypatch.setattr(atlas, "compute", lambda *a, **k: (_ for _ in ()).throw(AssertionError("recomputed")))
    again = atlas.atlas(rec)
    assert again[0].equals(first[0].round(5)) and again[1] == first[1] and again[2] == first[2]


def test_the_atlas_cli_prints_the_fractions_and_writes_the_table(tmp_path):
    rec = planted(tmp_path)
    run = rec.path.parents[1]
    out = subprocess.run([sys.executable, "-m", "viz.rank", str(run), "--atlas", "--json", "--csv",
                          str(tmp_path / "atlas.csv")], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["fractions"]["all"] == 3 / 32
    assert result["best_cells"]["quotes"] == {"layer": 0, "cell": 3, "kind": "c", "score": result["best_cells"]["quotes"]["score"]}
    table = (tmp_path / "atlas.csv").read_text().splitlines()
    assert table[0].startswith("layer,cell,kind,quotes") and len(table) == 33
    text = subprocess.run([sys.executable, "-m", "viz.rank", str(run), "--atlas"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120).stdout
    assert "interpretable fraction: layer 0 6.2%, layer 1 12.5%, all 9.4%" in text
