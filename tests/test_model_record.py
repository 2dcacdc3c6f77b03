"""Recording: the format, exactness against nn.LSTM / nn.LSTMCell, streams vs one pass, top-5 and loss."""
import json
import pickle
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

from model.checkpoint import CheckpointError, load_model
from model import record as record_module
from model.record import RecordError, record, record_run, text_to_record
from model import rundir
from model.recording import Recording, RecordingError


@torch.no_grad()
def reference_pass(model, vocab, text):
    """One uninterrupted pass with nn.LSTMCell per layer: (c, h) as [layers, cells, n]."""
    x = model.embed(torch.as_tensor(vocab.encode(text)))
    cs, hs = [], []
    for layer in range(model.rnn.num_layers):
        cell = torch.nn.LSTMCell(x.shape[1], model.rnn.hidden_size)
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            setattr(cell, name, getattr(model.rnn, f"{name}_l{layer}"))
        h = c = torch.zeros(1, model.rnn.hidden_size)
        out_c, out_h = [], []
        for xt in x:
            h, c = cell(xt[None], (h, c))
            out_c.append(c[0])
            out_h.append(h[0])
        x = torch.stack(out_h)
        cs.append(torch.stack(out_c).T)
        hs.append(x.T)
    return torch.stack(cs).numpy(), torch.stack(hs).numpy()


@pytest.fixture(scope="module")
def trained(tiny_run):
    model, vocab, _ = load_model(tiny_run)
    text, next_char, _ = text_to_record(tiny_run, max_chars=1500)
    return model, vocab, text, next_char


def test_recordings_have_the_design_shapes_and_dtypes(tiny_run):
    recs = rundir.recordings(tiny_run)
    assert list(recs) == ["iter-000050", "iter-000100", "iter-000150"]
    rec = Recording.open(recs["iter-000150"])
    n = rec.n_chars
    assert n == 3000 and rec.kinds == ("c", "h", "i", "f", "o")
    for kind in rec.kinds:
        arr = np.load(recs["iter-000150"] / f"{kind}.npy", mmap_mode="r")
        assert arr.shape == (2, 32, n) and arr.dtype == np.float16
    assert np.load(recs["iter-000150"] / "top5_ids.npy").shape == (n, 5)
    assert np.load(recs["iter-000150"] / "top5_p.npy").dtype == np.float16
    assert np.load(recs["iter-000150"] / "loss.npy").shape == (n,)
    meta = json.loads((recs["iter-000150"] / "meta.json").read_text())
    assert meta["iteration"] == 150 and meta["source"]["kind"] == "val" and "warmed up" in meta["init"]
    stats = json.loads((recs["iter-000150"] / "gate_stats.json").read_text())
    left, right = np.array(stats["f"]["layer_1"]["left"]), np.array(stats["f"]["layer_1"]["right"])
    assert left.shape == (32,) and np.all((left >= 0) & (left + right <= 1))
    f = rec.array("f")[1].astype(np.float32)
    np.testing.assert_allclose(left, (f < 0.1).mean(1), atol=2e-3)  # fp16 storage moves a few borderline values
    assert rec.text == text_to_record(tiny_run, max_chars=3000)[0]


@pytest.mark.parametrize("method", ["loop", "fused"])
def test_recorded_states_equal_nn_lstm_and_an_lstmcell_loop(tmp_path, trained, method):
    model, vocab, text, next_char = trained
    rec = Recording.open(record(model, vocab, text, tmp_path / "r", next_char, gates=True, streams=1,
                                method=method, dtype="float32", progress=False))
    ref_c, ref_h = reference_pass(model, vocab, text)
    with torch.no_grad():
        fused_h, _ = model.rnn(model.embed(torch.as_tensor(vocab.encode(text))))
    np.testing.assert_allclose(rec.array("h")[-1], fused_h.numpy().T, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(rec.array("c"), ref_c, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(rec.array("h"), ref_h, rtol=1e-4, atol=1e-5)
    h_from_gates = rec.array("o") * np.tanh(rec.array("c"))  # h = o * tanh(c) ties the gates to the states
    np.testing.assert_allclose(h_from_gates, ref_h, rtol=1e-4, atol=1e-5)


def test_float16_storage_only_rounds(tmp_path, trained):
    model, vocab, text, next_char = trained
    exact = Recording.open(record(model, vocab, text, tmp_path / "f32", next_char, streams=1, dtype="float32", progress=False))
    half = Recording.open(record(model, vocab, text, tmp_path / "f16", next_char, streams=1, progress=False))
    for kind in ("c", "h"):
        np.testing.assert_allclose(half.array(kind).astype(np.float32), exact.array(kind), rtol=2 ** -10, atol=1e-7)


def test_parallel_streams_match_one_sequential_pass(tmp_path, tiny_run, trained):
    model, vocab = trained[:2]
    text, next_char, _ = text_to_record(tiny_run, max_chars=2900)
    one = Recording.open(record(model, vocab, text, tmp_path / "one", next_char, streams=1, progress=False))
    many = Recording.open(record(model, vocab, text, tmp_path / "many", next_char, streams=64, warmup=400, progress=False))
    assert many.meta["streams"] == 7 and many.n_chars == len(text) == 2900  # no truncation to a multiple of 7
    for kind in ("c", "h"):
        a, b = one.array(kind).astype(np.float32), many.array(kind).astype(np.float32)
        close = np.isclose(a, b, rtol=2 ** -9, atol=1e-3).all(axis=(0, 1))
        assert close.mean() >= 0.999, f"{kind}: only {close.mean():.4f} of positions agree"
    np.testing.assert_array_equal(one.top5(0, 200)[0], many.top5(0, 200)[0])


def test_blocks_made_cell_major_on_the_device_give_the_same_files(tmp_path, tiny_run, trained):
    """A GPU turns each block cell-major itself and a pool of threads scatters the kinds (BlockWriter); the
    files must be byte for byte those of the CPU's layout, short last block and gates included."""
    model, vocab = trained[:2]
    text, next_char, _ = text_to_record(tiny_run, max_chars=2900)  # 7 streams of 415: a short last block
    paths = [record(model, vocab, text, tmp_path / name, next_char, gates=True, streams=64, warmup=400, block=96,
                    cell_major=cell_major, progress=False) for name, cell_major in (("cpu", False), ("device", True))]
    names = sorted(p.name for p in paths[0].iterdir() if p.suffix == ".npy")
    assert {"c.npy", "h.npy", "i.npy", "f.npy", "o.npy", "loss.npy", "top5_ids.npy"} <= set(names)
    for name in names:
        assert (paths[0] / name).read_bytes() == (paths[1] / name).read_bytes(), name


def test_top5_and_loss_come_from_the_softmax(tmp_path, trained):
    model, vocab, text, next_char = trained
    rec = Recording.open(record(model, vocab, text, tmp_path / "r", next_char, streams=4, warmup=100, progress=False))
    with torch.no_grad():
        logits, _ = model(torch.as_tensor(vocab.encode(text))[:, None])
    probs = torch.softmax(logits[:, 0], -1).numpy()
    order = np.argsort(-probs, axis=1)[:, :5]
    stored_p = rec.top5()[1]
    np.testing.assert_allclose(stored_p, np.take_along_axis(probs, order, 1), rtol=2e-3, atol=1e-4)
    chars, p = rec.top5(10, 12)
    assert chars[0] == [vocab.chars[i] for i in order[10]]
    targets = vocab.encode(text[1:] + next_char)
    expected_loss = -np.log(probs[np.arange(len(text)), targets])
    np.testing.assert_allclose(rec.loss(), expected_loss, rtol=1e-3, atol=1e-4)


def test_all_checkpoints_skips_what_is_already_recorded(tiny_run):
    before = {name: (p / "c.npy").stat().st_mtime_ns for name, p in rundir.recordings(tiny_run).items()}
    record_run(tiny_run, all_checkpoints=True, max_chars=3000, gates=True, warmup=500, progress=False)
    after = {name: (p / "c.npy").stat().st_mtime_ns for name, p in rundir.recordings(tiny_run).items()}
    assert before == after


def test_interrupted_recording_is_not_opened(tmp_path, tiny_run):
    src = rundir.recordings(tiny_run)["iter-000050"]
    broken = tmp_path / "recordings" / "iter-000050"
    shutil.copytree(src, broken)
    (broken / "meta.json").unlink()
    with pytest.raises(RecordingError, match="no meta.json"):
        Recording.open(broken)
    truncated = tmp_path / "recordings" / "iter-000100"
    shutil.copytree(src, truncated)
    np.save(truncated / "h.npy", np.zeros((2, 32, 10), np.float16))
    with pytest.raises(RecordingError, match="h.npy has shape"):
        Recording.open(truncated)
    assert rundir.recordings(tmp_path) == {"iter-000100": truncated}  # listed, but opening says why it is bad


def test_a_failed_write_stops_the_recording_and_finishes_nothing(tmp_path, trained, monkeypatch):
    """Blocks are written on a second thread: its failure (a full disk, say) must reach the caller."""
    model, vocab, text, next_char = trained
    writes, scatter = [], record_module.scatter

    def scatter_until_the_disk_is_full(*args):
        writes.append(args)
        if len(writes) > 12:
            raise OSError(28, "No space left on device")
        return scatter(*args)

    monkeypatch.setattr(record_module, "scatter", scatter_until_the_disk_is_full)
    out = tmp_path / "r"
    with pytest.raises(OSError, match="No space left"):
        record(model, vocab, text, out, next_char, streams=1, block=50, progress=False)
    assert 12 < len(writes) < 30  # it stopped soon after: 1,500 chars in blocks of 50 would be 150 writes
    with pytest.raises(RecordingError, match="interrupted"):
        Recording.open(out)


def cli(*args):
    return subprocess.run([sys.executable, "-m", "model.record", *map(str, args)], capture_output=True, text=True)


def copy_run(tiny_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run, ignore=shutil.ignore_patterns("recordings"))
    return run


def test_text_outside_the_vocabulary_is_named_or_mapped(tmp_path, tiny_run):
    run = copy_run(tiny_run, tmp_path)
    other = tmp_path / "wiki.txt"
    from conftest import real_text
    other.write_text(real_text("wiki.xml")[:3000], encoding="utf-8")
    out = cli(run, "--text", other)
    assert out.returncode != 0 and "not in the model's vocabulary" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and not (run / "recordings").exists()
    out = cli(run, "--text", other, "--unknown", " ")
    assert out.returncode == 0, out.stderr
    rec = Recording.open(run / "recordings" / "iter-000150")
    assert rec.n_chars == 3000 and rec.meta["source"]["kind"] == "file"


def test_pickle_checkpoint_is_refused_without_running_code(tmp_path, tiny_run):
    run = copy_run(tiny_run, tmp_path)
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    ckpt = run / "checkpoints" / "iter-000150.safetensors"
    ckpt.write_bytes(pickle.dumps(Payload()))
    out = cli(run)
    assert out.returncode != 0 and "not a valid cellscope checkpoint" in out.stderr
    assert not marker.exists()
    torch.save({"x": Payload()}, ckpt)  # a torch.save zip is refused as well
    assert "not a valid cellscope checkpoint" in cli(run).stderr and not marker.exists()


def test_truncated_and_tampered_checkpoints_are_refused(tmp_path, tiny_run):
    run = copy_run(tiny_run, tmp_path)
    ckpt = run / "checkpoints" / "iter-000150.safetensors"
    data = ckpt.read_bytes()
    ckpt.write_bytes(data[:len(data) // 2])
    out = cli(run)
    assert out.returncode != 0 and "truncated" in out.stderr and len(out.stderr.strip().splitlines()) == 1
    flipped = bytearray(data)
    flipped[-100] ^= 0xFF
    ckpt.write_bytes(bytes(flipped))
    assert "checksum mismatch" in cli(run).stderr


def test_checkpoint_from_another_vocabulary_is_refused(tmp_path, tiny_run):
    run = copy_run(tiny_run, tmp_path)
    cfg = json.loads((run / "run.json").read_text())
    cfg["vocab"] = cfg["vocab"][:-1] + ["\u00e9"]
    (run / "run.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="another vocabulary"):
        load_model(run)
    assert "another vocabulary" in cli(run).stderr


def test_the_block_length_is_what_the_memory_budget_holds(tmp_path, trained):
    """One block's buffers fit the budget: twice the budget, twice the steps (up to a stream's length); a budget
    too small for one step is one clear error; and the budget changes nothing in the files but the head's
    rounding."""
    shape = dict(kinds=5, layers=2, hidden=32, vocab=80, stored_bytes=2)
    steps = record_module.block_steps(4, 64, 10_000, **shape)
    per_step = 4 * 2**20 / steps
    assert 1 < steps < 10_000 and record_module.block_steps(8, 64, 10_000, **shape) in (2 * steps, 2 * steps + 1)
    assert record_module.block_steps(4, 32, 10_000, **shape) in (2 * steps, 2 * steps + 1)
    assert record_module.block_steps(4, 64, steps - 3, **shape) == steps - 3
    with pytest.raises(RecordError, match="cannot hold one step of 64 streams"):
        record_module.block_steps(per_step / 2 / 2**20, 64, 10_000, **shape)

    model, vocab, text, next_char = trained
    default = record(model, vocab, text, tmp_path / "default", next_char, gates=True, warmup=200, progress=False)
    small = record(model, vocab, text, tmp_path / "small", next_char, gates=True, warmup=200, memory_mb=0.05,
                   progress=False)
    blocks = [Recording.open(p).meta["block"] for p in (default, small)]
    streams = Recording.open(small).meta["streams"]
    assert blocks[1] == record_module.block_steps(0.05, streams, -(-len(text) // streams), kinds=5, layers=2,
                                                   hidden=32, vocab=len(vocab.chars), stored_bytes=2) < blocks[0]
    for name in ("c.npy", "h.npy", "i.npy", "f.npy", "o.npy", "top5_ids.npy"):
        assert (default / name).read_bytes() == (small / name).read_bytes(), name
    # the head's matmul over a block of another size rounds differently: by float32's last bits, by one of fp16's
    np.testing.assert_allclose(np.load(default / "loss.npy"), np.load(small / "loss.npy"), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.load(default / "top5_p.npy"), np.load(small / "top5_p.npy"), rtol=1e-3)


def test_a_memory_budget_or_stream_count_that_cannot_work_is_one_line_and_keeps_the_recording(tmp_path, tiny_run):
    run = copy_run(tiny_run, tmp_path)
    assert cli(run, "--max-chars", 3000, "--warmup", 500).returncode == 0
    kept = {p.name: p.read_bytes() for p in (run / "recordings" / "iter-000150").iterdir() if p.is_file()}
    for args, message in [(("--memory-mb", "0.001"), "cannot hold one step of"), (("--memory-mb", "0"), "more than 0"),
                          (("--streams", "0"), "at least 1")]:
        done = cli(run, "--max-chars", 3000, "--warmup", 500, "--force", *args)
        lines = done.stderr.strip().splitlines()
        assert done.returncode != 0 and len(lines) == 1 and message in lines[0], done.stderr
        assert {p.name: p.read_bytes() for p in (run / "recordings" / "iter-000150").iterdir() if p.is_file()} == kept


def test_the_loops_matmul_agrees_with_torch_and_writes_into_its_buffer():
    """model/matmul.addmm (numpy's BLAS on a CPU) is torch.addmm: for a bias row or a full [M, N] bias, for a
    transposed view as the left side, into the buffer it was given."""
    from model import matmul
    generator = torch.Generator().manual_seed(0)
    a, b = torch.randn(64, 48, generator=generator), torch.randn(48, 80, generator=generator)
    for bias in (torch.randn(80, generator=generator), torch.randn(64, 80, generator=generator)):
        for left in (a, a.t().contiguous().t()):
            out = torch.empty(64, 80)
            assert matmul.addmm(bias, left, b, out) is out
            torch.testing.assert_close(out, torch.addmm(bias, left, b), rtol=1e-5, atol=1e-5)
