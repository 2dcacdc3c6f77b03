"""Bad input to the command line: one clear line on stderr, a non-zero exit, and nothing on disk lost."""
import shutil

import pytest

from conftest import ROOT, real_text, run_main
from model import rundir


def run_cli(module, *args):
    """(exit status, last stderr line, stderr line count)."""
    code, stderr = run_main(module, *args)
    lines = stderr.strip().splitlines()
    return code, lines[-1] if lines else "", len(lines)


@pytest.mark.parametrize("content, message", [
    (b"", "file is empty"),
    ((ROOT / "docs" / "browse.png").read_bytes()[:50_000], "binary"),  # a real binary file
    (real_text("austen.txt")[:5000].replace("'", "\u2019").encode("cp1252"), "not valid UTF-8"),
])
def test_train_refuses_bad_text(tmp_path, content, message):
    corpus = tmp_path / "corpus.txt"
    corpus.write_bytes(content)
    code, line, n = run_cli("model.train", corpus, "--run", tmp_path / "run", "--max-iters", "1")
    assert code != 0 and message in line and n == 1
    assert not (tmp_path / "run").exists()


def test_train_refuses_missing_path_and_too_short_corpus(tmp_path):
    code, line, n = run_cli("model.train", tmp_path / "missing.txt", "--run", tmp_path / "run")
    assert code != 0 and "no such file" in line and n == 1
    short = tmp_path / "short.txt"
    short.write_text(real_text("names.txt")[:1200], encoding="utf-8")
    code, line, n = run_cli("model.train", short, "--run", tmp_path / "run", "--max-iters", "1")
    assert code != 0 and "training text too short" in line and n == 1
    assert not (tmp_path / "run" / "run.json").exists()


def test_resume_with_another_vocabulary_is_refused_and_keeps_the_run(tmp_path, tiny_run):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    before = {p.name: p.read_bytes() for p in rundir.checkpoints(run).values()}
    log_before = (run / "log.csv").read_bytes()
    other = tmp_path / "latex.tex"
    other.write_text(real_text("latex.tex")[:60_000], encoding="utf-8")
    code, line, n = run_cli("model.train", other, "--run", run, "--resume", "--max-iters", "5")
    assert code != 0 and "another vocabulary" in line and n == 1
    assert {p.name: p.read_bytes() for p in rundir.checkpoints(run).values()} == before
    assert (run / "log.csv").read_bytes() == log_before


def test_sample_and_record_refuse_a_wrong_run_path(tmp_path):
    for module in ("model.sample", "model.record"):
        code, line, n = run_cli(module, tmp_path / "nope")
        assert code != 0 and "not a run directory" in line and n == 1
