"""python -m viz.rank as a user runs it, on a synthetic run: three recordings over the same War and Peace text,
in which a quote cell grows clearer from checkpoint to checkpoint."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import real_text
from model import rundir
from model.recording import Recording, RecordingWriter
from viz import score_cache
from viz.concepts import CONCEPTS, concept_values
from viz.rank import main, rank_run
from viz.ranking import rank_recording

ROOT = Path(__file__).resolve().parents[1]
WAR_AND_PEACE = real_text("war_and_peace.txt")
START = WAR_AND_PEACE.index('\n\n"', 5000) + 2  # a paragraph that opens a quotation: quotes in step
TEXT = WAR_AND_PEACE[START:START + 3000]
KEYS = ["checkpoint", "iteration", "layer", "cell", "kind", "score", "sign", "metric"]


def rank(*args):
    return subprocess.run([sys.executable, "-m", "viz.rank", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """runs/demo with recordings iter-000100/200/300 (2 layers x 16 cells); cell 1:4 of c is the quotes mask
    plus noise that shrinks with training."""
    run = tmp_path_factory.mktemp("runs") / "demo"
    quotes = concept_values("quotes", TEXT)
    rng = np.random.default_rng(0)
    for iteration, noise in ((100, 3.0), (200, 1.0), (300, 0.2)):
        name = f"iter-{iteration:06d}"
        w = RecordingWriter(run / "recordings" / name, TEXT, sorted(set(TEXT)), 2, 16, ("c", "h"),
                            meta={"checkpoint": name, "iteration": iteration})
        for kind in ("c", "h"):
            w.states[kind][...] = rng.standard_normal((2, 16, len(TEXT))).astype(np.float16)
        w.states["c"][1, 4] = (quotes + noise * rng.standard_normal(len(TEXT))).astype(np.float16)
        w.finish()
    return run


def assert_one_line_error(result, *fragments):
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def rank_in_process(capsys, *args):
    """main() as the command runs it, without a new interpreter: (exit status, stdout, stderr)."""
    with pytest.raises(SystemExit) as exit_:
        main([str(a) for a in args])
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(args, exit_.value.code, out, err)


def test_table_shows_top_cells_of_newest_checkpoint(run_dir):
    result = rank(run_dir, "--concept", "quotes", "--top", "5")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1 + 1 + 5  # title, column header, five cells
    assert lines[1].split() == KEYS
    best = lines[2].split()
    assert best[:5] == ["iter-000300", "300", "1", "4", "c"] and best[6:] == ["+1", "auroc"]
    assert float(best[5]) > 0.95


def test_json_rows(run_dir):
    result = rank(run_dir, "--regex", r'"[^"]*"', "--checkpoint", "iter-000200", "--kinds", "c", "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert len(rows) == 10
    assert all(list(row) == KEYS for row in rows)
    assert {(row["checkpoint"], row["iteration"], row["kind"]) for row in rows} == {("iter-000200", 200, "c")}
    assert (rows[0]["layer"], rows[0]["cell"], rows[0]["sign"], rows[0]["metric"]) == (1, 4, 1, "auroc")
    assert [row["score"] for row in rows] == sorted((row["score"] for row in rows), reverse=True)


def test_all_checkpoints_is_the_emergence_table(run_dir):
    result = rank(run_dir, "--concept", "quotes", "--all-checkpoints")
    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.strip().splitlines()[2:]]
    assert [row[:2] for row in rows] == [["iter-000100", "100"], ["iter-000200", "200"], ["iter-000300", "300"]]
    assert [row[2:5] for row in rows[1:]] == [["1", "4", "c"]] * 2
    scores = [float(row[5]) for row in rows]
    assert scores == sorted(scores) and scores[-1] > 0.95

    rows = json.loads(rank(run_dir, "--concept", "quotes", "--all-checkpoints", "--top", "2", "--json").stdout)
    assert [row["iteration"] for row in rows] == [100, 100, 200, 200, 300, 300]
    for path in rundir.recordings(run_dir).values():  # the scores the pages read, filled by the command line
        rec = Recording.open(path)
        assert score_cache.is_cached(rec, concept_id="quotes", kinds=("c", "h"))
        pd.testing.assert_frame_equal(score_cache.scores(rec, concept_id="quotes"),
                                      rank_recording(rec, concept_id="quotes"))


def test_list_concepts():
    result = rank("--list-concepts")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert [line.split()[0] for line in lines] == list(CONCEPTS)
    assert lines[0].split()[1] == "binary" and "double quotes" in lines[0]


def test_bad_input_is_one_line_on_stderr(run_dir, tmp_path, capsys):
    assert_one_line_error(rank(run_dir, "--concept", "quotez"), "quotez", "quotes", "line-position")
    (tmp_path / "empty").mkdir()
    assert_one_line_error(rank(tmp_path / "empty", "--concept", "quotes"),
                          f"python -m model.record {tmp_path / 'empty'}")
    cases = [
        ((run_dir, "--regex", "(unclosed"), ["(unclosed"]),
        ((tmp_path / "nope", "--concept", "quotes"), ["does not exist"]),
        ((run_dir, "--concept", "url"), ["url", "nowhere"]),  # no URL in this War and Peace text
        ((run_dir, "--concept", "quotes", "--checkpoint", "iter-000400"), ["iter-000100"]),
        ((run_dir, "--concept", "quotes", "--kinds", "c,i"), ["'i'"]),
        ((run_dir,), ["--concept"]),
        ((run_dir, "--concept", "quotes", "--regex", "x"), ["--regex"]),
        ((run_dir, "--concept", "quotes", "--top", "ten"), ["--top"]),
    ]
    for args, fragments in cases:
        assert_one_line_error(rank_in_process(capsys, *args), *fragments)


def test_real_run_every_checkpoint(tiny_run):
    """The lead's tiny trained run, recorded with gates: every kind can be ranked, one best row per checkpoint."""
    rows = rank_run(tiny_run, "quotes", kinds=("c", "h", "i", "f", "o"), all_checkpoints=True, top=1)
    assert list(rows["iteration"]) == [50, 100, 150]
    assert ((rows["score"] >= 0.5) & (rows["score"] <= 1)).all() and (rows["metric"] == "auroc").all()
    result = rank(tiny_run, "--concept", "line-position", "--json", "--top", "3")
    assert result.returncode == 0, result.stderr
    assert [row["metric"] for row in json.loads(result.stdout)] == ["spearman"] * 3
