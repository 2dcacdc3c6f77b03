"""A character n-gram language model: the baseline of "Visualizing and Understanding Recurrent Networks"
(Karpathy, Johnson & Fei-Fei 2015, section 4.3). How much of what the LSTM predicts could a 20-gram have
predicted, and where does the LSTM win? (Far from the opening bracket or quote it has to close.)

    python -m viz.ngram runs/NAME [--order 20] [--checkpoint iter-000500 | --all-checkpoints] [--corpus FILE]

fits on the run's training split, prints the validation loss of every order beside the LSTM's, and stores the
best order's per-character loss over a recording as recordings/iter-NNNNNN/ngram_loss.npy (ngram.json beside,
with how close each order comes to the model there; with --all-checkpoints, for every checkpoint: Compare's
"which n-gram is the model closest to" chart).

Smoothing: interpolated Kneser-Ney with one discount per order, D = n1 / (n1 + 2 n2) (Chen & Goodman 1998),
interpolated down to the uniform distribution over the run's vocabulary, so every character has a nonzero
probability and every distribution sums to 1:

    P_n(w | h) = (max(c_n(h w) - D_n, 0) + D_n N1+(h .) P_{n-1}(w | h')) / c_n(h)     if c_n(h) > 0
               = P_{n-1}(w | h')                                                      otherwise;  P_0(w) = 1/V

h is the n-1 characters before w and h' the last n-2 of them; N1+(h .) is how many distinct characters follow h.
c_n is the plain count at the top order and the continuation count N1+(. h w), the number of distinct characters
seen before h w, at the orders below it, so both are kept for every order (any order can be the top one). The
text's first n-gram counts its start as the character before it. A context that reaches past the start of a
text has never been seen. Modified Kneser-Ney (three discounts per order) would do a little better; not done.

No hashing: a k-gram is named exactly by its rank among the training text's distinct k-grams, in sorted order.
An n-gram's key is (rank of its first n-1 characters) V + its last character, so one order's sorted keys are
its (context, next character) pairs grouped by context; fit() sorts the n-grams of every order with one radix
sort each, and a text is looked up order by order with np.searchsorted, the k characters ending at t from the
k-1 ending at t-1. Stored per order: 16 bytes per distinct n-gram (key, count, continuation count) and 12 per
distinct context (totals of both counts, distinct next characters). No torch here.
"""
import hashlib
import io
import math
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from model import rundir
from model.corpus import CorpusError, Vocab, read_text, split
from model.errors import ArgumentParser, CellscopeError, reported
from model.recording import Recording

SMOOTHING = "interpolated Kneser-Ney, one discount per order D = n1/(n1+2 n2), uniform at the bottom"


class NgramError(CellscopeError):
    """An n-gram model cannot be fitted or asked as requested; one line for the user."""


def _find(table, keys):
    """Index of each key in the sorted table, -1 where it is absent. The keys are looked up in sorted order, as
    numpy's binary search then starts where the last one ended: 5x faster once the table outgrows the cache."""
    order = np.argsort(keys, axis=None)
    wanted = keys.ravel()[order]
    at = np.minimum(np.searchsorted(table, wanted), len(table) - 1)
    found = np.empty(len(order), np.int64)
    found[order] = np.where(table[at] == wanted, at, -1)
    return found.reshape(keys.shape)


def _discount(counts):
    """Kneser-Ney's D = n1 / (n1 + 2 n2), n_r being how many n-grams have count r; one singleton at least is
    assumed, so D > 0 and the orders below always keep some probability."""
    n1 = max(int(np.count_nonzero(counts == 1)), 1)
    return n1 / (n1 + 2 * int(np.count_nonzero(counts == 2)))


def _per_context(keys, counts, vocab_size, n_contexts):
    """Sum of counts over each context's n-grams (exact: float64 holds integers to 2^53)."""
    return np.bincount(keys // vocab_size, weights=counts, minlength=n_contexts).astype(np.uint32)


@dataclass
class Order:
    """One order's counts. keys: the distinct n-grams as context id * V + next char, sorted, so each context's
    are contiguous; a context id is the (n-1)-gram's index in the order below (0: the empty context)."""
    keys: np.ndarray  # int64 [n-grams]
    raw: np.ndarray  # uint32 [n-grams]: occurrences
    total: np.ndarray  # uint32 [contexts]: occurrences of the context followed by a character
    types: np.ndarray  # uint32 [contexts]: distinct characters seen after it, N1+(h .)
    discount: float
    cont: np.ndarray = None  # uint32 [n-grams]: distinct characters seen before it, N1+(. h w); not at the top
    cont_total: np.ndarray = None  # uint32 [contexts]
    cont_discount: float = None

    def mix(self, p, context, found, top):
        """P_n from P_{n-1} = p [rows, K], at contexts [rows] (-1: unseen) and n-grams found [rows, K] (-1: unseen),
        with the plain counts if this order is the top one, else the continuation counts."""
        if top:
            count, total, d = self.raw, self.total, self.discount
        else:
            count, total, d = self.cont, self.cont_total, self.cont_discount
        known = context >= 0
        context = np.where(known, context, 0)
        tot = np.where(known, total[context], 0).astype(np.float64)
        c = np.where(found >= 0, count[np.maximum(found, 0)], 0)
        mixed = (np.maximum(c - d, 0) + d * self.types[context][:, None] * p) / np.maximum(tot, 1)[:, None]
        return np.where(tot[:, None] > 0, mixed, p)


def _ids(ids, vocab_size):
    ids = np.asarray(ids, np.int64)
    if len(ids) and (ids.min() < 0 or ids.max() >= vocab_size):
        raise NgramError(f"character ids outside the vocabulary of {vocab_size}")
    return ids


def fit(train_ids, vocab_size, order=20):
    """The n-gram model of orders 1..order counted on train_ids (ints in [0, vocab_size)).

    The n-grams are sorted as suffixes are in a suffix array: the n-gram at t is the character at t followed by
    the (n-1)-gram at t+1, so the positions sorted by (n-1)-gram, each moved back by one, need only a stable sort
    by their first character to come out sorted by n-gram. That sort is of small ints (numpy's radix sort): one
    linear pass per order instead of a comparison sort of 64-bit keys."""
    ids = _ids(train_ids, vocab_size)
    if order < 1:
        raise NgramError(f"--order must be at least 1, got {order}")
    if len(ids) <= order:
        raise NgramError(f"the training text ({len(ids)} characters) is too short for order {order}")
    V = vocab_size
    first = ids.astype(np.min_scalar_type(V - 1))
    rank = np.zeros(len(ids) + 1, np.int64)  # the index among the distinct (n-1)-grams of the one starting at t
    by_gram = np.arange(len(ids) + 1)  # positions sorted by the (n-1)-gram starting there: all the empty one
    orders = []
    for n in range(1, order + 1):
        at = by_gram[by_gram > 0] - 1
        by_gram = at[np.argsort(first[at], kind="stable")]
        char, rest = first[by_gram], rank[by_gram + 1]  # the n-gram at t: its first character, then the rest
        new = np.r_[True, (char[1:] != char[:-1]) | (rest[1:] != rest[:-1])]  # a distinct n-gram starts here
        starts = np.flatnonzero(new)
        raw = np.diff(np.r_[starts, len(by_gram)])
        t = by_gram[starts]  # a position of each distinct n-gram, in sorted order
        keys = rank[t] * V + ids[t + n - 1]
        n_contexts = len(orders[-1].keys) if orders else 1
        orders.append(Order(keys, raw.astype(np.uint32), _per_context(keys, raw, V, n_contexts),
                            np.bincount(keys // V, minlength=n_contexts).astype(np.uint32), _discount(raw)))
        if n > 1:  # each distinct n-gram is one distinct character before its last n-1: their continuation count
            below = orders[-2]
            cont = np.bincount(rest[starts], minlength=len(below.keys))
            cont[rank[0]] += 1  # the (n-1)-gram the text opens with: its start comes before it
            below.cont, below.cont_discount = cont.astype(np.uint32), _discount(cont)
            below.cont_total = _per_context(below.keys, cont, V, len(below.total))
        rank = np.empty(len(by_gram), np.int64)
        rank[by_gram] = np.cumsum(new) - 1
    return NgramModel(orders, V)


class NgramModel:
    """Orders 1..order fitted by fit(). Position t of a text is asked for the character after ids[..t]."""

    def __init__(self, orders, vocab_size):
        self.orders, self.vocab_size, self.order = orders, vocab_size, len(orders)

    def _order(self, order):
        order = self.order if order is None else order
        if not 1 <= order <= self.order:
            raise NgramError(f"order {order} is not between 1 and the fitted {self.order}")
        return order

    def contexts(self, ids, order=None):
        """[order, n] int64: row k holds, at each position t, the id of the k characters ending at t among the
        fitted k-grams (-1: unseen, or reaching past the start). Row 0 is the empty context."""
        order, ids = self._order(order), _ids(ids, self.vocab_size)
        ctx = np.zeros((order, len(ids)), np.int64)
        for k in range(1, order):
            before = ctx[0] if k == 1 else np.concatenate([[-1], ctx[k - 1, :-1]])  # k-1 chars ending at t-1
            ctx[k] = _find(self.orders[k - 1].keys, before * self.vocab_size + ids)
        return ctx

    def _mix(self, ctx, targets, every):
        p, tops = np.full(targets.shape, 1 / self.vocab_size), []
        for n, (level, context) in enumerate(zip(self.orders, ctx), 1):
            found = _find(level.keys, context[:, None] * self.vocab_size + targets)
            if every or n == len(ctx):
                tops.append(level.mix(p, context, found, top=True))
            if n < len(ctx):
                p = level.mix(p, context, found, top=False)
        return tops if every else tops[0]

    def prob(self, ids, targets, order=None, every=False):
        """float64 [n, K]: P(targets[t, k] | ids[..t]) at the given order (default: the fitted one); every=True:
        a list of those for orders 1..order, one pass for all."""
        targets = _ids(targets, self.vocab_size).reshape(len(ids), -1)
        return self._mix(self.contexts(ids, order), targets, every)

    def losses(self, ids, order=None):
        """float32 [order, n]: row k-1 the per-character loss of order k, -log P(ids[t+1] | ids[..t]) in nats at
        position t (the recording's convention), NaN at the last position; one pass for all orders."""
        ids = _ids(ids, self.vocab_size)
        out = np.full((self._order(order), len(ids)), np.nan, np.float32)
        if len(ids) > 1:
            out[:, :-1] = -np.log(np.stack(self.prob(ids[:-1], ids[1:, None], order, every=True))[..., 0])
        return out

    def loss(self, ids, order=None):
        """float32 [n]: the per-character loss of one order (default: the fitted one), as in losses()."""
        ids = _ids(ids, self.vocab_size)
        out = np.full(len(ids), np.nan, np.float32)
        if len(ids) > 1:
            out[:-1] = -np.log(self.prob(ids[:-1], ids[1:, None], order)[:, 0])
        return out

    def probabilities(self, ids, order=None, chunk=4096):
        """float64 [n, vocab]: row t the whole distribution of the character after ids[..t] (chunked: a row costs
        one table look-up per character of the vocabulary and order)."""
        ctx = self.contexts(ids, order)
        out = np.empty((ctx.shape[1], self.vocab_size))
        every = np.arange(self.vocab_size)
        for a in range(0, len(out), chunk):
            rows = ctx[:, a:a + chunk]
            out[a:a + chunk] = self._mix(rows, np.broadcast_to(every, (rows.shape[1], self.vocab_size)), False)
        return out


def agreement(model, ids, lstm_loss, top5_ids, top5_p):
    """Per order, how close the n-gram's predictions come to the LSTM's over a recording (n = len(lstm_loss)
    positions; ids may hold one character more, the one after the recording).

    A recording keeps only the LSTM's loss and top-5 probabilities, not its distribution, so what is computed is
    what those allow: the mean loss of both and the mean |difference| per character (how alike the two are, not
    only on average), and kl_top5, the KL divergence KL(LSTM || n-gram) between the two distributions coarsened
    to six outcomes (each of the LSTM's five guesses, and everything else). Coarsening never raises a KL
    divergence, so kl_top5 is a lower bound of the true KL (up to the float16 rounding of the stored top-5)."""
    n = len(lstm_loss)
    ngram = model.losses(ids)[:, :n]
    q5 = model.prob(ids[:n], top5_ids, every=True)
    p5 = np.asarray(top5_p, np.float64)
    rest = np.clip(1 - p5.sum(1), 0, 1)
    lstm = np.asarray(lstm_loss, np.float64)
    rows = []
    for k, (loss, q) in enumerate(zip(ngram, q5), 1):
        q_rest = np.maximum(1 - q.sum(1), 0) + 1e-12  # over the rounding of the sum, so the bound stays one
        with np.errstate(divide="ignore", invalid="ignore"):
            kl = np.where(p5 > 0, p5 * np.log(p5 / q), 0).sum(1) + np.where(rest > 0, rest * np.log(rest / q_rest), 0)
        ok = np.isfinite(lstm) & np.isfinite(loss)
        rows.append(dict(order=k, ngram=loss[ok].mean(), lstm=lstm[ok].mean(),
                         abs_diff=np.abs(loss[ok] - lstm[ok]).mean(), kl_top5=kl.mean()))
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------------------
# long-range dependencies: the paper's figure of the LSTM's advantage at closing delimiters against distance

CLOSERS = ('"', ")", "]", "}", "]]")
OPENER = {")": "(", "]": "[", "}": "{", "]]": "[["}
_DELIMITERS = re.compile(r'\[\[|\]\]|[(\[{)\]}"]|\n[^\S\n]*\n')  # and a blank line, which closes everything


def delimiter_pairs(text):
    """[(closer, opener position, closer position)] of every matched closing delimiter, by the rules of
    viz.concepts: brackets nest, a straight " toggles, a blank line forgets whatever is open, a stray closer is
    skipped. "]]" closes "[[" (a wiki link); without an open "[[" it is two "]"."""
    pairs, open_, quote = [], {opener: [] for opener in OPENER.values()}, None
    for m in _DELIMITERS.finditer(text):
        token, at = m.group(), m.start()
        if token[0] == "\n":
            quote = None
            for stack in open_.values():
                stack.clear()
        elif token == '"' and quote is None:
            quote = at
        elif token == '"':
            pairs.append(('"', quote, at))
            quote = None
        elif token in open_:
            open_[token].append(at)
        elif token == "]]" and open_["[["]:
            pairs.append(("]]", open_["[["].pop(), at))
        else:
            for i, closer in enumerate(token):
                if open_[OPENER[closer]]:
                    pairs.append((closer, open_[OPENER[closer]].pop(), at + i))
    return pairs


def long_range(text, ngram_loss, lstm_loss):
    """DataFrame (delimiter, distance, advantage, position): at each matched closing delimiter, its distance in
    characters from the opener and the LSTM's advantage in predicting it, n-gram loss - LSTM loss in nats
    (position t-1 holds the loss of predicting character t; for "]]" its first "]", the one that ends the link)."""
    df = pd.DataFrame(delimiter_pairs(text), columns=["delimiter", "opener", "position"])
    df = df.astype({"delimiter": str, "opener": np.int64, "position": np.int64})
    df = df[df["position"] > 0]
    before = df["position"].to_numpy() - 1
    df = df.assign(distance=df["position"] - df["opener"],
                   advantage=np.asarray(ngram_loss, np.float64)[before] - np.asarray(lstm_loss, np.float64)[before])
    return df[np.isfinite(df["advantage"])][["delimiter", "distance", "advantage", "position"]].reset_index(drop=True)


def long_range_figure(df):
    """The mean advantage in distance bins of doubling width (1, 2-3, 4-7, ...), a line per delimiter."""
    fig = go.Figure()
    for delimiter in [d for d in CLOSERS if d in set(df["delimiter"])]:
        part = df[df["delimiter"] == delimiter]
        bins = part.groupby(np.floor(np.log2(part["distance"])).astype(int))["advantage"].agg(["mean", "count"])
        lo = 2 ** bins.index.to_numpy()
        fig.add_scatter(x=lo * math.sqrt(2), y=bins["mean"], mode="lines+markers", name=delimiter,
                        customdata=np.column_stack([lo, 2 * lo - 1, bins["count"]]),
                        hovertemplate=(f"{delimiter} %{{customdata[0]}}-%{{customdata[1]}} chars after its opener: "
                                       "%{y:.3f} nats (%{customdata[2]} closers)<extra></extra>"))
    fig.add_hline(y=0, line={"color": "#999", "width": 1})
    fig.update_layout(template="none", height=320, margin={"l": 60, "r": 10, "t": 10, "b": 50},
                      font={"family": "system-ui, sans-serif"}, legend={"title": {"text": "closer"}},
                      xaxis={"type": "log", "title": {"text": "distance from the opening delimiter (characters)"},
                             "gridcolor": "#eee"},
                      yaxis={"title": {"text": "n-gram loss − LSTM loss (nats)"}, "gridcolor": "#eee"})
    return fig


# ---------------------------------------------------------------------------------------------------------
# the run: fit on its training split, compare on its validation split and a recording


def run_split(run_dir, corpus=None):
    """(train, val) texts of the run: its corpus (or a copy of it, `corpus`), checked against the sha256 it was
    trained on, split as training split it."""
    run = rundir.read_run(run_dir)
    path = corpus or run["corpus"]
    try:
        text = read_text(path)
    except CorpusError:
        if corpus is not None:
            raise
        raise NgramError(f"the run's corpus {path} is gone; pass a copy of it with --corpus FILE") from None
    if hashlib.sha256(text.encode("utf-8")).hexdigest() != run["corpus_sha256"]:
        raise NgramError(f"{path} is not the corpus {run_dir} was trained on (its sha256 differs)")
    s = run["split"]
    return split(text, s["val_frac"], s["shuffle_lines"], s["seed"])


def recording_ids(rec, vocab, val):
    """The recording's text as ids, with the character after it when it was cut from the validation split (the
    recording scored that character too)."""
    text, source = rec.text, rec.meta.get("source") or {}
    if source.get("kind") == "val" and val[source["start"]:source["stop"]] == text and source["stop"] < len(val):
        text += val[source["stop"]]
    return vocab.encode(text, unknown=rec.meta.get("unknown"))


def compare_run(run_dir, order=20, checkpoint=None, corpus=None, all_checkpoints=False):
    """Fit on the run's training split; beside the recording (the named one, the newest, or every one) write the
    best order's loss over it and how close each order comes to the model there. Returns a (summary dict, table
    per order as a DataFrame) per recording, oldest first."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise rundir.RunError(f"run directory {run_dir} does not exist")
    if order < 1:
        raise NgramError(f"--order must be at least 1, got {order}")
    vocab = Vocab(rundir.read_run(run_dir)["vocab"])
    paths = (list(rundir.recordings(run_dir).values()) if all_checkpoints else
             [rundir.recording_path(run_dir, checkpoint)])
    if not paths:
        raise NgramError(f"{run_dir} has no recordings yet; record them with python -m model.record {run_dir}")
    train, val = run_split(run_dir, corpus)
    start = time.time()
    model = fit(vocab.encode(train), len(vocab), order)
    fit_s = time.time() - start
    val_table = pd.DataFrame({"order": np.arange(1, order + 1), "val": np.nanmean(model.losses(vocab.encode(val)), 1)})
    return [_compare_recording(run_dir, Recording.open(path), model, vocab, val, val_table, fit_s, len(train))
            for path in paths]


def _compare_recording(run_dir, rec, model, vocab, val, val_table, fit_s, train_chars):
    ids = recording_ids(rec, vocab, val)
    guesses, top5_p = rec.top5()
    top5_ids = vocab.encode("".join(map("".join, guesses))).reshape(top5_p.shape)
    table = val_table.merge(agreement(model, ids, rec.loss(), top5_ids, top5_p), on="order")
    best = int(table.loc[table["val"].idxmin(), "order"])
    lstm_val = rundir.val_loss(run_dir, rec.iteration, rec.meta)
    summary = dict(order=len(table), best_order=best, smoothing=SMOOTHING, train_chars=train_chars,
                   val_chars=len(val), fit_seconds=round(fit_s, 2), val_loss=[round(float(x), 6) for x in table["val"]],
                   recording=rec.path.name, recording_chars=rec.n_chars, text_sha256=rec.meta.get("text_sha256"),
                   recording_loss=[round(float(x), 6) for x in table["ngram"]],
                   kl_top5=[round(float(x), 6) for x in table["kl_top5"]],
                   closest_order=int(table.loc[table["kl_top5"].idxmin(), "order"]),
                   lstm=dict(checkpoint=rec.checkpoint, iteration=rec.iteration, val_loss=lstm_val,
                             recording_loss=float(table["lstm"][0])))
    buf = io.BytesIO()
    np.save(buf, model.loss(ids, best)[:rec.n_chars])
    with rundir.writer_lock(run_dir, "record"):
        if not rec.intact():
            raise NgramError(f"recording {rec.path} changed while the n-gram was fitted; run this again")
        rundir.atomic_write(rec.path / "ngram_loss.npy", buf.getvalue())
        rundir.write_json(rec.path / "ngram.json", summary)
    return summary, table


def format_emergence(results):
    """Which order each checkpoint's predictions are closest to (the smallest KL >= from its top 5)."""
    lines = ["", f"{'checkpoint':>12} {'closest order':>13} {'KL >=':>7} {'LSTM rec nats':>13}"]
    for summary, table in results:
        k = summary["closest_order"]
        lines.append(f"{summary['recording']:>12} {k:>13} {summary['kl_top5'][k - 1]:>7.3f} "
                     f"{summary['lstm']['recording_loss']:>13.4f}")
    return "\n".join(lines)


def format_report(summary, table):
    bits = math.log(2)
    lines = [f"{summary['order']}-gram ({summary['smoothing']}) fitted on {summary['train_chars']:,} training "
             f"characters in {summary['fit_seconds']:.1f} s",
             f"val: the {summary['val_chars']:,} characters of the validation split; recording: the "
             f"{summary['recording_chars']:,} characters of {summary['recording']} (KL >= from the LSTM's top 5)",
             "",
             f"{'order':>16} {'val nats':>9} {'bits/char':>9} {'rec nats':>9} {'|diff|':>7} {'KL >=':>7}"]
    for row in table.itertuples():
        mark = "  <- best" if row.order == summary["best_order"] else ""
        lines.append(f"{row.order:>16} {row.val:>9.4f} {row.val / bits:>9.4f} {row.ngram:>9.4f} {row.abs_diff:>7.3f} "
                     f"{row.kl_top5:>7.3f}{mark}")
    lstm = summary["lstm"]
    known = lstm["val_loss"] is not None
    val = f"{lstm['val_loss']:>9.4f} {lstm['val_loss'] / bits:>9.4f}" if known else f"{'-':>9} {'-':>9}"
    lines.append(f"{'LSTM ' + lstm['checkpoint']:>16} {val} {lstm['recording_loss']:>9.4f}")
    lines.append(f"wrote recordings/{summary['recording']}/ngram_loss.npy (order {summary['best_order']}) "
                 "and ngram.json")
    return "\n".join(lines)


def main(argv=None):
    p = ArgumentParser(prog="python -m viz.ngram", description=__doc__.split("\n\n")[0])
    p.add_argument("run", help="run directory, e.g. runs/wp")
    p.add_argument("--order", type=int, default=20, help="highest order (default 20, as in the paper)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--checkpoint", help="the recording to compare with, e.g. iter-000500 (default: newest)")
    which.add_argument("--all-checkpoints", action="store_true",
                       help="every recording, and which order each checkpoint is closest to (for Compare)")
    p.add_argument("--corpus", help="a copy of the run's corpus, if it is no longer where run.json says")
    args = p.parse_args(argv)
    with reported():
        results = compare_run(args.run, args.order, args.checkpoint, args.corpus, args.all_checkpoints)
        print(format_report(*results[-1]))
        if args.all_checkpoints:
            print(format_emergence(results))


if __name__ == "__main__":
    main()
