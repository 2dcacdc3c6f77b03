import re
import unicodedata

import numpy as np
import pytest
from bs4 import BeautifulSoup

from conftest import HOSTILE, real_text
from viz.colors import N_LEVELS, quantize
from viz.text_html import GLYPHS, TEXT_CSS, render_page, render_text, scale_bar

UNGLYPH = {glyph: c for c, glyph in GLYPHS.items()}


@pytest.fixture(scope="module")
def war_and_peace():
    """The opening dialogue (quotes, apostrophes, newlines) with the hostile line spliced between paragraphs."""
    text = real_text("war_and_peace.txt")
    start = text.index('"Well, Prince')
    excerpt = text[start:start + 1500]
    return excerpt[:700] + "\n" + HOSTILE + "\n" + excerpt[700:]


def soup_of(fragment):
    return BeautifulSoup(f"<div>{fragment}</div>", "html.parser")


def decoded(soup):
    """The text as the `.ch` spans carry it, whitespace glyphs turned back into whitespace."""
    return "".join(UNGLYPH[s.get_text()] if s.find(class_="ws") else s.get_text() for s in soup.select(".ch"))


def test_every_character_is_escaped_and_round_trips(war_and_peace):
    levels = quantize(np.sin(np.arange(len(war_and_peace)) / 7))
    out = render_text(war_and_peace, levels)
    soup = soup_of(out)
    assert soup.find("script") is None and soup.find("img") is None and soup.find("b") is None
    assert "<script" not in out and "<img" not in out
    assert decoded(soup) == war_and_peace
    assert all(f'>{e}</span>' in out for e in ("&amp;", "&lt;", "&quot;", "&#x27;"))


def test_one_span_per_character_with_its_position_and_level(war_and_peace):
    levels = quantize(np.cos(np.arange(len(war_and_peace)) / 11))
    spans = soup_of(render_text(war_and_peace, levels, offset=5000)).select(".ch")
    assert len(spans) == len(war_and_peace)
    assert [int(s["data-i"]) for s in spans] == list(range(5000, 5000 + len(war_and_peace)))
    assert [s["class"] for s in spans] == [["ch", f"v{k}"] for k in levels.tolist()]


def test_uncolored_spans_carry_only_the_ch_class(war_and_peace):
    spans = soup_of(render_text(war_and_peace)).select(".ch")
    assert len(spans) == len(war_and_peace) and all(s["class"] == ["ch"] for s in spans)


def test_whitespace_is_visible_and_lines_still_break():
    text = real_text("latex.tex")
    start = text.index("\t\t\tpdfdisplaydoctitle")
    text = text[start - 60:start + 80]  # spaces, tabs and newlines of a real LaTeX preamble
    soup = soup_of(render_text(text))
    spans = soup.select(".ch")
    for c, span in zip(text, spans):
        glyph = span.find(class_="ws")
        if c in " \t\n":
            assert glyph is not None and glyph.get_text() == {" ": "·", "\t": "→", "\n": "↵"}[c]
            assert "ws" not in span["class"]  # recoloring by className must not drop the glyph's style
        else:
            assert glyph is None
        if c == "\n":
            assert span.next_sibling.name == "br"
    assert len(soup.find_all("br")) == text.count("\n") > 0


def test_non_bmp_and_combining_characters_survive():
    wiki = real_text("wiki.xml")
    astral = next(i for i, c in enumerate(wiki) if ord(c) > 0xFFFF)  # Phoenician 𐤀 in the article "A"
    combining = next(i for i, c in enumerate(wiki) if unicodedata.combining(c))  # the u̯ of Akhilleus
    text = wiki[astral - 40:astral + 30] + wiki[combining - 30:combining + 20]
    assert any(ord(c) > 0xFFFF for c in text) and any(unicodedata.combining(c) for c in text)
    soup = soup_of(render_text(text, quantize(np.zeros(len(text)))))
    assert decoded(soup) == text and len(soup.select(".ch")) == len(text)


def test_top5_rows_sit_under_every_character_escaped_and_shaded(war_and_peace):
    text = war_and_peace[:400]
    n = len(text)
    pool = ["<", "&", '"', "'", " ", "\n", "e", "t"]
    rng = np.random.default_rng(1)
    chars = [[pool[j] for j in rng.choice(len(pool), 5, replace=False)] for _ in range(n)]
    probs = np.sort(rng.dirichlet(np.ones(5), n), axis=1)[:, ::-1].astype(np.float32)
    out = render_text(text, quantize(np.zeros(n)), top5=(chars, probs), offset=10)
    soup = soup_of(out)
    columns = soup.select(".col")
    assert len(columns) == n and decoded(soup) == text
    for i, col in enumerate(columns):
        ch, *guesses = col.find_all(recursive=False)
        assert ch["class"] == ["ch", "v10"] and int(ch["data-i"]) == 10 + i
        assert len(guesses) == 5
        shown = [UNGLYPH[g.get_text()] if g.find(class_="ws") else g.get_text() for g in guesses]
        assert shown == chars[i]
        assert [g["class"] for g in guesses] == [["g", f"p{round(p * 10)}"] for p in probs[i].tolist()]
        if text[i] == "\n":
            assert col.next_sibling.name == "br"
    assert soup.find("script") is None and soup.find("img") is None


def test_titles_are_escaped_attributes(war_and_peace):
    text = war_and_peace[:3]
    titles = [f"c=0.5 {HOSTILE}", "next: ' 40%", "&amp;"]
    spans = soup_of(render_text(text, titles=titles)).select(".ch")
    assert [s["title"] for s in spans] == titles


def test_mismatched_lengths_and_bad_levels_are_rejected(war_and_peace):
    with pytest.raises(ValueError):
        render_text(war_and_peace, levels=np.zeros(3, dtype=np.uint8))
    with pytest.raises(ValueError):
        render_text("abc", levels=[0, 1, N_LEVELS])


def test_the_stylesheet_styles_every_class_the_renderer_emits(war_and_peace):
    n = 50
    out = render_text(war_and_peace[:n], quantize(np.linspace(-1, 1, n)),
                      top5=([list("abcde")] * n, np.tile(np.linspace(0, 1, 5), (n, 1))))
    used = set(re.findall(r'class="([^"]+)"', out))
    for cls in {c for both in used for c in both.split()} - {"ch"}:  # "ch" only marks spans for recoloring
        assert re.search(rf"\.{cls}\b", TEXT_CSS), cls
    assert ".cs-text" in TEXT_CSS


def test_page_is_standalone_and_escapes_title_and_legend(war_and_peace):
    body = f'<div class="cs-text">{render_text(war_and_peace, quantize(np.zeros(len(war_and_peace))))}</div>'
    page = render_page("<b>War & Peace</b>", {"run": HOSTILE, "skipped": None, "cell": "1:3"},
                       scale_bar("v", "-1", "1", HOSTILE) + body)
    soup = BeautifulSoup(page, "html.parser")
    assert page.startswith("<!DOCTYPE html>")
    assert soup.title.get_text() == "<b>War & Peace</b>" and soup.find("b") is None
    assert soup.find("script") is None and soup.find("img") is None and soup.find("link") is None
    assert not [t for t in soup.find_all(True) if t.has_attr("src") or t.has_attr("href")]
    assert ".v0 {" in soup.style.get_text() and ".cs-text" in soup.style.get_text()
    legend = {th.get_text(): td.get_text() for th, td in zip(soup.select("table.legend th"), soup.select("table.legend td"))}
    assert legend == {"run": HOSTILE, "cell": "1:3"}
    assert len(soup.select(".scale .bar span")) == N_LEVELS
    assert decoded(soup) == war_and_peace
