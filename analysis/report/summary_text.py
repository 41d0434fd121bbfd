"""The paragraphs of "The answer", written from the primary family's rows
(:func:`analysis.report.answer.primary_rows`: the study's ``tests.csv``, decimals), never from
text typed by hand.

Stakeholder rule: an effect is claimed only where the primary test supports it after Holm's
adjustment (``p_holm`` < 0.05), with its size and 95% interval; everywhere else the text says
the move is not distinguishable from ordinary day-to-day moves and gives the smallest effect
the design detects (``mde``). Every percentage printed here is ``estimate``, ``ci_low``,
``ci_high`` or ``mde`` of a primary row, formatted by :func:`pct` (one decimal), so an
end-to-end test can find each one in ``tests.csv``. No test statistic appears.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from analysis import fmt
from analysis.inference.multiple import ALPHA
from analysis.vocab import GROUPS, PRIMARY_WINDOW, parse_window

#: Decimals of the percentages on "The answer" page.
DECIMALS = 1
#: The two years the fourth question compares (the earliest and latest year of the run when
#: either is missing).
QUESTION_YEARS = (2019, 2022)
#: Words for the catalog's event kinds.
KIND_WORDS = {"report": ("press report", "press reports"), "action": ("official act", "official acts")}
NOT_DISTINGUISHABLE = "not distinguishable from ordinary day-to-day moves"


def pct(x, signed: bool = True) -> str:
    """A decimal as percent with :data:`DECIMALS` decimals and the % sign ('−15.9%')."""
    return fmt.pct(x, DECIMALS) + "%" if signed else fmt.pct(abs(float(x)), DECIMALS) + "%"


def window_words(window: str = PRIMARY_WINDOW) -> str:
    """'0:1' -> 'over days 0 and +1 (two sessions)'."""
    a, b = parse_window(window)
    day = lambda d: fmt.num(d, 0, signed=d != 0)  # noqa: E731
    if a == b:
        return f"on day {day(a)}"
    if b == a + 1:
        return f"over days {day(a)} and {day(b)}"
    return f"over days {day(a)} to {day(b)} ({b - a + 1} sessions)"


def _group_words(group: str) -> str:
    return GROUPS[group].words if group in GROUPS else str(group)


def _title(r) -> str:
    return str(r["short_title"])


def _subject(r, members: dict) -> str:
    """'Hikvision, the one named firm,' / 'the 3 named firms (A, B and C) together'."""
    names = members.get((r["event_id"], r["group"])) or []
    words = _group_words(r["group"])
    n = int(r["n"]) if np.isfinite(float(r["n"])) else len(names)
    if n == 1 and names:
        return f"{names[0]}, the one {words.rstrip('s') if words.endswith('firms') else words},"
    listed = f" ({fmt.and_list(names)})" if names and len(names) <= 4 else ""
    return f"the {n} {words}{listed} together"


def claim(r, members: dict, window: str = PRIMARY_WINDOW) -> str:
    """One Holm-significant primary row in words, with its size and 95% interval."""
    est = float(r["estimate"])
    verb = "lost" if est < 0 else "gained"
    their = "its" if int(r["n"]) == 1 else "their"
    holm = fmt.pvalue(r["p_holm"]) if "p_holm" in r and np.isfinite(float(r["p_holm"])) else None
    holm = "" if holm is None else (f", Holm p < {holm[1:]}" if holm.startswith("<") else f", Holm p = {holm}")
    text = (f"after {_title(r)} ({fmt.date_text(r['date'])}), {_subject(r, members)} {verb} {pct(est, signed=False)} "
            f"against {their} market {window_words(window)} (95% CI {pct(r['ci_low'])} to {pct(r['ci_high'])}{holm})")
    caution = r.get("caution", "") if hasattr(r, "get") else ""
    if isinstance(caution, str) and caution:
        text += f" [caution: {caution}]"
    return text


def mde_words(rows: pd.DataFrame) -> str:
    """'this design would detect moves larger than 5.0%' (or 'than 4.3% to 11.0%, depending on
    the event and its number of firms') from the rows' ``mde``."""
    m = rows["mde"].astype(float)
    m = m[np.isfinite(m)]
    if m.empty:
        return "the design's detectable effect is not available"
    lo, hi = pct(m.min(), signed=False), pct(m.max(), signed=False)
    if lo == hi:
        return f"this design would detect moves larger than {lo}"
    return f"this design would detect moves larger than {lo} to {hi}, depending on the event and its number of firms"


def group_paragraph(rows: pd.DataFrame, group: str, members: dict, window: str = PRIMARY_WINDOW) -> str:
    """Did the news move ``group``? The Holm-significant rows as claims, the others as not
    distinguishable with the design's detectable effect."""
    g = rows[rows["group"] == group]
    words = _group_words(group)
    if g.empty:
        return f"No event of this run has {words} in the data, so there is no answer for them."
    sig, rest = g[g["significant"]], g[~g["significant"]]
    if sig.empty:
        of = f"{len(g)} events" + (" that named a firm of this study" if group == "named" else "")
        return (f"No. At none of the {of} did {words} move by more than ordinary day-to-day moves: "
                f"their moves {window_words(window)} are {NOT_DISTINGUISHABLE}; {mde_words(g)}.")
    claims = "; ".join(claim(r, members, window) for _, r in sig.iterrows())
    of = f"{len(g)} events" + (" that named a firm of this study" if group == "named" else "")
    text = f"Yes, at {len(sig)} of the {of}: {claims}."
    if not rest.empty:  # the design's detectable effect of the group, as in Caveats
        text += (f" At {'the other ' + str(len(rest)) + ' events' if len(rest) != 1 else 'the remaining event'}, "
                 f"the moves of {words} are "
                 f"{NOT_DISTINGUISHABLE}; {mde_words(g)}.")
    return text[0].upper() + text[1:]


def _listing(sig: pd.DataFrame) -> str:
    return fmt.and_list(f"{_title(r)} ({pct(r['estimate'])})" for _, r in sig.iterrows())


def _count(rows: pd.DataFrame, group: str, events: list[str], kind: str) -> str:
    """'after 1 of the 2 press reports (FT ..., −15.9%)' for the rows of ``group`` at ``events``;
    when the group has results at fewer of these events than the run has, the noun says which
    ('of the 14 official acts that named a firm of this study')."""
    one, many = KIND_WORDS[kind]
    g = rows[(rows["group"] == group) & rows["event_id"].isin(events)]
    sig = g[g["significant"]]
    noun = one if len(g) == 1 else many
    if 0 < g["event_id"].nunique() < len(set(events)):
        noun += (" that named a firm of this study" if group == "named"
                 else f" with {_group_words(group)} in the data")
    if g.empty:
        return f"at no {one} with results"
    if sig.empty:
        return f"after none of the {len(g)} {noun}" if len(g) > 1 else f"not after the one {noun}"
    listing = "; ".join(f"{_title(r)}, {pct(r['estimate'])}" for _, r in sig.iterrows())
    return f"after {len(sig)} of the {len(g)} {noun} ({listing})"


def kinds_paragraph(rows: pd.DataFrame) -> str:
    """Did press reports move prices as much as official acts? Counts of Holm-significant rows
    per kind and group; no test compares the kinds."""
    ev = rows.drop_duplicates("event_id")
    by_kind = {k: list(ev.loc[ev["kind"] == k, "event_id"]) for k in KIND_WORDS}
    if not all(by_kind.values()):
        have = [KIND_WORDS[k][1] for k, v in by_kind.items() if v]
        return (f"This run has only {fmt.and_list(have) or 'no'} events of a known kind, so the two kinds cannot be "
                "compared.")
    (r1, rs), (a1, as_) = KIND_WORDS["report"], KIND_WORDS["action"]
    nr, na = len(by_kind["report"]), len(by_kind["action"])
    parts = []
    for group in [g for g in GROUPS if g in set(rows["group"])]:
        parts.append(f"{_group_words(group)} moved by more than ordinary day-to-day moves "
                     f"{_count(rows, group, by_kind['report'], 'report')} and "
                     f"{_count(rows, group, by_kind['action'], 'action')}")
    text = (f"The run has {nr} {rs if nr != 1 else r1} and {na} {as_ if na != 1 else a1}. "
            + "; ".join(p[0].upper() + p[1:] for p in parts) + ". ")
    text += (f"No test compares the two kinds: with {nr} {rs if nr != 1 else r1}, the design cannot say whether "
             f"{rs} move prices more or less than {as_}; only the moves named above are supported by the test.")
    return text


def years_paragraph(rows: pd.DataFrame) -> str:
    """Did the later year differ from the earlier one (:data:`QUESTION_YEARS`)?"""
    years = sorted({d.year for d in rows["date"]})
    if len(years) < 2:
        return (f"This run covers events of {years[0] if years else 'no'} year only, so it cannot compare years."
                if years else "This run has no results to compare over time.")
    y1, y2 = QUESTION_YEARS if set(QUESTION_YEARS) <= set(years) else (years[0], years[-1])
    out = []
    for y in (y1, y2):
        sub = rows[[d.year == y for d in rows["date"]]]
        n_ev = sub["event_id"].nunique()
        sig = sub[sub["significant"]]
        head = f"In {y} ({n_ev} event{'s' if n_ev != 1 else ''})"
        if sig.empty:
            out.append(f"{head}, no move of the {' or the '.join(_group_words(g) for g in GROUPS if g in set(sub['group']))} "
                       f"was distinguishable from ordinary day-to-day moves")
        else:
            parts = [f"{_group_words(g)} moved after {_listing(sig[sig['group'] == g])}"
                     for g in GROUPS if (sig["group"] == g).any()]
            out.append(f"{head}, {'; '.join(parts)}")
    return ("; ".join(out) + ". No test compares the years directly (a handful of events each): the difference "
            "lies in which events cleared the bar, not in a measured change of the reaction.")


def question_paragraphs(rows: pd.DataFrame, members: dict, window: str = PRIMARY_WINDOW) -> list[dict]:
    """The four questions of "The answer", each ``{"question", "text"}``."""
    y = sorted({d.year for d in rows["date"]}) if len(rows) else []
    y1, y2 = QUESTION_YEARS if set(QUESTION_YEARS) <= set(y) or len(y) < 2 else (y[0], y[-1])
    return [
        {"question": "Did the news move the firms it named?", "text": group_paragraph(rows, "named", members, window)},
        {"question": "Did it move their US suppliers?", "text": group_paragraph(rows, "supplier", members, window)},
        {"question": "Did press reports move prices as much as official acts?", "text": kinds_paragraph(rows)},
        {"question": f"Did {y2} differ from {y1}?", "text": years_paragraph(rows)},
    ]


def basis_sentence(rows: pd.DataFrame, window: str = PRIMARY_WINDOW) -> str:
    """What counts as a move: the primary test and Holm's adjustment, in words."""
    m = int(np.isfinite(rows["p_value"].astype(float)).sum()) if len(rows) else 0
    return (f"Each answer rests on one test per event and group: the equal-weighted portfolio of the group's firms, "
            f"its return beyond what its market predicts (abnormal return) summed {window_words(window)} (day 0 is "
            f"the first session after the news): the cumulative abnormal return (CAR), in percent, with a 95% "
            f"confidence interval (CI). With {m} such tests in this run, a move counts only when it stays "
            f"significant at {int(ALPHA * 100)}% after Holm's adjustment for testing {m} times (Holm p below 0.05: "
            f"the chance of any false alarm among the {m} stays under 5%).")
