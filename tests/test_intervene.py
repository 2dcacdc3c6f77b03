"""Interventions: changed cells through the recording's own loop, against the recording and an nn.LSTMCell
reference; causality; the "which cells matter" ranking against a planted cell and against one intervention per
cell; held sampling; the CLIs' answers to bad input."""
import copy
import shutil

import numpy as np
import pytest
import torch

from model.checkpoint import load_model
from model.intervene import Change, cells_that_matter, intervene, main, parse_change, parse_clamp, sample_held
from model.recording import Recording
from model.rundir import recording_path
from model import intervene as intervene_module, sample as sample_module


@pytest.fixture(scope="module")
def trained(tiny_run):
    rec = Recording.open(recording_path(tiny_run))
    model, vocab, _ = load_model(tiny_run, rec.checkpoint)
    return model, vocab, rec


def test_clamping_cells_to_their_recorded_values_reproduces_the_recording(trained):
    model, _, rec = trained
    start, stop = 1000, 1600
    changes = [Change(1, 5, "clamp", rec.series(1, 5, "c", start, stop)),
               Change(0, 3, "clamp", rec.series(0, 3, "c", start, stop))]
    out = intervene(model, rec, changes, start, stop)
    # the window starts from the recording's float16 state and the clamps are float16 values: fp16 tolerance
    np.testing.assert_allclose(out.loss_after, out.loss_before, rtol=2e-3, atol=2e-3)
    np.testing.assert_allclose(out.top5_p_after, out.top5_p_before, atol=2e-3)
    assert (out.top5_ids_after == out.top5_ids_before).mean() > 0.99  # near-ties may swap places
    np.testing.assert_allclose(out.c_after, out.c_before, rtol=2e-3, atol=2e-3)
    np.testing.assert_allclose(out.h_after, out.h_before, rtol=2e-3, atol=2e-3)
    assert np.isfinite(out.delta).all() and np.abs(out.delta).max() < 5e-3


@torch.no_grad()
def reference_clamp(model, rec, start, stop, layer, cell, value, active):
    """nn.LSTMCell per layer, with c[cell] of one layer forced to value at the active steps and h recomputed
    from it as o tanh(c): (c, h) [layers, cells, n] and the loss [n]."""
    ids = torch.as_tensor(np.array([rec.vocab.index(ch) for ch in rec.text[start:stop + 1]]))
    x = model.embed(ids[:-1])
    hidden = model.config.hidden
    cs, hs = [], []
    for k in range(model.config.layers):
        lstm = torch.nn.LSTMCell(hidden, hidden)
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            setattr(lstm, name, getattr(model.rnn, f"{name}_l{k}"))
        h = torch.as_tensor(rec.array("h")[k, :, start - 1].astype(np.float32))[None]
        c = torch.as_tensor(rec.array("c")[k, :, start - 1].astype(np.float32))[None]
        out_c, out_h = [], []
        for t, xt in enumerate(x):
            o = torch.sigmoid(xt @ lstm.weight_ih[3 * hidden:].T + lstm.bias_ih[3 * hidden:]
                              + h @ lstm.weight_hh[3 * hidden:].T + lstm.bias_hh[3 * hidden:])
            h, c = lstm(xt[None], (h, c))
            if k == layer and active[t]:
                c = c.clone()
                c[0, cell] = value
                h = o * torch.tanh(c)
            out_c.append(c[0])
            out_h.append(h[0])
        x = torch.stack(out_h)
        cs.append(torch.stack(out_c).T)
        hs.append(x.T)
    logp = torch.log_softmax(model.head(x), -1)
    return torch.stack(cs).numpy(), torch.stack(hs).numpy(), -logp[torch.arange(len(x)), ids[1:]].numpy()


@pytest.mark.parametrize("layer", [0, 1])
def test_a_clamp_agrees_with_an_lstmcell_loop_that_forces_the_value(trained, layer):
    model, _, rec = trained
    start, stop = 700, 1100
    active = np.zeros(stop - start, bool)
    active[50:120] = active[200:203] = active[206:209] = active[300:] = True  # unchanged stretches of 3 and 97
    out = intervene(model, rec, [Change(layer, 9, "clamp", 1.5)], start, stop, active)
    c, h, loss = reference_clamp(model, rec, start, stop, layer, 9, 1.5, active)
    np.testing.assert_allclose(out.c_after, c, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(out.h_after, h, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(out.loss_after, loss, rtol=1e-4, atol=1e-4)
    assert np.all(out.c_after[layer, 9][active] == 1.5)


def test_without_states_the_loss_and_guesses_are_the_same(trained):
    """states=False (the page, the CLI) skips recomputing c where nothing changed; what it returns must not move."""
    model, _, rec = trained
    start, stop = 700, 1100
    active = np.zeros(stop - start, bool)
    active[50:120] = active[300:] = True
    full = intervene(model, rec, [Change(1, 9, "clamp", 1.5)], start, stop, active)
    lean = intervene(model, rec, [Change(1, 9, "clamp", 1.5)], start, stop, active, states=False)
    assert lean.c_after is None and lean.h_before is None
    np.testing.assert_allclose(lean.loss_after, full.loss_after, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(lean.top5_p_after, full.top5_p_after, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(lean.loss_before, full.loss_before)


@pytest.mark.parametrize("op", ["zero", "mean"])
def test_an_ablation_moves_nothing_before_its_first_position(trained, op):
    model, _, rec = trained
    start, stop, first = 200, 700, 260
    active = np.zeros(stop - start, bool)
    active[first:] = True
    changes = [Change(1, 12, op), Change(0, 20, op)]
    out = intervene(model, rec, changes, start, stop, active)
    untouched = intervene(model, rec, changes, start, stop, np.zeros(stop - start, bool))
    np.testing.assert_array_equal(out.loss_after[:first], untouched.loss_after[:first])
    np.testing.assert_array_equal(out.c_after[..., :first], untouched.c_after[..., :first])
    np.testing.assert_array_equal(out.top5_ids_after[:first], untouched.top5_ids_after[:first])
    assert out.loss_after[first] != untouched.loss_after[first]  # h at the first changed position already moves
    assert np.abs(out.loss_after[first:] - untouched.loss_after[first:]).max() > 1e-3
    mean = rec.series(1, 12, "c").mean() if op == "mean" else 0.0
    assert np.allclose(out.c_after[1, 12, first:], mean)


def test_the_last_position_has_no_loss_and_the_window_is_clipped(trained):
    model, _, rec = trained
    out = intervene(model, rec, [Change(0, 1, "add", 0.5)], rec.n_chars - 300, rec.n_chars + 1000)
    assert out.stop == rec.n_chars and len(out.loss_after) == 300
    assert np.isnan(out.loss_after[-1]) and np.isfinite(out.loss_after[:-1]).all()


def test_from_zero_starts_from_an_exact_pass(trained):
    """From the recording's float16 state or from a fresh float32 pass from position 0: the same to fp16."""
    model, _, rec = trained
    exact = intervene(model, rec, [Change(1, 2, "scale", 1.0)], 1500, 1700, from_zero=True)
    np.testing.assert_allclose(exact.loss_after, exact.loss_before, rtol=2e-3, atol=2e-3)


def planted(model, layer, cell):
    """A copy of the model whose output reads one cell only, a cell that itself reads nothing (its gates are
    their biases: i, o ~ 1, f = 0.5, g = tanh(1), so c settles at ~1.5): only ablating it can move the loss."""
    model = copy.deepcopy(model)
    hidden = model.config.hidden
    rows = torch.arange(4) * hidden + cell  # i, f, g, o of the cell
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh"):
            getattr(model.rnn, f"{name}_l{layer}")[rows] = 0
        getattr(model.rnn, f"bias_ih_l{layer}")[rows] = torch.tensor([10.0, 0.0, 1.0, 10.0])
        getattr(model.rnn, f"bias_hh_l{layer}")[rows] = 0
        readout = model.head.weight[:, cell].clone() * 5
        model.head.weight.zero_()
        model.head.weight[:, cell] = readout
    return model


def test_the_planted_cell_matters_most_and_no_other_cell_at_all(trained):
    model, _, rec = trained
    table = cells_that_matter(planted(model, 1, 17), rec, 1234, context=50, chars='e ')
    assert len(table) == 2 * 32 and (table.iloc[0].layer, table.iloc[0].cell) == (1, 17)
    assert abs(table.iloc[0].delta) > 0.01 and (table.delta.iloc[1:] == 0).all()
    assert list(table.columns) == ["layer", "cell", "loss_before", "loss_after", "delta",
                                   "p_before[e]", "p_after[e]", "p_before[ ]", "p_after[ ]"]


@pytest.mark.parametrize("op", ["zero", "mean"])
def test_the_ranking_equals_one_intervention_per_cell(trained, op, monkeypatch):
    """All ablations ran at once as streams; each must be what one intervention over the context gives."""
    model, _, rec = trained
    monkeypatch.setattr(intervene_module, "PROJECTION_ROWS", 100)  # a few steps at a time: blocks carry the state
    position, context = 900, 120
    table = cells_that_matter(model, rec, position, context, op=op, chars='"').set_index(["layer", "cell"])
    assert table.index.is_unique and len(table) == 64
    for layer, cell in [(0, 0), (0, 31), (1, 0), (1, 13), (1, 31)]:
        one = intervene(model, rec, [Change(layer, cell, op)], position - context, position + 1)
        row = table.loc[(layer, cell)]
        assert row.loss_after == pytest.approx(one.loss_after[-1], rel=1e-5, abs=1e-5)
        assert row.loss_before == pytest.approx(
            intervene(model, rec, [], position - context, position + 1).loss_after[-1], rel=1e-5, abs=1e-5)
    deltas = table.delta.abs().to_numpy()
    assert (np.diff(deltas) <= 0).all() and deltas[0] > 0


def test_held_sampling_differs_from_free_sampling_and_each_is_deterministic(trained):
    model, vocab, _ = trained
    held = [parse_clamp("1:4=3.0"), parse_clamp("0:7=-3.0")]
    free = sample_module.sample(model, vocab, 80, prime="The ", seed=5)
    once = sample_held(model, vocab, held, 80, prime="The ", seed=5)
    assert once != free and once.startswith("The ") and len(once) == len(free) == 4 + 80
    assert sample_held(model, vocab, held, 80, prime="The ", seed=5) == once
    assert sample_module.sample(model, vocab, 80, prime="The ", seed=5) == free
    # a change that changes nothing goes through the loop, not the fused LSTM, and draws the same characters
    assert sample_held(model, vocab, [Change(1, 4, "scale", 1.0)], 80, prime="The ", seed=5) == free


def test_held_sampling_ablates_to_the_recordings_mean(trained):
    model, vocab, rec = trained
    mean = float(rec.series(1, 4, "c").mean())
    assert (sample_held(model, vocab, [Change(1, 4, "mean")], 60, prime="The ", seed=2, rec=rec)
            == sample_held(model, vocab, [Change(1, 4, "clamp", mean)], 60, prime="The ", seed=2))


def test_changes_parse_or_say_why():
    assert parse_change(" 1:160 ", "add", 0.5) == Change(1, 160, "add", 0.5)
    assert parse_clamp("0:3=-1.5") == Change(0, 3, "clamp", -1.5)
    for bad in [lambda: parse_change("1-160", "zero"), lambda: parse_change("1:x", "zero"),
                lambda: parse_change("1:2", "clamp"), lambda: parse_change("1:2", "zero", 1.0),
                lambda: parse_change("1:2", "boost", 1.0), lambda: parse_clamp("1:2=abc"),
                lambda: parse_clamp("1:2"), lambda: parse_clamp("1:2=nan")]:
        with pytest.raises(Exception) as e:
            bad()
        assert type(e.value).__name__ == "InterveneError"


def fails(capsys, fn, args):
    """fn(args) exits 2 with one line on stderr; returns that line."""
    with pytest.raises(SystemExit) as e:
        fn(args)
    err = capsys.readouterr().err.strip()
    assert e.value.code == 2 and len(err.splitlines()) == 1 and err.startswith("error:"), err
    return err


def test_cli_reports_before_and_after(tiny_run, capsys):
    main([str(tiny_run), "--cell", "1:3", "--cell", "0:5", "--ablate", "--where", "quotes", "--stop", "2000"])
    out = capsys.readouterr().out
    assert "mean loss" in out and "whole window" in out and "where quotes" in out and "elsewhere" in out
    assert "changed most" in out and len(out.splitlines()) == 2 + 3 + 1 + 10
    main([str(tiny_run), "--cell", "1:3", "--clamp", "-2", "--span", "100:300", "--json"])
    import json
    report = json.loads(capsys.readouterr().out)
    assert report["changed_positions"] == 200 and len(report["most_changed"]) == 10
    assert set(report["mean_loss"]) == {"whole window", "in 100:300 (200)", "elsewhere (2,800)"}
    main([str(tiny_run), "--matter", "1234", "--top", "5", "--chars", '"e'])
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 + 1 + 5 and "p_before[\"]" in out[1] and "delta" in out[1]


def test_cli_bad_input_is_one_line_and_exit_2(tiny_run, tmp_path, capsys):
    run = str(tiny_run)
    assert "out of range" in fails(capsys, main, [run, "--cell", "1:32", "--ablate"])
    assert "out of range" in fails(capsys, main, [run, "--cell", "2:0", "--add", "1"])
    assert "LAYER:CELL" in fails(capsys, main, [run, "--cell", "1/3", "--ablate"])
    assert "invalid float" in fails(capsys, main, [run, "--cell", "1:3", "--clamp", "high"])
    assert "outside the recording" in fails(capsys, main, [run, "--matter", "2999"])
    assert "outside the recording" in fails(capsys, main, [run, "--matter", "-1"])
    assert "outside" in fails(capsys, main, [run, "--cell", "1:3", "--ablate", "--start", "3000"])
    assert "unknown concept" in fails(capsys, main, [run, "--cell", "1:3", "--ablate", "--where", "nope"])
    assert "A:B" in fails(capsys, main, [run, "--cell", "1:3", "--ablate", "--span", "5-9"])
    assert "--cell" in fails(capsys, main, [run, "--ablate"])
    assert "--matter" in fails(capsys, main, [run, "--matter", "5", "--cell", "1:3"])
    bare = tmp_path / "bare"
    shutil.copytree(tiny_run, bare, ignore=shutil.ignore_patterns("recordings"))
    assert "no recording" in fails(capsys, main, [str(bare), "--cell", "1:3", "--ablate"])


def test_sample_cli_holds_cells_and_refuses_bad_clamps(tiny_run, capsys):
    sample_module.main([str(tiny_run), "--clamp", "1:4=3.0", "--clamp", "0:7=-3", "--length", "50", "--seed", "2"])
    held = capsys.readouterr().out
    sample_module.main([str(tiny_run), "--length", "50", "--seed", "2"])
    assert held != capsys.readouterr().out and len(held) == 1 + 50 + 1  # prime "\n", 50 chars, newline
    assert "out of range" in fails(capsys, sample_module.main, [str(tiny_run), "--clamp", "1:99=1"])
    assert "LAYER:CELL=VALUE" in fails(capsys, sample_module.main, [str(tiny_run), "--clamp", "1:3=x"])
    assert "LAYER:CELL" in fails(capsys, sample_module.main, [str(tiny_run), "--clamp", "13=1"])
