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


#: Star levels, strictest first: p below the level earns the stars.
STAR_LEVELS = ((0.01, "***"), (0.05, "**"), (0.10, "*"))
#: The star legend printed under tables.
STAR_NOTE = "* p < 0.10, ** p < 0.05, *** p < 0.01, read from the p-value as printed"


def _stars_exact(p: float) -> str:
    return next((s for level, s in STAR_LEVELS if p < level), "")


def stars_of_printed(text: str) -> str:
    """Stars that a printed p-value earns: '0.0498' -> '**', '0.050' -> '', '<0.001' -> '***'."""
    text = str(text).strip()
    if text.startswith("<"):
        bound = float(text[1:])
        return next((s for level, s in STAR_LEVELS if bound <= level), "")
    try:
        return _stars_exact(float(text))
    except ValueError:
        return ""


def pvalue(p) -> str:
    """p-value with 3 decimals, or more when 3 would put it on the other side of a star level
    (0.0498, not 0.050, which would read as "not below 0.05"); '<0.001' below 0.0005.

    The stars of :func:`stars` are read from this text, so a printed p and its stars agree.
    """
    if not _finite(p):
        return NA
    p = float(p)
    if p < 0.0005:
        return "<0.001"
    want = _stars_exact(p)
    for nd in range(3, 7):
        text = f"{p:.{nd}f}"
        if stars_of_printed(text) == want:
            return text
    return text


def p_equals(p) -> str:
    """'p = 0.019' or 'p < 0.001'."""
    text = pvalue(p)
    return f"p {text.replace('<', '< ')}" if text.startswith("<") else f"p = {text}"


def stars(p) -> str:
    """Significance stars read from the printed p (:func:`pvalue`): *** p < 0.01, ** p < 0.05,
    * p < 0.10. 'p = 0.050' gets none; p = 0.0498 prints as '0.0498' and gets '**'."""
    if not _finite(p):
        return ""
    return stars_of_printed(pvalue(p))


def significance(p) -> str:
    """Words for a two-sided p-value: 'significant at 1%' ... 'not significant at 10%'."""
    if not _finite(p):
        return "no test available"
    p = float(p)
    for level, word in ((0.01, "1%"), (0.05, "5%"), (0.10, "10%")):
        if p < level:
            return f"significant at {word}"
    return "not significant at 10%"


#: Words at the end of a company name that a short name drops ("Seagate Technology" -> "Seagate").
_NAME_SUFFIXES = ("digital technology", "information industry", "technology", "technologies", "information",
                  "holdings", "group", "corporation", "corp.", "corp", "co., ltd.", "co.", "ltd.", "inc.", "company")


def and_list(items) -> str:
    """'A', 'A and B', 'A, B and C' (items as given; '' for none)."""
    items = [str(i) for i in items]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def short_name(name: str) -> str:
    """A firm's name for figures and sentences: the alias in parentheses when it has one
    ("Dawning Information Industry (Sugon)" -> "Sugon"), else the name without trailing
    corporate words ("Hangzhou Hikvision Digital Technology" -> "Hangzhou Hikvision")."""
    text = " ".join(str(name).split())
    m = re.search(r"\(([^()]+)\)\s*$", text)
    if m:
        return m.group(1).strip()
    changed = True
    while changed:
        changed = False
        for suffix in _NAME_SUFFIXES:
            if text.lower().endswith(" " + suffix):
                text = text[: -len(suffix) - 1].rstrip(" ,")
                changed = True
    return text


def public_source(text: str) -> str:
    """A source text for readers: no file names of the seed articles ('seeds/000_....txt') and
    no machine paths; what remains cites outlet and title."""
    text = re.sub(r"\(\s*seeds/[\w.\-]+\s*\)", "", str(text))
    text = re.sub(r"[;,]?\s*seeds/[\w.\-]+", "", text)
    text = re.sub(r"SOURCES\.md of the recorded prices \([^)]*\)", "the notes of the recorded price files", text)
    text = re.sub(r"\(\s*\)", "", text)
    text = re.sub(r"\s+([,;.)])", r"\1", text)
    return " ".join(text.split())


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
