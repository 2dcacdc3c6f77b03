"""Concepts: functions of the text that say, at every position, whether (or how much) something holds.

They are the questions we ask the cells ("which cell is a quote detector?"), so each one must be exact about
*which* positions it labels. One rule for all of them, the same as the recording's: position t is labelled by
the state after reading characters 0..t. Hence for a delimited construct the opening delimiter is inside
(after reading '"' we are inside the quote) and the closing delimiter is outside (after reading the closing
'"' we have left it). For two-character delimiters the same rule gives: the second '[' of '[[' is the first
inside position, and the first ']' of ']]' is still inside (only the second one closes). For pattern
concepts (url, a user regex) the positions inside the match are positive.

A blank line (a line holding only whitespace) ends every open quote and bracket. Prose paragraphs rarely
carry one across, a quotation that goes on in the next paragraph opens it again there, and without this
one stray '(' or '[[' would mark the whole rest of the text as inside.

Everything here runs on million-character texts: numpy over code points, one regex pass, or a Python loop
over the few delimiter events a regex finds, never a loop over characters.
"""
import re
import unicodedata
from dataclasses import dataclass
from typing import Callable

import numpy as np

from model.errors import CellscopeError

_BLANK_LINE = r"\n[^\S\n]*\n"  # the event sits on its second newline: that is when the line is known blank


class ConceptError(CellscopeError, ValueError):
    """An unknown concept, a regex that does not compile, a span outside the text."""


@dataclass(frozen=True)
class Concept:
    id: str
    description: str
    kind: str  # "binary" (bool per position) or "continuous" (float32 per position)
    fn: Callable[[str], np.ndarray]


# ---------------------------------------------------------------------------------------------------------
# building blocks


def _codes(text):
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), np.uint32)


def _char_class(text, predicate):
    """predicate(ch) at every position, evaluated once per distinct character."""
    codes = _codes(text)
    present = np.flatnonzero(np.bincount(codes))
    table = np.zeros(int(present[-1]) + 1 if len(present) else 1, bool)
    table[present] = [predicate(chr(c)) for c in present]
    return table[codes]


def _spans(n, starts, stops):
    """True on every [start, stop); spans may touch or overlap."""
    starts = np.asarray(starts, np.int64)
    stops = np.asarray(stops, np.int64)
    edges = np.bincount(starts, minlength=n + 1) - np.bincount(stops, minlength=n + 1)
    return np.cumsum(edges[:n]) > 0


def _piecewise(n, positions, values, dtype):
    """0 before the first event, then values[i] from positions[i] until the next event (positions sorted)."""
    out = np.zeros(n, dtype)
    if positions:
        positions = np.asarray(positions, np.int64)
        out[positions[0]:] = np.repeat(np.asarray(values, dtype), np.diff(positions, append=n))
    return out


def _nesting_depth(text, tokens, openers):
    """Depth of nested delimiters; tokens matches openers, closers and blank lines (which reset to 0).

    A stray closer at depth 0 is ignored. Each event takes effect at the token's last character.
    """
    depth, positions, values = 0, [], []
    for m in tokens.finditer(text):
        token = m.group()
        if token in openers:
            depth += 1
        elif token[0] == "\n":
            depth = 0
        else:
            depth = max(depth - 1, 0)
        positions.append(m.end() - 1)
        values.append(depth)
    return _piecewise(len(text), positions, values, np.int32)


# ---------------------------------------------------------------------------------------------------------
# prose


_DOUBLE_QUOTE_EVENTS = re.compile(r'["“”]|``|\'\'|' + _BLANK_LINE)


def quotes(text):
    """A straight " toggles; “ and LaTeX's `` open, ” and LaTeX's '' close."""
    inside, positions, values = False, [], []
    for m in _DOUBLE_QUOTE_EVENTS.finditer(text):
        mark = m.group()
        if mark == '"':
            inside = not inside
        else:
            inside = mark in ("“", "``")  # a closer or a blank line
        positions.append(m.end() - 1)
        values.append(inside)
    return _piecewise(len(text), positions, values, bool)


# Runs of two or more ' or ` are other marks (wiki ''italics'', '''bold''', LaTeX ``quotes''): skipped.
_SINGLE_QUOTE_EVENTS = re.compile(r"''+|``+|['‘’`]|" + _BLANK_LINE)
# Apostrophes that stand for dropped letters at a word's edge ('tis, 'em, o' the, th' other): not quotes.
_ELISIONS = re.compile(
    r"(?<![A-Za-z])(?P<lead>['’])(?:tis|twas|twere|twill|twould|twixt|t|s|em|gainst|mongst|fore|bout|cause|"
    r"neath|prentice|scape|sdeath)(?![A-Za-z])"
    r"|(?<![A-Za-z])(?:o|i|th|d)(?P<trail>['’])(?![A-Za-z])",
    re.IGNORECASE,
)


def single_quotes(text):
    """Straight ', typographic ‘ ’ or LaTeX ` ' quotes, told apart from apostrophes by their neighbours.

    Outside a quote, a mark opens one if it follows a non-alphanumeric and precedes a non-space; inside, a mark
    closes it if it follows a non-space and precedes a non-alphanumeric. So an apostrophe between two letters
    (don't, Natasha's) does neither; known elisions ('tis, 'em, o' the) are skipped. ‘ and ` can only open, ’
    only close. A plural possessive (the soldiers' song) met inside a quote closes it too early: the known miss.
    """
    elided = {m.start("lead") if m.group("lead") else m.start("trail") for m in _ELISIONS.finditer(text)}
    n = len(text)
    inside, positions, values = False, [], []
    for m in _SINGLE_QUOTE_EVENTS.finditer(text):
        i, mark = m.end() - 1, m.group()
        if mark[0] == "\n":
            inside = False
        elif len(mark) > 1 or i in elided:
            continue
        else:
            before = text[i - 1] if i > 0 else " "
            after = text[i + 1] if i + 1 < n else " "
            if inside and mark not in "‘`" and not before.isspace() and not after.isalnum():
                inside = False
            elif not inside and mark != "’" and not before.isalnum() and not after.isspace():
                inside = True
            else:
                continue  # an apostrophe
        positions.append(i)
        values.append(inside)
    return _piecewise(n, positions, values, bool)


# ---------------------------------------------------------------------------------------------------------
# markup

# A URL runs to whitespace or a character that cannot be in one, stops before an escaped tag or quote
# (&lt; &gt; &quot;, as in a wiki dump), keeps parentheses only in pairs (wiki/Foo_(bar)) and leaves out
# trailing sentence punctuation. Possessive quantifiers: no backtracking, whatever the text.
_URL_RUN = r"""[^\s<>"|\[\]{}()&]"""
_URL = re.compile(rf"(?:https?://|(?<![\w.@/])www\.)(?:{_URL_RUN}++|&(?!lt;|gt;|quot;)|\({_URL_RUN}*+\))*+")


def url(text):
    starts, stops = [], []
    for m in _URL.finditer(text):
        starts.append(m.start())
        stops.append(m.start() + len(m.group().rstrip(".,;:!?'")))
    return _spans(len(text), starts, stops)


_WIKILINK_TOKENS = re.compile(r"\[\[|\]\]|" + _BLANK_LINE)
_TEMPLATE_TOKENS = re.compile(r"\{\{|\}\}|" + _BLANK_LINE)


def wikilink(text):
    return _nesting_depth(text, _WIKILINK_TOKENS, ("[[",)) > 0


def template(text):
    return _nesting_depth(text, _TEMPLATE_TOKENS, ("{{",)) > 0


# A tag starts with '<' and a letter, '/', '!' or '?' (so "a < b" is no tag) and holds no '<' or blank line.
_XML_TAG = re.compile(r"<[A-Za-z/!?](?:[^<>\n]|\n(?![^\S\n]*\n))*>")


def xml_tag(text):
    spans = [m.span() for m in _XML_TAG.finditer(text)]
    return _spans(len(text), [s for s, _ in spans], [e - 1 for _, e in spans])


# ---------------------------------------------------------------------------------------------------------
# brackets and lines

_PAREN_TOKENS = re.compile(r"[()]|" + _BLANK_LINE)
_BRACKET_TOKENS = re.compile(r"[(\[{)\]}]|" + _BLANK_LINE)


def parens(text):
    return _nesting_depth(text, _PAREN_TOKENS, ("(",)) > 0


def bracket_depth(text):
    return _nesting_depth(text, _BRACKET_TOKENS, ("(", "[", "{")).astype(np.float32)


def line_position(text):
    """Characters read since the last newline: 0 on a newline, 1 on the first character of a line.

    The start of the text counts as just after a newline.
    """
    t = np.arange(len(text))
    is_newline = _codes(text) == ord("\n")
    last_newline = np.maximum.accumulate(np.where(is_newline, t, -1))
    return (t - last_newline).astype(np.float32)


def chars_to_newline(text):
    """Characters still to come before the next newline: 0 just before one; the end of text counts as one.

    So on every character but a newline, line-position + chars-to-newline = the line's length.
    """
    t = np.arange(len(text))
    is_newline = _codes(text) == ord("\n")
    next_at_or_after = np.minimum.accumulate(np.where(is_newline, t, len(t))[::-1])[::-1]
    next_after = np.append(next_at_or_after[1:], len(t))
    return (next_after - t - 1).astype(np.float32)


# ---------------------------------------------------------------------------------------------------------
# code: one left-to-right lexer, so a quote inside a comment opens no string and a // inside a string is no
# comment. The first alternative that matches at the leftmost position wins.

_PREPROCESSOR = "include|define|undef|if|ifdef|ifndef|elif|else|endif|error|warning|pragma|line"
_CODE_TOKENS = re.compile(
    r'(?P<string>"""[\s\S]*?"""|\'\'\'[\s\S]*?\'\'\''
    r'|"(?:[^"\\\n]|\\[\s\S])*"|\'(?:[^\'\\\n]|\\[\s\S])*\')'
    r'|(?P<open_string>"""[\s\S]*|\'\'\'[\s\S]*|"(?:[^"\\\n]|\\[\s\S])*|\'(?:[^\'\\\n]|\\[\s\S])*)'
    r"|(?P<block>/\*[\s\S]*?\*/)"
    r"|(?P<open_block>/\*[\s\S]*)"
    r"|(?P<line>//[^\n]*)"
    rf"|(?P<directive>(?<![^\n])[ \t]*\#[ \t]*(?:{_PREPROCESSOR})\b)"
    r"|(?P<hash>\#[^\n]*)"
)
# Which positions of each token kind are inside, following the labelling rule: a string's opening quote is
# inside and its closing quote outside; '/*' and '//' are known only at their second character; '*/' closes
# at its '/'; an unclosed string ends with its line, an unclosed /* with the text.
_CODE_SPANS = {
    "string": ("string-literal", 0, -1),
    "open_string": ("string-literal", 0, 0),
    "block": ("c-comment", 1, -1),
    "open_block": ("c-comment", 1, 0),
    "line": ("c-comment", 1, 0),
    "hash": ("hash-comment", 0, 0),
}


def _code_mask(text, concept_id):
    starts, stops = [], []
    for m in _CODE_TOKENS.finditer(text):
        owner, trim_start, trim_stop = _CODE_SPANS.get(m.lastgroup, (None, 0, 0))
        if owner == concept_id:
            starts.append(m.start() + trim_start)
            stops.append(m.end() + trim_stop)
    return _spans(len(text), starts, stops)


def c_comment(text):
    return _code_mask(text, "c-comment")


def hash_comment(text):
    return _code_mask(text, "hash-comment")


def string_literal(text):
    return _code_mask(text, "string-literal")


def brace_depth(text):
    """Nesting of { } in code, the paper's code-depth cell: braces inside comments and string literals do not
    count, and a blank line resets nothing (a function body holds blank lines). A stray } is ignored."""
    ignored = c_comment(text) | string_literal(text)
    depth, positions, values = 0, [], []
    for m in re.finditer(r"[{}]", text):
        if ignored[m.start()]:
            continue
        depth = depth + 1 if m.group() == "{" else max(depth - 1, 0)
        positions.append(m.start())
        values.append(depth)
    return _piecewise(len(text), positions, values, np.float32)


_LEADING = re.compile(r"^[ \t]*", re.M)


def indent_step(text):
    """The text's indentation step in spaces: the most common increase of at least 2 from one non-blank line's
    leading spaces to the next one's (4 when there is none)."""
    widths = [len(m.group()) for m in _LEADING.finditer(text)
              if "\t" not in m.group() and m.end() < len(text) and text[m.end()] != "\n"]
    rises = np.diff(np.asarray(widths, np.int64)) if len(widths) > 1 else np.zeros(0, np.int64)
    rises = rises[rises >= 2]
    return int(np.bincount(rises).argmax()) if len(rises) else 4


def indent_depth(text):
    """The current line's indentation in steps (a tab is one step, spaces count in indent_step): within the
    leading whitespace, the part read so far; from there to the line's newline, the whole of it."""
    n = len(text)
    code = np.frombuffer(text.encode("utf-32-le"), np.uint32)
    leading = [m.span() for m in _LEADING.finditer(text) if m.end() > m.start()]
    inside = _spans(n, [a for a, _ in leading], [b for _, b in leading])
    weight = np.where(code == 9, 1.0, 1.0 / indent_step(text)) * inside
    total = np.cumsum(weight)
    line_start = np.flatnonzero(code == 10) + 1
    line_start = np.concatenate([[0], line_start[line_start < n]])
    before = np.concatenate([[0.0], total])[line_start]  # the sum up to each line's first character
    return (total - np.repeat(before, np.diff(line_start, append=n))).astype(np.float32)


# ---------------------------------------------------------------------------------------------------------
# characters


def _is_word_char(ch):
    return ch.isalnum() or ch == "_"


def word_start(text):
    """A letter not preceded by a word character, nor by an apostrophe inside a word (the t of don't)."""
    letter = _char_class(text, str.isalpha)
    word_char = _char_class(text, _is_word_char)
    apostrophe = _char_class(text, lambda ch: ch in "'’")
    after_word_char = np.zeros_like(letter)
    after_word_char[1:] = word_char[:-1]
    after_inner_apostrophe = np.zeros_like(letter)
    after_inner_apostrophe[2:] = apostrophe[1:-1] & letter[:-2]
    return letter & ~after_word_char & ~after_inner_apostrophe


def _is_vowel(ch):
    base = unicodedata.normalize("NFD", ch)[:1]
    return base in ("a", "e", "i", "o", "u", "A", "E", "I", "O", "U")


CONCEPTS = {c.id: c for c in [
    Concept("quotes", 'inside "double quotes" (or “ ”, LaTeX ``...\'\'); a blank line closes an open one', "binary",
            quotes),
    Concept("single-quotes", "inside 'single quotes' (or ‘ ’, LaTeX `...'); apostrophes (don't, 'tis, o') are not",
            "binary", single_quotes),
    Concept("url", "inside an http://, https:// or www. URL", "binary", url),
    Concept("wikilink", "inside a [[wiki link]], nesting allowed", "binary", wikilink),
    Concept("template", "inside a {{wiki template}}, nesting allowed", "binary", template),
    Concept("xml-tag", "inside an XML/HTML tag <...> (escaped &lt;tags&gt; are text)", "binary", xml_tag),
    Concept("parens", "inside (parentheses), nesting allowed", "binary", parens),
    Concept("bracket-depth", "nesting depth of ( [ { together", "continuous", bracket_depth),
    Concept("brace-depth", "nesting depth of { } in code (not in comments or strings)", "continuous", brace_depth),
    Concept("indent-depth", "indentation of the current line, in steps (a tab, or the text's step of spaces)",
            "continuous", indent_depth),
    Concept("line-position", "characters read since the last newline", "continuous", line_position),
    Concept("chars-to-newline", "characters still to come before the next newline", "continuous",
            chars_to_newline),
    Concept("c-comment", "inside a /* block */ or // line comment (code)", "binary", c_comment),
    Concept("hash-comment", "inside a # comment to the end of the line (code; not #include etc.)", "binary",
            hash_comment),
    Concept("string-literal", "inside a \"...\" or '...' string literal with \\ escapes (code; \"\"\" too)",
            "binary", string_literal),
    Concept("word-start", "the first letter of a word", "binary", word_start),
    Concept("whitespace", "a whitespace character (space, tab, newline, ...)", "binary",
            lambda text: _char_class(text, str.isspace)),
    Concept("digit", "a decimal digit", "binary", lambda text: _char_class(text, str.isdecimal)),
    Concept("uppercase", "an uppercase letter", "binary", lambda text: _char_class(text, str.isupper)),
    Concept("vowel", "a, e, i, o, u in either case, accented ones too (é, Ö); not y", "binary",
            lambda text: _char_class(text, _is_vowel)),
]}


def concept_values(concept_id, text):
    """The concept at every position of text: bool [len(text)] if binary, float32 [len(text)] if continuous."""
    if concept_id not in CONCEPTS:
        raise ConceptError(f"unknown concept {concept_id!r}; known concepts: {', '.join(CONCEPTS)}")
    return CONCEPTS[concept_id].fn(text)


def regex_mask(pattern, text):
    """True at every position inside a match of the user's regular expression."""
    try:
        compiled = re.compile(pattern)
    except re.error as e:
        raise ConceptError(f"invalid regular expression {pattern!r}: {e}") from None
    spans = [m.span() for m in compiled.finditer(text)]
    return _spans(len(text), [s for s, _ in spans], [e for _, e in spans])


def span_mask(n, start, stop):
    """True on the user-selected positions [start, stop) of a text of n characters."""
    if not 0 <= start < stop <= n:
        raise ConceptError(f"span [{start}, {stop}) is empty or outside the text's {n} characters")
    mask = np.zeros(n, bool)
    mask[start:stop] = True
    return mask
