"""The text every benchmark runs on: the War and Peace excerpt the repository ships as its demo corpus
(demo/war_and_peace_excerpt.txt, the novel's first 999,644 characters; demo/SOURCE.md), so a fresh clone can run
them with nothing beside it."""
from pathlib import Path

CORPUS = Path(__file__).resolve().parents[1] / "demo" / "war_and_peace_excerpt.txt"


def real_text(n_chars, start=0, path=CORPUS):
    """n_chars characters of path from start. A benchmark that needs more than the file holds (1M characters
    against the excerpt's 999,644) gets the file repeated, each copy after a blank line, until it is long enough:
    still real text with the same statistics, only the novel's opening comes round again."""
    text = Path(path).read_text(encoding="utf-8")
    if start + n_chars > len(text):
        copy = text.rstrip("\n") + "\n\n"
        text = copy * (-(-(start + n_chars) // len(copy)))
    return text[start:start + n_chars]
