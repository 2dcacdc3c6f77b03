"""GRU and vanilla RNN recordings: their kinds, exactness against nn.GRU / nn.RNN and an nn.GRUCell loop done by
hand, streams vs one pass, matching an LSTM's cells to a GRU's, and the pages on a GRU recording."""
import json

import numpy as np
import pytest
import torch
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from conftest import served
from model import rundir
from model.checkpoint import load_model
from model.record import record, record_run, text_to_record
from model.recording import Recording, RecordingError
from viz.colors import KIND_LABELS, display_values, quantize, value_range
from viz.figures import gate_saturation
from viz.matching import match_cells, matching_kind


@pytest.fixture(scope="module", params=["gru", "rnn"])
def plain_run(request, tmp_path_factory, wp_excerpt_file):
    """A real 2x32 GRU or RNN run trained 100 iterations on the War and Peace excerpt, its newest checkpoint
    recorded with --gates over the same first 3,000 validation characters as tiny_run's."""
    from model.train import train

    run = tmp_path_factory.mktemp("runs") / request.param
    train(wp_excerpt_file, run, max_iters=100, layers=2, hidden=32, batch_size=16, seq_length=50,
          checkpoint_every=100, cell=request.param, progress=False)
    record_run(run, max_chars=3000, gates=True, warmup=500, progress=False)
    return run


@pytest.fixture(scope="module")
def trained(plain_run):
    model, vocab, _ = load_model(plain_run)
    text, next_char, _ = text_to_record(plain_run, max_chars=1500)
    return model, vocab, text, next_char


def layer_by_layer(model, vocab, text):
    """h of every layer [layers, cells, n] from one-layer nn.GRU / nn.RNN modules holding each layer's weights,
    fed the layer below's output; the last layer checked against the whole multi-layer module."""
    x = model.embed(torch.as_tensor(vocab.encode(text)))[:, None]
    whole, _ = model.rnn(x)
    hs = []
    for layer in range(model.rnn.num_layers):
        single = type(model.rnn)(x.shape[-1], model.rnn.hidden_size)
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            setattr(single, f"{name}_l0", getattr(model.rnn, f"{name}_l{layer}"))
        x, _ = single(x)
        hs.append(x[:, 0].T)
    np.testing.assert_allclose(x.numpy(), whole.numpy(), rtol=1e-5, atol=1e-6)
    return torch.stack(hs).numpy()


def grucell_pass(model, vocab, text):
    """{r, z, n, h: [layers, cells, n]} from nn.GRUCell per layer, the gates worked out by hand from the cell's
    weights, and the h they give checked against the cell's own at every step."""
    x = model.embed(torch.as_tensor(vocab.encode(text)))
    out = {k: [] for k in "rznh"}
    for layer in range(model.rnn.num_layers):
        cell = torch.nn.GRUCell(x.shape[1], model.rnn.hidden_size)
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            setattr(cell, name, getattr(model.rnn, f"{name}_l{layer}"))
        h = torch.zeros(1, model.rnn.hidden_size)
        steps = {k: [] for k in "rznh"}
        for xt in x:
            (ir, iz, i_n), (hr, hz, hn) = (xt[None] @ cell.weight_ih.T + cell.bias_ih).chunk(3, 1), \
                (h @ cell.weight_hh.T + cell.bias_hh).chunk(3, 1)
            r, z = torch.sigmoid(ir + hr), torch.sigmoid(iz + hz)
            n = torch.tanh(i_n + r * hn)
            by_hand = (1 - z) * n + z * h
            h = cell(xt[None], h)
            torch.testing.assert_close(by_hand, h, rtol=1e-5, atol=1e-6)
            for k, v in zip("rznh", (r, z, n, h)):
                steps[k].append(v[0])
        x = torch.stack(steps["h"])
        for k in out:
            out[k].append(torch.stack(steps[k]).T)
    return {k: torch.stack(v).numpy() for k, v in out.items()}


def test_recordings_hold_h_and_a_grus_gates(plain_run):
    cell = plain_run.name
    path = rundir.recordings(plain_run)["iter-000100"]
    rec = Recording.open(path)
    assert rec.cell == cell and rec.kinds == (("h", "r", "z", "n") if cell == "gru" else ("h",))
    assert rec.state_kinds == ("h",) and not (path / "c.npy").exists()
    assert json.loads((path / "meta.json").read_text())["kinds"] == list(rec.kinds)
    for kind in rec.kinds:
        assert np.load(path / f"{kind}.npy", mmap_mode="r").shape == (2, 32, 3000)
    with pytest.raises(RecordingError, match=f"a recording of a {cell.upper()} has no c"):
        rec.series(0, 0, "c")
    if cell == "rnn":
        assert rec.gate_stats is None
        return
    assert set(rec.gate_stats) == {"r", "z"}  # n is a tanh: it does not saturate at 0 and 1
    left = np.array(rec.gate_stats["z"]["layer_1"]["left"])
    np.testing.assert_allclose(left, (rec.array("z")[1].astype(np.float32) < 0.1).mean(1), atol=2e-3)
    assert [a.text for a in gate_saturation(rec.gate_stats).layout.annotations] == ["reset gate", "update gate"]


@pytest.mark.parametrize("method", ["loop", "fused"])
def test_recorded_h_and_gates_equal_nn_gru_rnn_and_a_grucell_loop(tmp_path, trained, method):
    model, vocab, text, next_char = trained
    rec = Recording.open(record(model, vocab, text, tmp_path / "r", next_char, gates=True, streams=1,
                                method=method, dtype="float32", progress=False))
    with torch.no_grad():
        np.testing.assert_allclose(rec.array("h"), layer_by_layer(model, vocab, text), rtol=1e-4, atol=1e-5)
        if model.config.cell == "gru":
            ref = grucell_pass(model, vocab, text)
            for kind in "rznh":
                np.testing.assert_allclose(rec.array(kind), ref[kind], rtol=1e-4, atol=1e-5)


def test_parallel_streams_match_one_sequential_pass(tmp_path, plain_run, trained):
    model, vocab = trained[:2]
    text, next_char, _ = text_to_record(plain_run, max_chars=2900)
    one = Recording.open(record(model, vocab, text, tmp_path / "one", next_char, gates=True, streams=1,
                                progress=False))
    many = Recording.open(record(model, vocab, text, tmp_path / "many", next_char, gates=True, streams=64,
                                 warmup=400, progress=False))
    assert many.meta["streams"] == 7
    for kind in one.kinds:
        a, b = one.array(kind).astype(np.float32), many.array(kind).astype(np.float32)
        close = np.isclose(a, b, rtol=2 ** -9, atol=1e-3).all(axis=(0, 1))
        assert close.mean() >= 0.999, f"{kind}: only {close.mean():.4f} of positions agree"
    np.testing.assert_array_equal(one.top5(0, 200)[0], many.top5(0, 200)[0])


def test_an_lstms_cells_are_matched_to_a_grus_by_h(tiny_run, plain_run):
    lstm = Recording.open(rundir.recordings(tiny_run)["iter-000150"])
    other = Recording.open(rundir.recordings(plain_run)["iter-000100"])
    assert lstm.text == other.text  # the same corpus, split and length: the same validation text
    assert matching_kind(lstm, other, "c") == "h" and matching_kind(lstm, lstm, "c") == "c"
    m = match_cells(lstm, other, kind=matching_kind(lstm, other, "c"))
    assert len(m) == 2 * 32
    for row in m.sample(5, random_state=0).itertuples():
        a, b = lstm.series(row.layer_a, row.cell_a, "h"), other.series(row.layer_b, row.cell_b, "h")
        assert abs(row.corr - np.corrcoef(a, b)[0, 1]) < 1e-4
    assert np.abs(m["corr"]).max() > 0.7  # two models of the same text do share some cells (spaces, quotes...)


@pytest.fixture(scope="module")
def duo(tiny_run, plain_run):
    from viz.app import create_app

    with served(create_app([plain_run, tiny_run])) as duo:
        yield duo


def painted_levels(duo, key):
    """The colour levels of Browse's text once it shows the cell whose key ("checkpoint|layer|cell|kind|") has key."""
    WebDriverWait(duo.driver, 10).until(
        lambda d: key in (d.find_element(By.ID, "b-text").get_attribute("data-painted") or ""))
    return duo.driver.execute_script("return Array.from(document.querySelectorAll('#b-text .ch'),"
                                     " e => Number(/\\bv(\\d+)\\b/.exec(e.className)[1]))")


def levels(rec, cell, kind):
    return quantize(display_values(rec.series(0, cell, kind), kind), *value_range(kind)).tolist()


def test_every_page_serves_a_gru_or_rnn_recording(duo, plain_run):
    run, rec = plain_run.name, Recording.open(rundir.recordings(plain_run)["iter-000100"])
    duo.wait_for_page(f"{duo.server.url}/?run={run}&cell=3")  # no kind in the URL: h, not an LSTM's c
    assert painted_levels(duo, "iter-000100|0|3|h|") == levels(rec, 3, "h")
    assert duo.find_element("#b-label").text == "layer 0 · cell 3 · h"
    assert [e.text for e in duo.find_elements("#b-kind label")] == [KIND_LABELS[k] for k in rec.kinds]
    if rec.cell == "gru":
        duo.find_element('#b-kind input[value="z"]').find_element(By.XPATH, "./ancestor::label[1]").click()
        assert painted_levels(duo, "iter-000100|0|3|z|") == levels(rec, 3, "z")
        assert duo.find_element("#b-label").text == "layer 0 · cell 3 · update gate"

    duo.wait_for_page(f"{duo.server.url}/find?run={run}&concept=quotes")
    duo.wait_for_element("#f-grid .ag-row")
    if rec.cell == "gru":
        duo.wait_for_element("#f-gates .js-plotly-plot")
    else:
        duo.wait_for_contains_text("#f-gates", "A vanilla RNN has no gates")
    duo.wait_for_page(f"{duo.server.url}/compare?run={run}")
    WebDriverWait(duo.driver, 10).until(
        lambda d: "|0|0|h" in (d.find_element(By.ID, "cmp-rows").get_attribute("data-painted") or ""))
    duo.wait_for_page(f"{duo.server.url}/intervene?run={run}")
    duo.wait_for_contains_text(".msg", f"run {run} is a {rec.cell.upper()}")
    assert duo.get_logs() == []
