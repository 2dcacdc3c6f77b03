"""Run one checkpoint over a text and record, at every position, every layer's states (an LSTM's c and h, a GRU's
or RNN's h) and gates, the top-5 guesses for the next character and the loss; and its CLI.

    python -m model.record runs/wp --all-checkpoints --gates

nn.LSTM hides c and the gates (nn.GRU its gates), so each layer is computed by hand: either a loop
with one recurrent matmul per step ("loop", fastest on CPU), or the fused kernel for h followed by all gates
recomputed in one matmul (an LSTM's c by its elementwise recurrence) ("fused", for GPUs). The text is cut into
parallel streams for speed; each stream but the first is warmed up over the text just before it, so the
result matches one uninterrupted pass from a zero state at position 0. Blocks go to disk as they are made.

Under torchrun each rank records a contiguous share of the streams (the same streams as a 1-process run, so
the same result, to rounding: README, "Command line") into its own positions of the same memory-mapped files,
which rank 0 alone makes, locks, finishes and publishes:

    torchrun --nproc-per-node 8 -m model.record -- runs/wp --all-checkpoints --gates
"""
import contextlib
import hashlib
import math
import queue
import shutil
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from model.lstm import pick_device  # first: it sets torch's environment before torch loads
import numpy as np  # noqa: E402
import torch  # noqa: E402
from tqdm import tqdm  # noqa: E402

from model import distributed, matmul, rundir, value_counts  # noqa: E402
from model.checkpoint import load_model  # noqa: E402
from model.corpus import CorpusError, read_text, split  # noqa: E402
from model.errors import ArgumentParser, CellscopeError, reported  # noqa: E402
from model.recording import SIGMOID_GATES, TOP_K, Recording, RecordingError, RecordingWriter, kinds_for  # noqa: E402


class RecordError(CellscopeError):
    """Recording cannot be done as asked; one line for the user."""


def layer_weights(model, layer):
    rnn = model.rnn
    bias = getattr(rnn, f"bias_ih_l{layer}") + getattr(rnn, f"bias_hh_l{layer}")
    return getattr(rnn, f"weight_ih_l{layer}"), getattr(rnn, f"weight_hh_l{layer}"), bias


def split_gates(pre):
    """Pre-activations [..., 4H] in nn.LSTM's order (i, f, g, o) -> the four gates."""
    i, f, g, o = pre.chunk(4, -1)
    return i.sigmoid(), f.sigmoid(), g.tanh(), o.sigmoid()


def loop_weights(model):
    """What layer_loop needs, per layer: (input projection, recurrent weights transposed, bias), with the g rows
    doubled: tanh(x) = 2 sigmoid(2x) - 1, so one sigmoid over all four gates replaces three sigmoids and a tanh
    (torch's CPU tanh costs 3x its sigmoid here). Layer 0's input is a character: its projection is a table
    [vocab, 4H] computed once and looked up, a quarter of a 2-layer model's matmuls gone."""
    hidden = model.config.hidden
    doubled = torch.ones(4 * hidden, 1, device=model.embed.weight.device)
    doubled[2 * hidden:3 * hidden] = 2
    weights = []
    for layer in range(model.config.layers):
        w_ih, w_hh, bias = layer_weights(model, layer)
        w_ih, w_hh, bias = w_ih * doubled, w_hh * doubled, bias * doubled[:, 0]
        w_in = torch.addmm(bias, model.embed.weight, w_ih.t()) if layer == 0 else w_ih.t().contiguous()
        weights.append((w_in, w_hh.t().contiguous(), bias))  # contiguous: 13% faster per-step matmul
    return weights


def layer_loop(xproj, w_hh_t, h, c, hs, cs, ifo=None, edit=None):
    """One layer, step by step from its input projection xproj [steps, streams, 4H], one matmul per step.
    Writes h and c of every step into hs and cs [steps, streams, H] (and i, f, o into ifo [3, ...] if given).
    Weights as loop_weights gives them: sg = sigmoid(2 g_pre), so g = 2 sg - 1.

    edit = (active, a, b), for interventions (model/intervene.py): at the steps where active (a sequence of
    bools) is true, c := a c + b, with a and b [steps, streams or 1, H] (broadcast views are fine), before h is
    made from it; so h = o tanh(c') and the change flows on in time and, through hs, up the layers."""
    active, a, b = edit or (None, None, None)
    pre = torch.empty(h.shape[0], w_hh_t.shape[1], device=h.device)  # each step's gates, overwritten
    for t, (xp, c_out, h_out) in enumerate(zip(xproj.unbind(0), cs.unbind(0), hs.unbind(0))):
        i, f, sg, o = matmul.addmm(xp, h, w_hh_t, pre).sigmoid_().chunk(4, -1)
        if ifo is not None:
            for k, gate in enumerate((i, f, o)):
                ifo[k, t] = gate
        c = torch.addcmul(torch.addcmul(i.neg(), f, c), i, sg, value=2, out=c_out)  # f c + i (2 sg - 1)
        if active is not None and active[t]:
            c = torch.addcmul(b[t], a[t], c, out=c_out)
        h = torch.addcmul(o.neg(), o, torch.sigmoid(c * 2), value=2, out=h_out)  # o tanh(c)


def layer_fused(x, weights, h, c, hs, cs, ifo, single_layer):
    """One layer: h from the fused kernel, then the gates for all steps at once and c by its recurrence. With
    cs None (only h of every step is wanted) no gates are recomputed: the kernel's own last c is returned."""
    w_ih, w_hh, bias = weights
    hs[:], (_, c_last) = single_layer(x, (h[None], c[None]))
    if cs is None:
        return c_last[0]
    h_prev = torch.cat([h[None], hs[:-1]])
    i, f, g, o = split_gates(x @ w_ih.t() + h_prev @ w_hh.t() + bias)
    ig = i * g
    for t in range(len(hs)):
        c = torch.addcmul(ig[t], f[t], c, out=cs[t])
    if ifo is not None:
        ifo[0], ifo[1], ifo[2] = i, f, o
    return c


def raw_weights(model, layer):
    """(W_ih, W_hh, b_ih, b_hh) of one layer: a GRU needs b_hh apart, inside r (W_hn h + b_hn)."""
    return tuple(getattr(model.rnn, f"{name}_l{layer}") for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))


def plain_weights(model):
    """What gru_loop and rnn_loop need, per layer: (input projection, W_hh transposed, b_ih, b_hh); layer 0's
    projection is a table [vocab, gates x H] with b_ih in it, computed once and looked up, as for the LSTM."""
    weights = []
    for layer in range(model.config.layers):
        w_ih, w_hh, b_ih, b_hh = raw_weights(model, layer)
        w_in = torch.addmm(b_ih, model.embed.weight, w_ih.t()) if layer == 0 else w_ih.t().contiguous()
        weights.append((w_in, w_hh.t().contiguous(), b_ih, b_hh))
    return weights


def gru_gates(gi, gh):
    """nn.GRU's gates (r, z, n) from its input side gi = W_ih x + b_ih and recurrent side gh = W_hh h + b_hh,
    [..., 3H] in its order r, z, n: n = tanh(gi_n + r gh_n), so r scales b_hn too."""
    hidden = gi.shape[-1] // 3
    r, z = (gi[..., :2 * hidden] + gh[..., :2 * hidden]).sigmoid_().chunk(2, -1)
    return r, z, torch.addcmul(gi[..., 2 * hidden:], r, gh[..., 2 * hidden:]).tanh_()


def gru_loop(xproj, w_hh_t, b_hh, h, hs, rzn=None):
    """One GRU layer, step by step from its input projection xproj [steps, streams, 3H] (b_ih included), one
    matmul per step. Writes h of every step into hs [steps, streams, H] (and r, z, n into rzn [3, ...] if given)."""
    gh = torch.empty(h.shape[0], w_hh_t.shape[1], device=h.device)  # each step's recurrent side, overwritten
    for t, xp in enumerate(xproj.unbind(0)):
        r, z, n = gru_gates(xp, matmul.addmm(b_hh, h, w_hh_t, gh))
        if rzn is not None:
            rzn[0, t], rzn[1, t], rzn[2, t] = r, z, n
        h = torch.addcmul(n, z, h - n, out=hs[t])  # (1 - z) n + z h


def rnn_loop(xproj, w_hh_t, b_hh, h, hs):
    """One vanilla RNN layer (tanh), step by step from its input projection xproj [steps, streams, H]."""
    pre = torch.empty(h.shape[0], w_hh_t.shape[1], device=h.device)
    for t, xp in enumerate(xproj.unbind(0)):
        h = torch.tanh(matmul.addmm(xp, h, w_hh_t, pre).add_(b_hh), out=hs[t])


def gru_fused_gates(x, weights, h, hs, rzn):
    """A GRU layer's gates for all steps at once, from its input x and the h before each step (the fused method:
    the kernel already gave hs)."""
    w_ih, w_hh, b_ih, b_hh = weights
    h_prev = torch.cat([h[None], hs[:-1]])
    rzn[0], rzn[1], rzn[2] = gru_gates(torch.addmm(b_ih, x.flatten(0, 1), w_ih.t()).view(*x.shape[:2], -1),
                                       torch.addmm(b_hh, h_prev.flatten(0, 1), w_hh.t()).view(*x.shape[:2], -1))


def single_layers(model):
    """Each layer of the model's nn.LSTM (nn.GRU, nn.RNN) as its own one-layer module sharing the weights."""
    layers = []
    for k in range(model.rnn.num_layers):
        single = type(model.rnn)(model.rnn.input_size if k == 0 else model.rnn.hidden_size, model.rnn.hidden_size)
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            setattr(single, f"{name}_l0", getattr(model.rnn, f"{name}_l{k}"))
        layers.append(single.to(next(model.parameters()).device))
    return layers


def scatter(dst, block, per, t0, n, first=0):
    """Write block [..., streams, steps] into dst [..., n] where the block's stream k is stream first + k, and
    stream s holds positions s*per + t."""
    streams, steps = block.shape[-2:]
    full = min(streams, n // per - first)  # the block's streams of per positions: all but a short last one
    head = dst[..., first * per:(first + full) * per].reshape(*dst.shape[:-1], full, per)
    assert not full or np.may_share_memory(head, dst), "reshape copied instead of viewing the memory map"
    head[..., t0:t0 + steps] = block[..., :full, :]
    if full < streams:
        lo = (first + full) * per + t0
        hi = min(n, lo + steps)
        if hi > lo:
            dst[..., lo:hi] = block[..., full, :hi - lo]


class BlockWriter:
    """Writes finished blocks into the recording's memory maps on a second thread while the next block is
    computed, through two buffers that take turns (memory stays bounded).

    On CPU the recording thread only converts a block to the stored dtype, in its own layout [kinds, layers,
    steps, streams, cells]; this thread does the slow part, turning it cell-major before it scatters (torch's
    and numpy's copies release the GIL, and the small per-step ops leave a core idle). With cell_major (on a
    GPU) the device converts and transposes the block itself, the copy to a pinned buffer runs asynchronously, and a
    pool of threads scatters the kinds at once: the host's share is then one contiguous run per cell and
    stream, not a transpose."""

    def __init__(self, writer, per, n, first, shape, dtype, cell_major=False):
        self.writer, self.per, self.n, self.first, self.cell_major = writer, per, n, first, cell_major
        kinds, layers, block, streams, cells = shape
        self.free, self.todo = queue.Queue(), queue.Queue()
        for _ in range(2):
            self.free.put(torch.empty((kinds, layers, cells, streams, block) if cell_major else shape, dtype=dtype,
                                      pin_memory=cell_major and torch.cuda.is_available()))
        self.pool = ThreadPoolExecutor(kinds if cell_major else 1)
        # on a CPU one kind at a time is turned cell-major, into this
        self.scratch = None if cell_major else torch.empty(layers * streams * cells * block, dtype=dtype)
        self.error = None
        self.thread = threading.Thread(target=self.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def put(self, t0, states, top_i, top_p, loss):
        """Queue block states [kinds, layers, steps, streams, cells] (any device, any float dtype) for writing."""
        if self.error is not None:
            raise self.error
        buffer, steps = self.free.get(), states.shape[2]  # waits while both buffers are still being written
        copied = None
        if self.cell_major:
            staged = states.to(buffer.dtype).permute(0, 1, 4, 3, 2).contiguous()  # on the device
            buffer[..., :steps].copy_(staged, non_blocking=True)
            if staged.is_cuda:
                copied = torch.cuda.Event()
                copied.record()
        else:
            buffer[:, :, :steps].copy_(states)
        self.todo.put((t0, buffer, steps, copied, top_i, top_p, loss))

    def scatter_kind(self, kind, block, t0):
        """One kind's block into its file: [layers, cells, streams, steps] as the device made it, or on a CPU
        [layers, steps, streams, cells], turned cell-major here."""
        scatter(self.writer.states[kind], block.numpy() if self.cell_major else self.cell_major_on_host(block),
                self.per, t0, self.n, self.first)

    def cell_major_on_host(self, block):
        """[layers, steps, streams, cells] -> [layers, cells, streams, steps] (a view of self.scratch), by a 2-D
        transpose of each layer's [steps, streams x cells]: torch's is cache-blocked, 11 ms for a block of a
        2x256 model's c and h on an AMD EPYC, against 52 ms for numpy's 5-D transposing copy."""
        layers, steps, streams, cells = block.shape
        out = self.scratch[:layers * streams * cells * steps].view(layers, streams * cells, steps)
        for layer in range(layers):
            out[layer].copy_(block[layer].reshape(steps, streams * cells).t())
        return out.numpy().reshape(layers, streams, cells, steps).transpose(0, 2, 1, 3)

    def run(self):
        w = self.writer
        while (item := self.todo.get()) is not None:
            t0, buffer, steps, copied, top_i, top_p, loss = item
            try:
                if self.error is None:
                    if copied is not None:
                        copied.synchronize()
                    blocks = buffer[..., :steps] if self.cell_major else buffer[:, :, :steps]
                    list(self.pool.map(self.scatter_kind, w.kinds, blocks, [t0] * len(w.kinds)))
                    scatter(w.top5_ids.T, top_i, self.per, t0, self.n, self.first)
                    scatter(w.top5_p.T, top_p, self.per, t0, self.n, self.first)
                    scatter(w.loss, loss, self.per, t0, self.n, self.first)
            except Exception as e:  # a full disk, say: raised in the recording thread
                self.error = e
            self.free.put(buffer)

    def __exit__(self, *exc):
        self.todo.put(None)
        self.thread.join()
        self.pool.shutdown()
        if self.error is not None and exc[0] is None:
            raise self.error


# More streams run a CPU's per-step matmul a little faster (2x256: 15% more chars/s with 256) but each one costs
# its warm-up and memory; a GPU needs many to be busy at all.
STREAMS = {"cpu": 64, "cuda": 1024}
CPU_MEMORY_MB = 256  # one block's buffers: 181 steps of 64 streams of a 2x256 LSTM's c and h, 74 of a 3x512


def default_memory_mb(device):
    """One block's buffers may take this much: on a GPU a quarter of its free memory, at most 4 GiB (the host's
    two pinned buffers hold the block again, in the stored dtype)."""
    if device.type != "cuda":
        return CPU_MEMORY_MB
    return min(4096, torch.cuda.mem_get_info(device)[0] // 4 // 2**20)


def block_steps(memory_mb, streams, per, kinds, layers, hidden, vocab, stored_bytes):
    """Steps per block, as many as one block's buffers fit in memory_mb (at most the stream's length): per step
    and stream, the states of every kind and layer in float32 and in the stored dtype three times (BlockWriter's
    two buffers, and a GPU's staged copy or a CPU's cell-major scratch for one kind), a layer's gates (4H, three times over for what the loop or the
    fused recomputation holds at once) and the head's logits and log-probabilities."""
    per_step = streams * (kinds * layers * hidden * (4 + 3 * stored_bytes) + 3 * 4 * hidden * 4 + 2 * vocab * 4)
    steps = int(memory_mb * 2**20 // per_step)
    if steps < 1:
        raise RecordError(f"--memory-mb {memory_mb:g} cannot hold one step of {streams} streams "
                          f"({per_step / 2**20:.1f} MB): give fewer --streams or more memory")
    return min(steps, per)


def stream_layout(n, streams, warmup):
    """(streams, chars per stream): no more streams than leaves each one a full warm-up of preceding text."""
    streams = max(1, min(streams, n // warmup if warmup else n))
    per = math.ceil(n / streams)
    return math.ceil(n / per), per


def time_major(flat, per, mine, device):
    """A flat array [streams * per] as [per, len(mine)], the streams in range `mine`: stream s reads positions
    s*per .. (s+1)*per - 1."""
    return torch.as_tensor(np.ascontiguousarray(flat.reshape(-1, per)[mine.start:mine.stop].T), device=device)


@torch.no_grad()
def warmed_state(model, ids, mine, per, warmup, block):
    """(h, c) [layers, len(mine), H] to start each stream in range `mine` from: stream 0 from zero at position
    0, every other one warmed up from zero over the `warmup` characters before its start, a block at a time
    (nn.LSTM returns every step's h, unwanted here). A GRU or RNN has no c: it stays zero, unused."""
    device = next(model.parameters()).device
    h = torch.zeros(model.config.layers, len(mine), model.config.hidden, device=device)
    c = torch.zeros_like(h)
    warmed = [s for s in mine if s > 0]
    if warmed and warmup:
        before = torch.as_tensor(np.stack([ids[s * per - warmup:s * per] for s in warmed]).T.copy(), device=device)
        state, k = None, len(mine) - len(warmed)
        for w0 in range(0, warmup, block):
            _, state = model.rnn(model.embed(before[w0:w0 + block]), state)
        if model.config.cell == "lstm":
            h[:, k:], c[:, k:] = state
        else:
            h[:, k:] = state
    return h, c


class Stepper:
    """Runs every layer over one block of steps for all streams, carrying h (and an LSTM's c) from block to block,
    by the chosen method; writes the states and gates of every step into a block buffer [kinds, layers, steps,
    streams, H], kinds as model.recording.kinds_for gives them (an LSTM's c, h, i, f, o; a GRU's h, r, z, n)."""

    def __init__(self, model, method, h, c, block):
        self.model, self.method, self.h, self.c = model, method, h, c
        self.cell = model.config.cell
        self.singles = single_layers(model) if method == "fused" else None
        self.loop = (loop_weights if self.cell == "lstm" else plain_weights)(model) if method == "loop" else None
        # reused, as fresh big tensors cost their page faults on every block
        self.xproj = torch.empty(block * h.shape[1], model.rnn.weight_ih_l0.shape[0], device=h.device)

    def run(self, ids, states, gates):
        """The last layer's h for the block [steps, streams, H]."""
        x = self.model.embed(ids) if self.method == "fused" else None
        for layer in range(self.h.shape[0]):
            x = self.run_layer(layer, ids, x, states[:, layer], gates)
        return x

    def projection(self, layer, ids, x):
        """The loop's input projection of a block: layer 0's looked up by character, a higher layer's one matmul."""
        w_in, bias = self.loop[layer][0], self.loop[layer][2]
        xproj = self.xproj[:ids.numel()]
        if layer == 0:
            torch.index_select(w_in, 0, ids.flatten(), out=xproj)
        else:
            matmul.addmm(bias, x.flatten(0, 1), w_in, xproj)
        return xproj.view(*ids.shape, -1)

    def run_layer(self, layer, ids, x, states, gates):
        """One layer over the block from its input x (the layer below's hs); its hs."""
        h, loop = self.h[layer], self.method == "loop"
        if self.cell == "lstm":
            cs, hs, ifo = states[0], states[1], states[2:] if gates else None
            if loop:
                layer_loop(self.projection(layer, ids, x), self.loop[layer][1], h, self.c[layer], hs, cs, ifo)
            else:
                layer_fused(x, layer_weights(self.model, layer), h, self.c[layer], hs, cs, ifo, self.singles[layer])
            self.c[layer] = cs[-1]
        else:
            hs, rzn = states[0], states[1:] if gates and self.cell == "gru" else None
            if loop and self.cell == "gru":
                gru_loop(self.projection(layer, ids, x), self.loop[layer][1], self.loop[layer][3], h, hs, rzn)
            elif loop:
                rnn_loop(self.projection(layer, ids, x), self.loop[layer][1], self.loop[layer][3], h, hs)
            else:
                hs[:], _ = self.singles[layer](x, h[None])
                if rzn is not None:
                    gru_fused_gates(x, raw_weights(self.model, layer), h, hs, rzn)
        self.h[layer] = hs[-1]
        return hs


class GateCounts:
    """Per sigmoid gate, layer and cell: how often the gate is below 0.1 and above 0.9 (the paper's saturation
    plot; for a GRU its r and z, as the paper shows them)."""

    def __init__(self, layers, hidden, kinds):
        self.at = {g: k for k, g in enumerate(kinds) if g in SIGMOID_GATES}  # where each is in a block buffer
        self.counts = {g: np.zeros((2, layers, hidden), np.int64) for g in self.at}

    def add(self, states, valid):
        for g, k in self.at.items():
            value = states[k]  # [layers, steps, streams, H]
            mask = valid[None, :, :, None]
            self.counts[g][0] += ((value < 0.1) & mask).sum((1, 2)).cpu().numpy()
            self.counts[g][1] += ((value > 0.9) & mask).sum((1, 2)).cpu().numpy()

    def fractions(self, n):
        """Of all n positions: on every rank, as each counted only its own streams and the counts are summed."""
        total = {g: distributed.sum_over_ranks(c) for g, c in self.counts.items()}
        return {g: {f"layer_{k}": {"left": (c[0, k] / n).round(5).tolist(), "right": (c[1, k] / n).round(5).tolist()}
                    for k in range(c.shape[1])} for g, c in total.items()}


@torch.no_grad()
def record(model, vocab, text, out_dir, next_char=None, gates=False, streams=None, warmup=1000, memory_mb=None,
           method="auto", dtype="float16", meta=None, progress=True, cell_major=None, block=None):
    """Write the recording of `model` over `text` to out_dir; returns its path.

    next_char, when known, is the character after the text: it gives the last position a loss. Under torchrun
    every rank calls it alike, and records its share of the streams. streams: by default STREAMS of the device
    (fewer where the text is short: each needs its warm-up before it). memory_mb: what one block's buffers may
    take (default_memory_mb), which sets the block's length; block: that length, given instead (tests).
    cell_major: whether the device makes each block cell-major itself (BlockWriter); by default on a GPU only,
    as on a CPU it would take the compute thread's time.
    """
    device = next(model.parameters()).device
    if method == "auto":
        method = "fused" if device.type == "cuda" else "loop"
    n, layers, hidden = len(text), model.config.layers, model.config.hidden
    ids = vocab.encode(text + (next_char or ""), unknown=(meta or {}).get("unknown"))
    if streams is not None and streams < 1:
        raise RecordError(f"--streams {streams}: at least 1")
    if memory_mb is not None and not memory_mb > 0:
        raise RecordError(f"--memory-mb {memory_mb:g}: more than 0")
    streams, per = stream_layout(n, streams or STREAMS.get(device.type, STREAMS["cpu"]), warmup)
    mine = distributed.my_range(streams)  # this rank's streams: all of them in a plain run
    kinds = kinds_for(model.config.cell, gates)
    block = block or block_steps(default_memory_mb(device) if memory_mb is None else memory_mb, len(mine) or 1, per,
                                 len(kinds), layers, hidden, len(vocab.chars), 2 if dtype == "float16" else 4)
    padded = np.zeros(streams * per + 1, dtype=np.int64)
    padded[:len(ids)] = ids
    position = np.arange(streams * per)
    x_all, y_all = time_major(padded[:-1], per, mine, device), time_major(padded[1:], per, mine, device)
    has_target = time_major(position < len(ids) - 1, per, mine, device)
    valid = time_major(position < n, per, mine, device)
    h, c = warmed_state(model, ids, mine, per, warmup, block)

    init = (f"stream 0 from a zero state at position 0; {streams - 1} more streams of {per} chars, each warmed up "
            f"from a zero state over the {warmup} chars before its start" if streams > 1 else
            "one stream from a zero state at position 0")
    meta = dict(meta or {}, cell=model.config.cell, init=init, streams=streams, warmup=warmup, block=block,
                method=method, device=str(device), text_sha256=hashlib.sha256(text.encode("utf-8")).hexdigest())
    main_rank = distributed.is_rank0()
    writer = RecordingWriter(out_dir, text, vocab.chars, layers, hidden, kinds, meta, dtype) if main_rank else None
    tmp = distributed.from_rank0(writer.tmp if main_rank else None)  # the others wait until rank 0 made the files
    writer = writer or RecordingWriter.join(tmp, kinds)
    counts = GateCounts(layers, hidden, kinds) if gates and model.config.cell != "rnn" else None
    stepper = Stepper(model, method, h, c, block)
    shape = (len(kinds), layers, block, len(mine), hidden)
    states = torch.empty(shape, device=device)  # one block's states (and gates), reused
    bar = tqdm(total=int(valid.sum()), unit="char", unit_scale=True, disable=not progress, dynamic_ncols=True,
               desc="record")  # this rank's characters
    store = torch.float16 if dtype == "float16" else torch.float32
    cell_major = device.type == "cuda" if cell_major is None else cell_major
    with BlockWriter(writer, per, n, mine.start, shape, store, cell_major) as disk:
        for t0 in range(0, per if mine else 0, block):  # a rank with no streams (fewer than ranks) only waits
            t1 = min(per, t0 + block)
            block_states = states[:, :, :t1 - t0]
            logp = torch.log_softmax(model.head(stepper.run(x_all[t0:t1], block_states, gates)).float(), -1)
            if counts:
                counts.add(block_states, valid[t0:t1])
            top_p, top_i = logp.topk(TOP_K, -1)
            loss = torch.where(has_target[t0:t1], -logp.gather(-1, y_all[t0:t1, :, None])[..., 0], torch.nan)
            disk.put(t0, block_states,
                     top_i.permute(2, 1, 0).int().cpu().numpy(), top_p.exp().permute(2, 1, 0).half().cpu().numpy(),
                     loss.T.cpu().numpy())
            bar.update(int(valid[t0:t1].sum()))
    bar.close()
    gate_stats = counts.fractions(n) if counts else None
    if not main_rank:
        writer.flush()
    distributed.barrier()  # every rank's blocks are in the files
    if main_rank:
        writer.finish(gate_stats=gate_stats)
        value_counts.count(Recording.open(out_dir), progress)  # a big recording's ranking counts only its concept
    return Path(out_dir)


def text_to_record(run_dir, text_file=None, max_chars=100_000):
    """(text, next char or None, source description): the run's validation split by default."""
    if text_file is not None:
        full = read_text(text_file)
        source = dict(kind="file", path=str(Path(text_file).resolve()))
    else:
        run = rundir.read_run(run_dir)
        try:
            full = read_text(run["corpus"])
        except CorpusError:
            raise RecordError(f"the run's corpus {run['corpus']} is gone; record another text with --text FILE") from None
        if hashlib.sha256(full.encode("utf-8")).hexdigest() != run["corpus_sha256"]:
            raise RecordError(f"the run's corpus {run['corpus']} changed since training; use --text FILE")
        s = run["split"]
        full = split(full, s["val_frac"], s["shuffle_lines"], s["seed"])[1]
        source = dict(kind="val", path=run["corpus"])
    text = full[:max_chars]
    return text, (full[max_chars] if len(full) > max_chars else None), dict(source, start=0, stop=len(text))


def already_recorded(path, text, gates, dtype):
    try:
        rec = Recording.open(path)
    except RecordingError:
        return False
    return (rec.meta.get("text_sha256") == hashlib.sha256(text.encode("utf-8")).hexdigest()
            and set(rec.kinds) >= set(kinds_for(rec.cell, gates)) and rec.meta["dtype"] == dtype)


def recorder_lock(run_dir):
    """The run's record lock, held by rank 0 alone: one recorder per run, however many ranks it has."""
    return rundir.writer_lock(run_dir, "record") if distributed.is_rank0() else contextlib.nullcontext()


def record_run(run_dir, checkpoints=None, all_checkpoints=False, text_file=None, max_chars=100_000, gates=False,
               unknown=None, streams=None, warmup=1000, memory_mb=None, method="auto", dtype="float16", device="auto",
               force=False, progress=True):
    """Record the named checkpoint (newest by default) or all of them; returns the recording paths. One
    recorder per run at a time; what an interrupted one left behind is removed first. Under torchrun every rank
    checks the arguments alike, then records its share (rank 0 holds the lock and decides what to record)."""
    run_dir = Path(run_dir)
    rundir.read_run(run_dir)
    names = list(rundir.checkpoints(run_dir)) if all_checkpoints else [rundir.checkpoint_path(run_dir, checkpoints).stem]
    if not names:
        raise RecordError(f"{run_dir}: no checkpoints to record")
    text, next_char, source = text_to_record(run_dir, text_file, max_chars)
    if len(text) < 2:
        raise RecordError("the text to record is shorter than 2 characters")
    main_rank, paths = distributed.is_rank0(), []
    progress = progress and main_rank
    with distributed.process_group(pick_device(device)) as device, recorder_lock(run_dir):
        if main_rank:
            for name, partial in rundir.partial_recordings(run_dir).items():  # its writer is gone: we hold the lock
                size = sum(f.stat().st_size for f in partial.iterdir())
                shutil.rmtree(partial)
                print(f"removed an interrupted recording of {name} ({size / 2 ** 20:,.0f} MB)", file=sys.stderr)
        for name in tqdm(names, unit="checkpoint", disable=not progress or len(names) == 1, desc="checkpoints"):
            out = run_dir / "recordings" / name
            paths.append(out)
            if not distributed.rank0_says(force or not already_recorded(out, text, gates, dtype)):
                continue
            model, vocab, ck = load_model(run_dir, name, device)
            meta = dict(checkpoint=name, iteration=ck["iteration"], val_loss=ck.get("val_loss"), run=run_dir.name,
                        checkpoint_sha256=ck["sha256"], source=source, unknown=unknown)
            start = time.time()
            record(model, vocab, text, out, next_char, gates, streams, warmup, memory_mb, method=method, dtype=dtype,
                   meta=meta, progress=progress)
            if progress:
                tqdm.write(f"{name}: {len(text):,} chars recorded in {time.time() - start:.1f}s -> {out}")
    return paths


def follow_run(run_dir, poll=2.0, progress=True, device="auto", **options):
    """Record every checkpoint of a run as training writes it, until training ends (rundir.is_training), then
    the last ones; for a run under way, or one trained on another machine that shares the disk. options:
    record_run's. Returns the recording paths. Under torchrun rank 0 looks, and all record."""
    run_dir, paths = Path(run_dir), []
    with distributed.process_group(pick_device(device)), recorder_lock(run_dir):
        while True:
            # before recording: a checkpoint written meanwhile comes next turn
            training = distributed.rank0_says(rundir.is_training(run_dir))
            if not (run_dir / "run.json").exists() and not training:
                raise RecordError(f"{run_dir}: not a run directory, and no training is writing it")
            found = rundir.checkpoints(run_dir)
            new = found and (not paths or set(found) - set(rundir.recordings(run_dir)))  # a stat per turn, no more
            if distributed.rank0_says(new):
                paths = record_run(run_dir, all_checkpoints=True, progress=progress, device=device, **options)
                options["force"] = False  # --force re-records what was there; what training adds is new anyway
            if not training:
                return paths
            time.sleep(poll)


def parser():
    p = ArgumentParser(prog="python -m model.record",
                       description="Record every cell of a checkpoint over a text, for the dashboard.")
    p.add_argument("run", help="run directory, e.g. runs/wp")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--checkpoint", help="checkpoint name, e.g. iter-000500 (default: newest)")
    which.add_argument("--all-checkpoints", action="store_true", help="record every checkpoint (skips done ones)")
    which.add_argument("--follow", action="store_true",
                       help="record every checkpoint as training writes it, until training ends")
    what = p.add_argument_group("what to record")
    what.add_argument("--text", help="a UTF-8 text file to record instead of the run's validation split")
    what.add_argument("--max-chars", type=int, default=100_000, help="record at most this many characters")
    what.add_argument("--gates", action="store_true",
                      help="also record the gates (an LSTM's input, forget, output; a GRU's reset, update, candidate)")
    what.add_argument("--unknown", help="map characters outside the vocabulary to this character")
    what.add_argument("--dtype", choices=["float16", "float32"], default="float16")
    how = p.add_argument_group("speed (the results are the same)")
    how.add_argument("--streams", type=int, help=f"parallel streams (default: {STREAMS['cpu']} on a CPU, "
                     f"{STREAMS['cuda']} on a GPU; fewer for a short text, as each needs its --warmup before it)")
    how.add_argument("--memory-mb", type=float, help=f"memory one block of steps may take, which sets its length "
                     f"(default: {CPU_MEMORY_MB} on a CPU; on a GPU a quarter of its free memory, at most 4096)")
    how.add_argument("--warmup", type=int, default=1000, help="characters each stream reads before its start")
    how.add_argument("--method", choices=["auto", "loop", "fused"], default="auto", help="auto: loop on CPU, fused on GPU")
    how.add_argument("--device", default="auto")
    p.add_argument("--force", action="store_true", help="record again even if an identical recording exists")
    return p


def main(argv=None):
    args = parser().parse_args(distributed.script_args(argv))  # `-- RUN ...`, as under torchrun
    options = dict(text_file=args.text, max_chars=args.max_chars, gates=args.gates, unknown=args.unknown,
                   streams=args.streams, warmup=args.warmup, memory_mb=args.memory_mb, method=args.method,
                   dtype=args.dtype, device=args.device, force=args.force)
    with reported():
        if args.follow:
            paths = follow_run(args.run, **options)
        else:
            paths = record_run(args.run, args.checkpoint, args.all_checkpoints, **options)
    if distributed.is_rank0():
        print("\n".join(str(p) for p in paths))


if __name__ == "__main__":
    main()
