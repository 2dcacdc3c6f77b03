"""Concepts on real text: hand-checked positions in real excerpts, found by searching for a known string.

Labelling rule under test (viz/concepts.py): position t holds the state after reading character t, so an
opening delimiter is inside and a closing one outside.
"""
import inspect
import json.decoder
import re
import shlex
import tokenize

import numpy as np
import pytest

from conftest import DATA, real_text as corpus
from model.errors import CellscopeError
from viz.concepts import CONCEPTS, concept_values, regex_mask, span_mask

CORPUS_FILES = ["war_and_peace.txt", "austen.txt", "shakespeare.txt", "sherlock_holmes.txt", "wiki.xml",
                "latex.tex", "names.txt", "sqlite3.h", "enough.c"]
PYTHON_HEADER = DATA / "Python.h"


def paragraph_around(text, needle, length=3000):
    """An excerpt that starts at the blank line before needle, so no construct is open at its start."""
    i = text.index(needle)
    start = text.rfind("\n\n", 0, i) + 2
    return text[start:i + length]


class Labels:
    """A concept over an excerpt, read at positions named by text: at("needle", k) = needle's k-th char."""

    def __init__(self, concept_id, text):
        self.text = text
        self.values = concept_values(concept_id, text)

    def at(self, needle, k=0, nth=0):
        i = -1
        for _ in range(nth + 1):
            i = self.text.index(needle, i + 1)
        return self.values[i + k]


# ---------------------------------------------------------------------------------------------------------
# the contract


def test_ids_order_and_kinds_are_the_contract():
    assert list(CONCEPTS) == ["quotes", "single-quotes", "url", "wikilink", "template", "xml-tag", "parens",
                              "bracket-depth", "brace-depth", "indent-depth", "line-position", "chars-to-newline", "c-comment",
                              "hash-comment", "string-literal", "word-start", "whitespace", "digit",
                              "uppercase", "vowel"]
    for concept_id, concept in CONCEPTS.items():
        assert concept.id == concept_id
        assert concept.description and "\n" not in concept.description
    continuous = {c.id for c in CONCEPTS.values() if c.kind == "continuous"}
    assert continuous == {"bracket-depth", "brace-depth", "indent-depth", "line-position", "chars-to-newline"}
    assert {c.kind for c in CONCEPTS.values()} == {"binary", "continuous"}


@pytest.mark.parametrize("name", CORPUS_FILES)
def test_every_concept_has_one_value_per_character(name):
    middle = max(0, len(corpus(name)) // 2 - 5_000)  # 10,000 characters from the middle of each excerpt
    text = corpus(name)[middle:middle + 10_000]
    assert len(text) == 10_000
    for concept_id, concept in CONCEPTS.items():
        values = concept_values(concept_id, text)
        assert values.shape == (10_000,), concept_id
        assert values.dtype == (np.bool_ if concept.kind == "binary" else np.float32), concept_id
        assert concept_values(concept_id, text[:1]).shape == (1,)
        assert concept_values(concept_id, "").shape == (0,)


def test_unknown_concept_is_a_key_error_that_lists_the_known_ones():
    with pytest.raises(CellscopeError, match="quotes.*vowel"):
        concept_values("quote", corpus("war_and_peace.txt")[:100])


# ---------------------------------------------------------------------------------------------------------
# prose


def test_quotes_open_on_the_quote_and_close_after_it():
    text = paragraph_around(corpus("war_and_peace.txt"), '"Well, Prince, so Genoa')
    q = Labels("quotes", text)
    assert q.at('"Well') and q.at('"Well', 1)
    assert q.at("Antichrist--I really")
    assert q.at('all the news."', 12)  # the '.' before the closing quote
    assert not q.at('all the news."', 13)  # the closing quote
    assert not q.at('all the news."', 14)
    assert not q.at("It was in July")
    assert q.at('"If you have nothing better') and q.at("Annette Scherer.")
    assert not q.at('replied the prince, not in the')


def test_a_blank_line_closes_a_quote_that_goes_on_in_the_next_paragraph():
    # Bilibin's letter: each paragraph opens with a quote mark and none closes until the letter ends.
    text = paragraph_around(corpus("war_and_peace.txt"), "have certainly acquired a taste for war")
    q = Labels("quotes", text)
    end = "these last three months is incredible.\n\n\"I begin ab ovo."
    assert q.at(end, end.index(".\n"))
    assert q.at(end, end.index("\n"))  # after the first newline we cannot know the paragraph is over
    assert not q.at(end, end.index("\n") + 1)  # the blank line closes
    assert q.at(end, end.index('"')) and q.at("I begin ab ovo")
    assert q.at("installs himself in the palace at Potsdam")
    assert q.at("writes the King of Prussia")  # the next paragraph of the letter is inside too


def test_typographic_and_latex_double_quotes():
    # Real dialogue with its straight quotes turned into typographic ones: the same positions are inside.
    text = paragraph_around(corpus("war_and_peace.txt"), '"Heavens! what a virulent attack!"')[:2000]
    curly = re.sub(r'"(?=\w)', "“", text).replace('"', "”")
    assert "“" in curly and "”" in curly
    assert np.array_equal(concept_values("quotes", curly), concept_values("quotes", text))
    q = Labels("quotes", paragraph_around(corpus("latex.tex"), "``small capitals''"))
    assert not q.at("``small", 0) and q.at("``small", 1) and q.at("small capitals''")
    assert q.at("capitals''", 8) and not q.at("capitals''", 9) and not q.at("capitals'' shape", 10)


def test_single_quotes_are_told_apart_from_apostrophes():
    s = Labels("single-quotes", paragraph_around(corpus("austen.txt"), "'setting one's cap at a man,'"))
    assert not s.at("is intended; and 'setting")
    assert s.at("'setting") and s.at("'setting", 1)
    assert s.at("one's") and s.at("one's", 3) and s.at("one's", 4)  # the apostrophe neither closes nor opens
    assert s.at("a man,'", 5) and not s.at("a man,'", 6) and not s.at("a man,' or", 8)
    assert s.at("'making a conquest") and not s.at("a conquest,'", 11)
    plain = Labels("single-quotes", paragraph_around(corpus("austen.txt"), "Mr. Dashwood's disappointment"))
    assert not plain.values.any()  # possessives only: no quote anywhere


def test_single_quotes_skip_elisions_in_shakespeare():
    s = Labels("single-quotes", paragraph_around(corpus("shakespeare.txt"), "Not rash like his accusers"))
    assert not s.at("answer'd:")
    assert s.at("'True is it") and s.at("incorporate friends,'", 19) and not s.at("incorporate friends,'", 20)
    assert not s.at("quoth he")
    assert s.at("'That I receive") and s.at("the seat o' the brain")  # o' does not close it
    assert s.at("You, my good friends,'", 20) and not s.at("You, my good friends,'", 21)
    assert not s.at("this says the belly")
    elision = Labels("single-quotes", paragraph_around(corpus("shakespeare.txt"), "Had circumvention! 'Tis not"))
    assert not elision.at("'Tis not four days") and not elision.at("four days gone")


def test_wiki_italics_and_bold_are_no_single_quotes():
    s = Labels("single-quotes", paragraph_around(corpus("wiki.xml"), "'''Anarchism''' is a [[political"))
    assert not s.values[:s.text.index("[[political")].any()


def test_single_quotes_nested_in_double_quotes():
    text = paragraph_around(corpus("war_and_peace.txt"), '"Well, Prince, so Genoa')
    s = Labels("single-quotes", text)
    assert not s.at("you don't tell me")
    assert s.at("'faithful slave,'") and s.at("faithful slave") and not s.at("slave,' as you", 7)
    assert not s.at("as you call yourself")


# ---------------------------------------------------------------------------------------------------------
# markup


def test_url_in_wiki_markup():
    wiki = corpus("wiki.xml")
    u = Labels("url", paragraph_around(wiki, "[http://www.theanarchistlibrary.org/HTML/Petr_Kropotkin___"))
    assert not u.at("[http://www.theanarchistlibrary.org/HTML/Petr_Kropotkin___")
    assert u.at("http://www.theanarchistlibrary.org/HTML/Petr_Kropotkin___")
    assert u.at("Encyclopaedia_Britannica.html Peter", 28) and not u.at("Encyclopaedia_Britannica.html Peter", 29)
    assert not u.at("Peter Kropotkin. &quot;Anarchism")
    g = Labels("url", paragraph_around(wiki, "[http://books.google.com.ec/books?id=kkj5i3CeGbQC"))
    assert g.at("&amp;printsec=frontcover") and g.at("f=false ''Anarchism", 6)
    assert not g.at("f=false ''Anarchism", 7)
    census = Labels("url", paragraph_around(wiki, "http://www.census.gov/prod/2003pubs/c2kbr-24.pdf&lt;"))
    assert census.at("c2kbr-24.pdf&lt;", 11) and not census.at("c2kbr-24.pdf&lt;", 12)  # stops at &lt;
    pairs = Labels("url", paragraph_around(wiki, "[http://lcweb2.loc.gov/cgi-bin/query/r?frd/cstdy:@field("))
    assert pairs.at("@field(DOCID+dz0074) Religious", 19) and not pairs.at("dz0074) Religious", 7)
    period = Labels("url", paragraph_around(wiki, "http://www.oed.com. (Accessed"))
    assert period.at("www.oed.com. (Accessed", 10) and not period.at("www.oed.com. (Accessed", 11)
    bare = Labels("url", paragraph_around(wiki, "|publisher=www.thearda.com |"))
    assert not bare.at("publisher=www.thearda.com", 9)
    assert bare.at("www.thearda.com") and bare.at("www.thearda.com |", 14)
    assert not bare.at("www.thearda.com |", 15)


def test_wikilinks_open_on_the_second_bracket_and_nest():
    wiki = corpus("wiki.xml")
    w = Labels("wikilink", paragraph_around(wiki, "[[political philosophy]]"))
    assert not w.at("[[political") and w.at("[[political", 1) and w.at("political philosophy")
    assert w.at("philosophy]]", 10) and not w.at("philosophy]]", 11)  # the second ] closes
    assert not w.at("philosophy]] that", 12)
    assert w.at("[[self-governance|self-governed]]", 20)
    nested = Labels("wikilink", paragraph_around(wiki, "|thumb|Cement factory in [[Fushë-Krujë]]]]Albania"))
    assert nested.at("Cement factory in") and nested.at("Fushë-Krujë")
    assert nested.at("Fushë-Krujë]]]]", 12)  # the inner link closed, the File: link still open
    assert not nested.at("Fushë-Krujë]]]]", 14) and not nested.at("]]]]Albania", 4)


def test_templates_nest():
    wiki = corpus("wiki.xml")
    t = Labels("template", paragraph_around(wiki, "{{Format price|{{inflation|US|3160384|2003}}}}"))
    assert not t.at("{{Format price") and t.at("{{Format price", 1) and t.at("Format price")
    assert t.at("{{inflation|US") and t.at("2003}}}}", 5)  # inner closed, outer still open
    assert t.at("2003}}}}", 6) and not t.at("2003}}}}", 7) and not t.at("2003}}}} ([[net", 8)
    head = Labels("template", wiki[wiki.index('<text xml:space="preserve">{{Redirect2|Anarchist'):][:2000])
    assert not head.at("<text xml") and head.at("Redirect2|Anarchist") and head.at("(disambiguation)}}", 16)
    assert not head.at("(disambiguation)}}", 17) and not head.at("'''Anarchism'''")


def test_xml_tags_and_escaped_tags():
    x = Labels("xml-tag", corpus("wiki.xml")[:20_000])
    assert x.at("<title>") and x.at("<title>", 1) and not x.at("<title>", 6)
    assert not x.at("<title>Anarchism</title>", 7) and x.at("Anarchism</title>", 9)
    assert x.at('<text xml:space="preserve">', 10) and not x.at('<text xml:space="preserve">', 26)
    assert not x.at("&lt;ref&gt;") and not x.at("&lt;ref&gt;", 4)  # escaped: text inside <text>
    latex = Labels("xml-tag", paragraph_around(corpus("latex.tex"), "<Dx,Dy>"))
    assert latex.at("<Dx,Dy>") and not latex.at("<Dx,Dy>", 6)
    math = Labels("xml-tag", paragraph_around(corpus("latex.tex"), r"for $1-2a<\abs{z}<1-a$, and $h(r)=0$"))
    assert not math.values.any()  # a '<' before a digit or backslash is less-than, not a tag


# ---------------------------------------------------------------------------------------------------------
# brackets and lines


def test_parens_nest_and_close():
    p = Labels("parens", paragraph_around(corpus("wiki.xml"), "Anarchist (comics)"))
    assert not p.at("Anarchist (comics)") and p.at("(comics)") and p.at("(comics)", 1)
    assert not p.at("(comics)", 7) and not p.at("(comics)|", 8)
    latex = Labels("parens", paragraph_around(corpus("latex.tex"), r"\psi_0((z-z_\nu)/\delta)$"))
    assert latex.at(r"((z-z_\nu)/\delta)") and latex.at(r"\nu)/\delta)", 3)  # after the inner ')': still inside
    assert latex.at(r"\nu)/\delta)", 4) and not latex.at(r"\nu)/\delta)", 11)


def test_bracket_depth_counts_all_three_kinds():
    text = paragraph_around(corpus("wiki.xml"), "{{Format price|{{inflation|US|3160384|2003}}}}")
    d = Labels("bracket-depth", text)
    assert d.at("{{Format") == 1 and d.at("{{Format", 1) == 2
    assert d.at("{{inflation") == 3 and d.at("{{inflation", 1) == 4
    assert d.at("2003}}}}", 4) == 3 and d.at("2003}}}}", 7) == 0
    assert d.at("([[net pr") == 1 and d.at("([[net pr", 2) == 3


def test_a_blank_line_ends_an_unclosed_bracket():
    # Shakespeare's stage directions often open '[' and never close it.
    text = paragraph_around(corpus("shakespeare.txt"), "[Enter MENENIUS\n\n")
    d = Labels("bracket-depth", text)
    assert d.at("[Enter MENENIUS") == 1 and d.at("MENENIUS\n\n", 8) == 1
    assert d.at("MENENIUS\n\n", 9) == 0
    next_direction = text.index("[", text.index("[Enter MENENIUS") + 1)
    assert d.values[next_direction] == 1  # the stray '[' does not pile up


def test_line_position_and_chars_to_newline_add_up_to_the_line_length():
    text = paragraph_around(corpus("war_and_peace.txt"), "It was in July, 1805")
    position = concept_values("line-position", text)
    to_go = concept_values("chars-to-newline", text)
    lengths = np.concatenate([np.full(len(line) + 1, len(line)) for line in text.split("\n")])[:len(text)]
    not_newline = np.array([ch != "\n" for ch in text])
    assert np.array_equal((position + to_go)[not_newline], lengths[not_newline])
    line = text.index("Pavlovna Scherer, maid of honor")
    assert position[line - 1] == 0 and position[line] == 1 and position[line + 8] == 9
    assert to_go[line - 2] == 0  # the last character before the newline
    assert to_go[line] == text.index("\n", line) - line - 1


# ---------------------------------------------------------------------------------------------------------
# code: real source files that ship with Python, SQLite's header and a zlib example (tests/data)


def test_c_block_and_line_comments():
    header = Labels("c-comment", corpus("sqlite3.h"))
    assert not header.at("/*\n** 2001-09-15") and header.at("/*\n** 2001-09-15", 1)
    assert header.at("The author disclaims copyright") and header.at("http://www.fossil-scm.org/")
    assert header.at("build process.\n*/", 15) and not header.at("build process.\n*/", 16)  # '*' in, '/' out
    assert not header.at("#ifndef SQLITE3_H") and not header.at('extern "C" {')
    assert not header.at("<stdarg.h>     /* Needed") and header.at("/* Needed", 1)
    assert header.at("va_list */", 8) and not header.at("va_list */", 9) and not header.at("va_list */\n", 10)
    zlib = Labels("c-comment", corpus("enough.c"))
    assert not zlib.at('#define PRIbig "ju"') and not zlib.at('"ju"', 1)  # a string before a // comment
    assert not zlib.at("// printf format for big_t") and zlib.at("// printf format for big_t", 1)
    assert zlib.at("printf format for big_t") and not zlib.at("big_t\n", 5)  # a // comment ends with its line
    line = '// For the deflate literal/length code, use "enough". For the deflate distance\n'
    start = zlib.text.index(line)
    assert zlib.values[start + 1:start + len(line) - 1].all()  # quotes in a comment open nothing
    assert not zlib.values[start + len(line) - 1]
    assert not zlib.at('string_printf(&g.out, "<%u, %u, %u>:"') and not zlib.at('"<%u, %u, %u>:"', 1)
    python_h = Labels("c-comment", PYTHON_HEADER.read_text())
    assert not python_h.at("// Entry point") and python_h.at("// Entry point", 1)
    assert python_h.at("Entry point of the Python C API.") and not python_h.at("Python C API.\n", 14)
    assert not python_h.at('#include "patchlevel.h"') and not python_h.at('"patchlevel.h"', 1)
    assert not python_h.at("<stdio.h>              // FILE*") and python_h.at("// FILE*", 3)
    decoder = Labels("c-comment", inspect.getsource(json.decoder))
    assert not decoder.at("<https://json.org>", 8)  # a // inside a docstring is no comment


def test_hash_comments_skip_strings_and_directives():
    source = Labels("hash-comment", inspect.getsource(tokenize))
    line = "if line[pos] in '#\\r\\n':           # skip comments or blank lines"
    assert not source.at(line, line.index("'#") + 1)  # a '#' inside a string
    assert source.at(line, line.index("# skip")) and source.at("skip comments or blank lines")
    assert not source.at(line, len(line))  # the newline
    assert not source.at("Comment = r'#[^\\r\\n]*'", 13)
    decoder = Labels("hash-comment", inspect.getsource(json.decoder))
    assert decoder.at("# Note that this exception") and not decoder.at("    # Note that this exception")
    python_h = Labels("hash-comment", PYTHON_HEADER.read_text())
    assert not python_h.at('#include "patchlevel.h"') and not python_h.at("#ifndef Py_PYTHON_H", 3)


def test_string_literals_with_escapes():
    decoder = inspect.getsource(json.decoder)
    s = Labels("string-literal", decoder)
    chunk = "STRINGCHUNK = re.compile(r'(.*?)([\""
    assert not s.at(chunk, chunk.index("r'")) and s.at(chunk, chunk.index("r'") + 1)
    assert s.at(chunk, chunk.index('["') + 1)  # a " inside '...' opens nothing
    end = r"""\x00-\x1f])', FLAGS)"""
    assert s.at(end, end.index("'") - 1) and not s.at(end, end.index("'")) and not s.at("', FLAGS)", 3)
    escaped = r"""'\\': '\\',"""
    assert s.at(escaped) and s.at(escaped, 2) and not s.at(escaped, 3)  # \\ is one escape; the ' closes
    assert not s.at(escaped, 4) and s.at(escaped, 6) and not s.at(escaped, 9)
    assert s.at('"""Implementation of JSONDecoder') and s.at("Implementation of JSONDecoder")
    assert s.at("msg: The unformatted error message")  # a docstring's later lines
    assert s.at('"""', 1, nth=1) and not s.at('"""', 2, nth=1)  # the docstring's closing quotes
    assert not s.at("import re\n")
    assert not s.at("# Note that this exception")
    quoted = Labels("string-literal", inspect.getsource(shlex))
    line = r'''return "\"%s\", line %d: " % (infile, lineno)'''
    assert not quoted.at(line, 6) and quoted.at(line, 7) and quoted.at(line, 8)  # \" does not close
    assert quoted.at(line, line.index("%s")) and quoted.at(line, line.index(", line"))
    assert quoted.at(line, line.index(': "') + 1) and not quoted.at(line, line.index(': "') + 2)
    assert not quoted.at(line, line.index(" % (infile"))
    prose = Labels("string-literal", paragraph_around(corpus("war_and_peace.txt"), "\"Don't tease! Well"))
    assert prose.at("Don't tease") and prose.at("Novosiltsev's\n", 12)  # an unclosed string ends with its line
    assert not prose.at("Novosiltsev's\n", 13) and not prose.at("dispatch? You know")
    python_h = Labels("string-literal", PYTHON_HEADER.read_text())
    assert python_h.at('#include "patchlevel.h"', 9) and python_h.at("patchlevel.h")
    assert not python_h.at('"patchlevel.h"\n', 13)
    assert not python_h.at('"meta-include"', 1)  # quotes inside a // comment are no string
    zlib = Labels("string-literal", corpus("enough.c"))
    assert zlib.at('"ju"') and zlib.at('"ju"', 2) and not zlib.at('"ju"', 3)
    assert not zlib.at("// printf format for big_t", 3) and not zlib.at('use "enough"', 5)
    assert zlib.at('root = %d\\n"', 10) and not zlib.at('root = %d\\n"', 11)  # the \\n is one escape, not the end
    assert zlib.at('"out of memory");', 13) and not zlib.at('"out of memory");', 14)


# ---------------------------------------------------------------------------------------------------------
# characters


def test_character_classes():
    text = paragraph_around(corpus("war_and_peace.txt"), "\"Don't tease! Well, and what has been decided")[:200]
    starts = Labels("word-start", text)
    assert starts.at("Don't") and not starts.at("Don't", 1) and not starts.at("Don't", 4)  # not the t
    assert starts.at("tease!") and not starts.at("tease!", 5) and starts.at("Novosiltsev's")
    assert not starts.at("Novosiltsev's", 12)
    space = Labels("whitespace", text)
    assert space.at(" tease") and space.at("\ndispatch") and not space.at("tease")
    upper = Labels("uppercase", text)
    assert upper.at("Don't") and not upper.at("Don't", 1) and upper.at("Well") and not upper.at("!")
    vowel = Labels("vowel", text)
    assert [bool(vowel.at("Novosiltsev", k)) for k in range(11)] == [c in "aeiou" for c in "novosiltsev"]
    digits = Labels("digit", paragraph_around(corpus("war_and_peace.txt"), "It was in July, 1805"))
    assert all(digits.at("1805", k) for k in range(4)) and not digits.at("July, 1805", 4)


def test_vowels_with_accents_count_but_not_ligatures_or_y():
    wiki = corpus("wiki.xml")
    v = Labels("vowel", paragraph_around(wiki, "Republika e Shqipërisë"))
    assert [bool(v.at("Shqipërisë", k)) for k in range(10)] == [c in "iëe" for c in "Shqipërisë"]
    e = Labels("vowel", paragraph_around(wiki, "Encyclopædia Britannica"))
    assert e.at("Encyclopædia") and not e.at("Encyclopædia", 5) and not e.at("Encyclopædia", 9)  # y, æ


# ---------------------------------------------------------------------------------------------------------
# user regex and span


def test_regex_mask_marks_every_position_inside_a_match():
    text = paragraph_around(corpus("war_and_peace.txt"), "It was in July, 1805")
    mask = regex_mask(r"Anna\s+Pavlovna", text)
    matches = [m.span() for m in re.finditer(r"Anna\s+Pavlovna", text)]
    assert len(matches) >= 2 and mask.dtype == np.bool_ and mask.shape == (len(text),)
    assert mask.sum() == sum(stop - start for start, stop in matches)
    first = text.index("Anna\nPavlovna Scherer")
    assert not mask[first - 1] and mask[first] and mask[first + 4] and mask[first + 12]
    assert not mask[first + 13]


@pytest.mark.parametrize("pattern", ["(Anna", "[a-", "Pavlovna)", "*x"])
def test_invalid_regex_is_one_line_value_error(pattern):
    with pytest.raises(ValueError) as info:
        regex_mask(pattern, corpus("war_and_peace.txt")[:1000])
    assert "\n" not in str(info.value) and pattern in str(info.value)


def test_span_mask_and_its_bounds():
    mask = span_mask(100, 10, 20)
    assert mask.dtype == np.bool_ and mask.shape == (100,) and mask.sum() == 10
    assert not mask[9] and mask[10] and mask[19] and not mask[20]
    assert span_mask(100, 0, 100).all()
    for start, stop in [(-1, 5), (5, 101), (20, 10), (10, 10)]:
        with pytest.raises(ValueError):
            span_mask(100, start, stop)


def test_brace_depth_follows_code_nesting_not_comments_or_strings():
    c = Labels("brace-depth", corpus("enough.c"))
    assert c.at("local void string_printf(") == 0 and c.at("    va_list ap;", 5) == 1
    assert c.at("        do {", 11) == 3 and c.at("            s->size <<= 1;", 14) == 3  # do inside if inside fn
    assert c.at("        } while (s->size < s->len + 1);", 8) == 2  # the } itself is outside what it closes
    assert c.at("    va_end(ap);") == 1 and c.at("}\n\n// Globals", 0) == 0 and c.at("// Globals") == 0
    body = corpus("enough.c").index("local void string_printf(")
    blank = corpus("enough.c").index("\n\n", body)  # a blank line inside a function body resets nothing
    assert c.values[blank + 1] == c.values[blank - 1]
    header = Labels("brace-depth", corpus("sqlite3.h"))
    assert header.at('extern "C" {', 11) == 1
    assert header.at("KEYWORDS: {database connection}", 11) == 1  # braces in a comment do not count
    assert header.at("{database connections}", 1) == 1
    assert Labels("bracket-depth", corpus("sqlite3.h")).at("{database connections}", 1) > 0  # ( [ { all count


def test_indent_depth_counts_the_current_lines_leading_steps():
    from viz.concepts import indent_step
    text = corpus("enough.c")
    assert indent_step(text) == 4
    c = Labels("indent-depth", text)
    assert c.at("    va_list ap;", 5) == 1 and c.at("            s->size <<= 1;", 13) == 3
    assert c.at("            s->size <<= 1;\n", 25) == 3  # the newline ends its line
    assert c.at("            s->size <<= 1;", 1) == 0.5  # half of the first step read so far
    assert c.at("local void string_printf(") == 0 and c.at("}\n\n// Globals") == 0
    tabs = Labels("indent-depth", corpus("latex.tex"))
    line = next(l for l in corpus("latex.tex").splitlines() if l.startswith("\t\t"))
    assert tabs.at(line + "\n", len(line)) >= 2  # a tab is one step
