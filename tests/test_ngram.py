"""The character n-gram baseline (viz/ngram.py): its distributions, its smoothing checked against a slow
pure-Python implementation of the same formula, and its command line on a tiny real run."""
import json
import math
import shutil
from collections import Counter, defaultdict

import numpy as np
import pytest

from conftest import real_text
from model import rundir
from model.corpus import Vocab
from model.recording import Recording
from viz.ngram import NgramError, agreement, delimiter_pairs, fit, long_range, long_range_figure, main


def encoded(*texts):
    """The texts as ids in the vocabulary of all of them."""
    vocab = Vocab.from_text("".join(texts))
    return vocab, [vocab.encode(t) for t in texts]


def reference(train, vocab_size, order):
    """P(w | history) with order `top` on top, by the formula in viz/ngram.py's docstring, from dict counts."""
    raw, before = Counter(), defaultdict(set)
    for n in range(1, order + 1):
        for t in range(len(train) - n + 1):
            gram = tuple(train[t:t + n])
            raw[gram] += 1
            before[gram].add(train[t - 1] if t else "start")
    cont = {gram: len(chars) for gram, chars in before.items()}
    stats = {}
    for name, counts in (("raw", raw), ("cont", cont)):
        for n in range(1, order + 1):
            values = [c for gram, c in counts.items() if len(gram) == n]
            n1, n2 = max(values.count(1), 1), values.count(2)
            total, types = Counter(), Counter()
            for gram, c in counts.items():
                if len(gram) == n:
                    total[gram[:-1]] += c
                    types[gram[:-1]] += 1
            stats[name, n] = (n1 / (n1 + 2 * n2), total, types)

    def prob(history, w, top):
        p = 1 / vocab_size
        for n in range(1, top + 1):
            name = "raw" if n == top else "cont"
            counts = raw if name == "raw" else cont
            d, total, types = stats[name, n]
            h = tuple(history[len(history) - n + 1:]) if n - 1 <= len(history) else None
            if h is not None and total[h] > 0:
                p = (max(counts.get(h + (w,), 0) - d, 0) + d * types[h] * p) / total[h]
        return p
    return prob


def test_matches_a_pure_python_reference_exactly():
    text = real_text("shakespeare.txt")
    vocab, (train, test) = encoded(text[:3000], text[3000:3200])
    model, prob = fit(train, len(vocab), 6), reference(train.tolist(), len(vocab), 6)
    for ids in (test, train[:200]):  # unseen contexts and characters, and its own training text
        histories = [ids[max(0, t - 4):t + 1].tolist() for t in range(len(ids))]  # the last 5 characters at most
        for order in (1, 3, 6):
            ours = model.probabilities(ids, order)
            slow = np.array([[prob(h, w, order) for w in range(len(vocab))] for h in histories])
            assert np.abs(ours - slow).max() < 1e-9, order


def test_probabilities_sum_to_one_at_every_position_and_are_never_zero():
    vocab, (train, other) = encoded(real_text("austen.txt")[:20_000], real_text("enough.c")[:1500])
    model = fit(train, len(vocab), 20)
    assert len(set(other) - set(train)) > 0  # characters the model never saw
    for ids in (other, train[:1500]):
        for order in (1, 2, 5, 20):
            p = model.probabilities(ids, order)
            assert p.shape == (len(ids), len(vocab))
            assert np.abs(p.sum(1) - 1).max() < 1e-12 and p.min() > 0, order


def test_order_1_loss_is_the_smoothed_unigram_cross_entropy():
    text = real_text("sherlock_holmes.txt")
    vocab, (ids,) = encoded(text + real_text("latex.tex"))  # a wider vocabulary: the uniform floor matters
    ids = ids[:len(text)]
    counts = Counter(text)
    n1, n2 = list(counts.values()).count(1), list(counts.values()).count(2)
    d = max(n1, 1) / (max(n1, 1) + 2 * n2)
    p = {ch: (max(c - d, 0) + d * len(counts) / len(vocab)) / len(text) for ch, c in counts.items()}
    predicted = Counter(text[1:])
    entropy = -sum(c * math.log(p[ch]) for ch, c in predicted.items()) / (len(text) - 1)

    loss = fit(ids, len(vocab), 3).loss(ids, order=1)
    assert np.isnan(loss[-1]) and np.isfinite(loss[:-1]).all()
    assert loss[:-1].mean(dtype=np.float64) == pytest.approx(entropy, rel=1e-6)
    assert np.allclose(loss[:-1], [-math.log(p[ch]) for ch in text[1:]], rtol=1e-6)


def test_loss_on_its_training_text_falls_with_order():
    vocab, (ids,) = encoded(real_text("austen.txt")[:30_000])
    means = np.nanmean(fit(ids, len(vocab), 10).losses(ids), 1)
    assert (np.diff(means) < 0).all(), means


def test_loss_is_the_probability_of_the_next_character():
    text = real_text("war_and_peace.txt")
    vocab, (train, test) = encoded(text[:20_000], text[20_000:22_000])
    model = fit(train, len(vocab), 8)
    for order in (1, 3, 8):
        p = model.probabilities(test, order)
        loss = model.loss(test, order)
        assert loss.dtype == np.float32 and np.isnan(loss[-1])
        assert np.allclose(loss[:-1], -np.log(p[np.arange(len(test) - 1), test[1:]]), rtol=1e-6)
        assert np.array_equal(model.losses(test)[order - 1], loss, equal_nan=True)


def test_agreement_of_the_model_with_itself_is_perfect():
    """The n-gram standing in for the LSTM: its own loss and top 5 give |diff| 0 and KL 0 at that order, and KL
    from the coarsened distributions is never negative."""
    vocab, (train, test) = encoded(real_text("austen.txt")[:20_000], real_text("austen.txt")[20_000:22_000])
    model = fit(train, len(vocab), 5)
    p = model.probabilities(test, 3)
    top5 = np.argsort(-p, 1)[:, :5]
    rows = agreement(model, test, model.loss(test, 3), top5, np.take_along_axis(p, top5, 1))
    assert list(rows["order"]) == [1, 2, 3, 4, 5]
    assert rows.loc[2, "abs_diff"] < 1e-6 and abs(rows.loc[2, "kl_top5"]) < 1e-9
    assert (rows["kl_top5"] > -1e-9).all() and (rows.drop(index=2)["kl_top5"] > 1e-3).all()


def test_bad_requests_are_ngram_errors():
    vocab, (ids,) = encoded(real_text("names.txt")[:2000])
    with pytest.raises(NgramError):
        fit(ids, len(vocab), 0)
    with pytest.raises(NgramError):
        fit(ids[:5], len(vocab), 5)
    with pytest.raises(NgramError):
        fit(ids, len(vocab) - 1, 3)
    model = fit(ids, len(vocab), 3)
    with pytest.raises(NgramError):
        model.loss(ids, order=4)


def test_closing_delimiters_are_matched_with_their_openers():
    text = real_text("wiki.xml")[:20_000]
    pairs = delimiter_pairs(text)
    kinds = Counter(closer for closer, _, _ in pairs)
    assert kinds["]]"] > 10 and kinds[")"] > 10 and kinds['"'] > 10
    for closer, opener, at in pairs:
        assert text[at:at + len(closer)] == closer and opener < at
        assert text[opener:opener + len(closer)] == {'"': '"', ")": "(", "]": "[", "}": "{", "]]": "[["}[closer]


def test_long_range_advantage_is_the_loss_difference_before_each_closer():
    """Two real per-character losses (orders 2 and 5 of an n-gram) stand in for the n-gram's and the LSTM's."""
    text = real_text("wiki.xml")
    vocab, (train, test) = encoded(text[:60_000], text[60_000:75_000])
    model = fit(train, len(vocab), 5)
    low, high = model.loss(test, 2), model.loss(test, 5)
    df = long_range(text[60_000:75_000], low, high)
    assert list(df.columns) == ["delimiter", "distance", "advantage", "position"]
    assert set(df["delimiter"]) >= {"]]", ")"} and (df["distance"] > 0).all()
    before = df["position"].to_numpy() - 1
    assert np.allclose(df["advantage"], low[before].astype(np.float64) - high[before])
    fig = long_range_figure(df)
    assert {trace.name for trace in fig.data} == set(df["delimiter"])


@pytest.fixture
def run_copy(tiny_run, tmp_path):
    """The tiny run copied, so what the command writes stays out of the fixture other tests share."""
    return shutil.copytree(tiny_run, tmp_path / "tiny")


def test_cli_writes_the_best_orders_loss_beside_the_recording(run_copy, capsys):
    main([str(run_copy), "--order", "8", "--checkpoint", "iter-000100"])
    out = capsys.readouterr().out
    rec = Recording.open(run_copy / "recordings" / "iter-000100")
    summary = json.loads((rec.path / "ngram.json").read_text(encoding="utf-8"))
    loss = np.load(rec.path / "ngram_loss.npy")
    assert loss.dtype == np.float32 and loss.shape == (rec.n_chars,)
    assert np.isfinite(loss).all()  # the recording scored the character after its text: so does the n-gram
    assert summary["order"] == 8 and len(summary["val_loss"]) == 8
    assert summary["val_loss"][summary["best_order"] - 1] == min(summary["val_loss"])
    assert "LSTM iter-000100" in out and "<- best" in out and len(out.splitlines()) == 4 + 8 + 2
    assert not (run_copy / "recordings" / "iter-000150" / "ngram_loss.npy").exists()


def test_all_checkpoints_says_which_order_each_checkpoint_is_closest_to(run_copy, capsys):
    main([str(run_copy), "--order", "6", "--all-checkpoints"])
    out = capsys.readouterr().out
    for name in rundir.recordings(run_copy):
        summary = json.loads((run_copy / "recordings" / name / "ngram.json").read_text(encoding="utf-8"))
        assert len(summary["kl_top5"]) == 6 and min(summary["kl_top5"]) >= 0
        assert summary["kl_top5"][summary["closest_order"] - 1] == min(summary["kl_top5"])
        assert (run_copy / "recordings" / name / "ngram_loss.npy").exists()
        assert f"{name:>12} {summary['closest_order']:>13} " in out  # its row of the emergence table
    assert "closest order" in out


@pytest.mark.parametrize("case", ["no run", "no recording", "order 0", "corpus changed"])
def test_cli_answers_bad_input_with_one_line_and_exit_2(run_copy, capsys, case):
    args = [str(run_copy)]
    if case == "no run":
        args = [str(run_copy / "nothing")]
    elif case == "no recording":
        shutil.rmtree(run_copy / "recordings")
    elif case == "order 0":
        args += ["--order", "0"]
    else:
        corpus = run_copy / "corpus.txt"
        corpus.write_text(real_text("war_and_peace.txt")[:50_000], encoding="utf-8")
        args += ["--corpus", str(corpus)]
    with pytest.raises(SystemExit) as exit_:
        main(args)
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.startswith("error: ") and err.count("\n") == 1, err
