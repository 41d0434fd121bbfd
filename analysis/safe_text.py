"""Text from data, made safe for where it is shown: spreadsheet cells (CSV), HTML, a terminal.

The strings of the catalog, the universe and the side files (names, titles, sources, the
``what`` of a confounder) are the user's; they reach CSV files, the notebooks' HTML copies and
the terminal. Each helper here changes only what would act instead of being shown.
"""
from __future__ import annotations

import html
import re

#: First characters that make a spreadsheet read a cell as a formula (OWASP, "CSV Injection").
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
#: A cell that only looks like a number or a window (``-0.5``, ``-1:1``, ``+2.5e-03``) stays as it is:
#: digits, '.', ':', an exponent and signs cannot form a formula that calls anything.
_PLAIN = re.compile(r"[+-]?[0-9][0-9.:eE+-]*")
#: Terminal control characters: C0 (but tab and newline), DEL and C1 (ESC starts every escape code).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def csv_cell(value):
    """``value`` with a leading ``'`` when it is text a spreadsheet would run as a formula
    (starts with = + - @ tab or CR and is not a plain number or window); anything else as is."""
    if isinstance(value, str) and value.startswith(FORMULA_START) and not _PLAIN.fullmatch(value):
        return "'" + value
    return value


def csv_frame(frame):
    """A copy of ``frame`` whose text cells pass :func:`csv_cell` (the same frame when none needs
    it). Only object/string columns are read: numeric columns, negative numbers included, stay
    numbers."""
    from pandas.api.types import is_object_dtype, is_string_dtype

    changed = {}
    for col in frame.columns:
        series = frame[col]
        if not (is_object_dtype(series.dtype) or is_string_dtype(series.dtype)):
            continue
        if any(csv_cell(v) is not v for v in _distinct(series)):  # a cell to quote, not only "-1:1" or "-0.5"
            changed[col] = series.map(csv_cell)
    if not changed:
        return frame
    out = frame.copy()
    for col, values in changed.items():
        out[col] = values
    return out


def _distinct(series):
    """The distinct cells of ``series`` (a text column repeats few values: ids, symbols,
    windows), or all of them when some cell cannot be hashed."""
    import pandas as pd

    values = series.to_numpy()
    try:
        return pd.unique(values)
    except TypeError:
        return values


def html_text(value) -> str:
    """``str(value)`` with ``& < > " '`` escaped for HTML."""
    return html.escape(str(value), quote=True)


def terminal_text(text: str) -> str:
    """``text`` without terminal control characters (escape codes), tabs and newlines kept."""
    return _CONTROL.sub("", str(text))
