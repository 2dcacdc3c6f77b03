import json
import shutil
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from bs4 import BeautifulSoup

from conftest import HOSTILE, real_path, real_text, run_main
from model.recording import Recording, RecordingWriter
from model.errors import CellscopeError
from viz.colors import delta_levels, loss_levels, quantize
from viz.export import main as export_main
from viz.standalone import export_html
from viz.text_html import GLYPHS

ROOT = Path(__file__).resolve().parents[1]
ITERATIONS = [100, 300, 700]
UNGLYPH = {glyph: c for c, glyph in GLYPHS.items()}


def excerpt():
    """Tolstoy's opening dialogue (double quotes, apostrophes), with the hostile string as one extra line."""
    text = real_text("war_and_peace.txt")
    start = text.index('"Well, Prince')
    return text[start:start + 600] + "\n" + HOSTILE + "\n" + text[start + 600:start + 1800]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """runs/x with three recordings; cell 1:3 is a quote detector that sharpens with training."""
    text = excerpt()
    vocab = sorted(set(text))
    run_dir = tmp_path_factory.mktemp("export") / "runs" / "x"
    run_dir.mkdir(parents=True)
    (run_dir / "run.json").write_text(json.dumps({"corpus": {"path": str(real_path("war_and_peace.txt"))}}))
    (run_dir / "log.csv").write_text("iteration,train_loss,val_loss\n100,2.9,\n100,2.8,2.750\n")
    inside = (np.cumsum([c == '"' for c in text]) % 2).astype(np.float32)
    rng = np.random.default_rng(0)
    for k, it in enumerate(ITERATIONS):
        meta = {"checkpoint": f"iter-{it:06d}", "iteration": it}
        if it != 100:
            meta["val_loss"] = 2.5 - k * 0.5  # iteration 100 has its val loss only in log.csv
        w = RecordingWriter(run_dir / "recordings" / f"iter-{it:06d}", text, vocab, 2, 8, ("c", "h"), meta)
        c = rng.normal(0, 0.7, (2, 8, len(text)))
        c[1, 3] = (2 * inside - 1) * (k + 1) + rng.normal(0, 0.3, len(text))
        w.states["c"][...] = c
        w.states["h"][...] = 0.5 * np.tanh(c)
        w.top5_ids[...] = rng.integers(0, len(vocab), (len(text), 5))
        w.top5_ids[:, 0] = vocab.index("<")
        w.top5_p[...] = np.sort(rng.dirichlet(np.ones(5), len(text)), axis=1)[:, ::-1]
        w.loss[...] = rng.uniform(0, 4, len(text))
        w.loss[-1] = np.nan
        w.finish()
    return run_dir


def export(*args):
    return subprocess.run([sys.executable, "-m", "viz.export", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)


def decoded(spans):
    return "".join(UNGLYPH[s.get_text()] if s.find(class_="ws") else s.get_text() for s in spans)


def test_page_is_one_standalone_document_with_legend_and_colored_text(run, tmp_path):
    out = tmp_path / "page.html"
    result = export(run, "--cell", "1:3", "--stop", 1200, "--top5", "-o", out)
    assert result.returncode == 0, result.stderr
    page = out.read_text(encoding="utf-8")
    soup = BeautifulSoup(page, "html.parser")

    assert page.startswith("<!DOCTYPE html>") and page.count("<html") == 1 and page.count("</html>") == 1
    assert not soup.find_all(["script", "img", "link", "iframe", "object", "embed"])
    assert not [t for t in soup.find_all(True) if t.has_attr("src") or t.has_attr("href")]
    assert not re.search(r"(src|href)\s*=\s*[\"']?https?://|url\(", page)
    assert "<script>alert" not in page and "<img src" not in page

    legend = {th.get_text(): td.get_text() for th, td in zip(soup.select("table.legend th"), soup.select("table.legend td"))}
    assert legend["run"] == "x" and legend["corpus"] == "war_and_peace_excerpt.txt"
    assert legend["cell"] == "layer 1, cell 3" and "tanh" in legend["kind"]
    assert legend["checkpoint"] == "iter-000700" and legend["iteration"] == "700"  # newest by default
    assert legend["val loss"] == "1.500 nats"

    rec = Recording.open(run / "recordings" / "iter-000700")
    spans = soup.select(".cs-text .ch")
    assert len(spans) == 1200 and decoded(spans) == rec.text[:1200]
    assert HOSTILE in decoded(spans)
    levels = quantize(np.tanh(rec.series(1, 3, "c", 0, 1200)))
    assert [s["class"] for s in spans] == [["ch", f"v{k}"] for k in levels.tolist()]
    assert "tanh(c)" in spans[0]["title"] and "next: <" in spans[0]["title"]
    columns = soup.select(".cs-text .col")
    assert len(columns) == 1200 and all(len(col.select(".g")) == 5 for col in columns)
    assert columns[0].select(".g")[0].get_text() == "<"


def test_stacked_page_has_one_row_per_checkpoint(run, tmp_path):
    out = tmp_path / "stack.html"
    result = export(run, "--cell", "1:3", "--start", 100, "--stop", 400,
                    "--checkpoint", "iter-000700", "--checkpoint", "iter-000100", "-o", out)
    assert result.returncode == 0, result.stderr
    rows = BeautifulSoup(out.read_text(encoding="utf-8"), "html.parser").select(".row")
    labels = [row.select_one(".row-label").get_text() for row in rows]
    assert labels == ["iter-000100 · iteration 100 · val loss 2.750", "iter-000700 · iteration 700 · val loss 1.500"]
    for row in rows:
        assert [int(s["data-i"]) for s in row.select(".ch")] == list(range(100, 400))

    result = export(run, "--cell", "1:3", "--all-checkpoints", "--title", "quotes <3", "-o", out)
    assert result.returncode == 0, result.stderr
    soup = BeautifulSoup(out.read_text(encoding="utf-8"), "html.parser")
    assert [r.select_one(".row-label").get_text().split(" ·")[0] for r in soup.select(".row")] == \
        [f"iter-{it:06d}" for it in ITERATIONS]
    assert soup.title.get_text() == "quotes <3"
    saturated = [sum(s["class"][1] in ("v0", "v20") for s in r.select(".ch")) for r in soup.select(".row")]
    assert saturated[0] < saturated[-1]  # the detector appears across training


def test_export_html_is_callable_for_the_app(run):
    page = export_html(run, 0, 2, "h", 0, 50, ["iter-000300"], False)
    soup = BeautifulSoup(page, "html.parser")
    assert len(soup.select(".ch")) == 50 and not soup.select(".col")
    assert "hidden state" in page and "iter-000300" in page


@pytest.mark.parametrize("args, message", [
    (["{runs}/missing", "--cell", "0:0"], "no run directory"),
    (["{empty}", "--cell", "0:0"], "python -m model.record"),
    (["{run}", "--cell", "2:0"], "out of range"),
    (["{run}", "--cell", "0:8"], "out of range"),
    (["{run}", "--cell", "1-3"], "LAYER:CELL"),
    (["{run}", "--cell", "0:0", "--checkpoint", "iter-000999"], "iter-000999"),
    (["{run}", "--cell", "0:0", "--kind", "f"], "not recorded"),
    (["{run}", "--cell", "0:0", "--start", "5000"], "window"),
    (["{run}"], "--cell"),
])
def test_bad_input_is_one_line_and_leaves_the_old_page(run, tmp_path, args, message):
    empty = tmp_path / "runs" / "empty"
    empty.mkdir(parents=True)
    out = tmp_path / "page.html"
    out.write_text("the previous page")
    result = export(*[a.format(run=run, runs=run.parent, empty=empty) for a in args], "-o", out)
    assert result.returncode == 2
    assert message in result.stderr and result.stderr.strip().count("\n") == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert out.read_text() == "the previous page"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["page.html", "runs"]


def test_export_never_imports_torch():
    code = "import sys, viz.export; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0


def test_coloured_by_loss_or_advantage_each_character_shows_its_own_loss(run, tmp_path):
    """As Browse colours by loss: character t by the loss of predicting it, which the recording holds at t - 1."""
    ours = tmp_path / "x"
    shutil.copytree(run, ours)
    rec = Recording.open(ours / "recordings" / "iter-000700")
    own = np.r_[np.nan, np.load(rec.path / "loss.npy")[99:399]]  # characters 100..400
    page = export_html(ours, 1, 3, "c", 100, 400, colour="loss")
    assert [int(v) for v in re.findall(r'<span class="ch l(\d+)"', page)] == loss_levels(own[1:]).tolist()
    assert 'class="v' not in page.split("</table>")[1]  # neither the text nor the bar uses the cell's scale
    with pytest.raises(CellscopeError, match="python -m viz.ngram"):
        export_html(ours, 1, 3, "c", 100, 400, colour="advantage")

    ngram = np.random.default_rng(5).uniform(0, 4, rec.n_chars).astype(np.float32)
    np.save(rec.path / "ngram_loss.npy", ngram)
    page = export_html(ours, 1, 3, "c", 100, 400, colour="advantage")
    want = delta_levels(own[1:] - np.r_[ngram[99:399]]).tolist()
    assert [int(v) for v in re.findall(r'<span class="ch d(\d+)"', page)] == want
    soup = BeautifulSoup(page, "html.parser")
    first = soup.find("span", attrs={"data-i": "101"})["title"]
    assert f"LSTM loss {own[2]:.2f} nats, n-gram {ngram[100]:.2f}" in first


def test_the_command_line_colours_by_loss_and_says_where_the_ngram_is_missing(run, tmp_path):
    out = tmp_path / "loss.html"
    export_main([str(run), "--cell", "1:3", "--stop", "200", "--colour", "loss", "-o", str(out)])
    assert len(re.findall(r'<span class="ch l\d+"', out.read_text(encoding="utf-8"))) == 200
    code, stderr = run_main("viz.export", run, "--cell", "1:3", "--colour", "advantage", "-o", tmp_path / "a.html")
    assert code == 2 and stderr.count("\n") == 1 and "python -m viz.ngram" in stderr
    assert not (tmp_path / "a.html").exists()
