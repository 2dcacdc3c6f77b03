"""Project-wide rules: viz/ never loads torch, and every command answers bad input with one line, exit 2."""
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import viz
from conftest import run_main

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = [["-m", "model.train"], ["-m", "model.record"], ["-m", "model.sample"], ["-m", "model.intervene"],
            ["-m", "viz.rank"], ["-m", "viz.export"], ["-m", "viz.ngram"], ["app.py"]]


def run(args, cwd=ROOT):
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_no_viz_module_imports_torch():
    """Every viz module and every dashboard page (create_app imports them) in a fresh interpreter."""
    modules = [m.name for m in pkgutil.walk_packages(viz.__path__, "viz.") if not m.name.startswith("viz.app.")]
    code = (f"import sys, importlib\nfor m in {modules!r}: importlib.import_module(m)\n"
            "from viz.app import create_app\ncreate_app([])\n"
            "import viz.app.browse, viz.app.find, viz.app.compare\n"
            "sys.exit('torch' in sys.modules)")
    result = run(["-c", code])
    assert result.returncode == 0, result.stderr or "torch was imported"
    assert len(modules) >= 10  # the walk found the package's modules


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[-1])
def test_every_cli_answers_a_bad_flag_with_one_line_and_exit_2(command):
    result = run([*command, "--no-such-flag"])
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: "), result.stderr


@pytest.mark.parametrize("command", COMMANDS[1:], ids=lambda c: c[-1])
def test_every_cli_answers_a_missing_run_with_one_line_and_exit_2(command, tmp_path):
    """The bad-flag test above runs each command line as a process; its checks of the input run in this one."""
    extra = {"model.intervene": ["--cell", "0:0", "--ablate", "zero"], "viz.rank": ["--concept", "quotes"],
             "viz.export": ["--cell", "0:0", "-o", str(tmp_path / "page.html")]}.get(command[-1], [])
    module = command[-1].removesuffix(".py")
    code, stderr = run_main(module, tmp_path / "no-such-run", *extra)
    assert code == 2, stderr
    assert stderr.count("\n") == 1 and stderr.startswith("error: "), stderr
    assert "no-such-run" in stderr


def test_train_answers_a_bad_corpus_with_one_line_and_exit_2(tmp_path):
    binary = tmp_path / "data.bin"
    binary.write_bytes(bytes(range(256)) * 10)
    code, stderr = run_main("model.train", binary, "--run", tmp_path / "run")
    assert code == 2 and stderr.startswith("error: ") and stderr.count("\n") == 1
    assert not (tmp_path / "run").exists()
