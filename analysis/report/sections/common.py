"""Small helpers shared by the PDF sections: display order of windows and tests."""
from __future__ import annotations

import pandas as pd

from analysis.inference.battery import REGISTRY
from analysis.vocab import parse_window


def records(frame: pd.DataFrame) -> list[dict]:
    """``frame.to_dict("records")`` (one dict of Python scalars per row), built column by column:
    ~2.5x faster on the saved tables, whose text columns are Arrow strings."""
    columns = list(frame.columns)
    return [dict(zip(columns, row)) for row in zip(*(frame[c].tolist() for c in columns))]


def window_order(windows) -> list[str]:
    """Distinct windows ('-1:1') shortest first, then by start."""
    def key(w):
        a, b = parse_window(w)
        return (b - a, a)

    return sorted(dict.fromkeys(windows), key=key)


def test_order(names) -> list[str]:
    """Distinct test names in registry order, unregistered ones after (sorted)."""
    have = set(names)
    return [t for t in REGISTRY if t in have] + sorted(have - set(REGISTRY))


class Notes:
    """Short notes of one table, each written once: a kind of flag gets a letter the first time a
    cell carries it (``mark``), and its note lists every detail the table's cells gave it, once
    (``text``). Letters follow the order in which the kinds first appear."""

    LETTERS = "abcdefghijklmnopqrstuvwxyz"

    def __init__(self):
        self._kinds: dict[str, tuple[str, list[str]]] = {}

    def mark(self, kind: str, head: str, detail: str | None = None) -> str:
        """The letter of ``kind`` (its note starts with ``head``); ``detail`` joins its list."""
        if kind not in self._kinds:
            self._kinds[kind] = (head, [])
        if detail and detail not in self._kinds[kind][1]:
            self._kinds[kind][1].append(detail)
        return self.LETTERS[list(self._kinds).index(kind)]

    def text(self) -> str:
        """'a overlap: ...; b ...' (empty without notes)."""
        parts = []
        for letter, (head, details) in zip(self.LETTERS, self._kinds.values()):
            parts.append(f"({letter}) {head}" + (": " + "; ".join(details) if details else "") + ".")
        return " ".join(parts)

    def __bool__(self) -> bool:
        return bool(self._kinds)


def sup(stars: str = "", marks=()) -> str | None:
    """A cell's superscript: stars, then note letters ('**' + 'a,c' -> '** a,c'); None if empty."""
    letters = ",".join(dict.fromkeys(m for m in marks if m))
    text = " ".join(x for x in (stars, letters) if x)
    return text or None
