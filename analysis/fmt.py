"""Number formatting shared by the notebooks, the PDF and the executive summary.

One place decides how a CAR or a p-value is printed, so the PDF, the sentences of the summary
and the tests that look for those numbers in the PDF all agree. Negative numbers use the
typographic minus sign (U+2212), as the PDF prints them.
"""
from __future__ import annotations

import math
import re

MINUS = "\u2212"
NA = "n/a"


def _finite(x) -> bool:
    try:
        return x is not None and math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def num(x, nd: int = 2, signed: bool = False) -> str:
    """``x`` with ``nd`` decimals and a real minus sign; ``n/a`` when missing."""
    if not _finite(x):
        return NA
    x = float(x)
    text = f"{abs(x):.{nd}f}"
    if float(text) == 0:  # no "-0.00" or "+0.00"
        return text
    if x < 0:
        return MINUS + text
    return ("+" + text) if signed else text


def pct(x, nd: int = 2, signed: bool = False) -> str:
    """A decimal return as percent without the % sign: -0.07667 -> '−7.67'."""
    return num(float(x) * 100 if _finite(x) else x, nd, signed)


def pvalue(p) -> str:
    """p-value with 3 decimals; '<0.001' below that."""
    if not _finite(p):
        return NA
    p = float(p)
    return "<0.001" if p < 0.0005 else f"{p:.3f}"


def p_equals(p) -> str:
    """'p = 0.019' or 'p < 0.001'."""
    text = pvalue(p)
    return f"p {text.replace('<', '< ')}" if text.startswith("<") else f"p = {text}"


def stars(p) -> str:
    """Significance stars: *** p<0.01, ** p<0.05, * p<0.10."""
    if not _finite(p):
        return ""
    p = float(p)
    return "***" if p < 0.01 else "**" if p < 0.05 else "*" if p < 0.10 else ""


def significance(p) -> str:
    """Words for a two-sided p-value: 'significant at 1%' ... 'not significant at 10%'."""
    if not _finite(p):
        return "no test available"
    p = float(p)
    for level, word in ((0.01, "1%"), (0.05, "5%"), (0.10, "10%")):
        if p < level:
            return f"significant at {word}"
    return "not significant at 10%"


def window_label(window: str) -> str:
    """'-1:1' -> '[−1, +1]' (event-window notation)."""
    try:
        a, b = (int(v) for v in str(window).split(":"))
    except ValueError:
        return str(window)
    return f"[{num(a, 0, signed=a != 0)}, {num(b, 0, signed=b != 0)}]"


def date_text(ts) -> str:
    """A date as '21 May 2019'."""
    import pandas as pd

    d = pd.Timestamp(ts)
    return f"{d.day} {d.strftime('%b %Y')}"


def prose(text: str) -> str:
    """Relative days in a note written for CSVs ('day -4', 'after day -1') with the minus sign."""
    return re.sub(r"\bday -(?=\d)", f"day {MINUS}", str(text))
