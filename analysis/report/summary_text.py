"""The paragraphs of "The answer", written from the pooled answers across events (``pooled.csv``,
:func:`analysis.report.answer_rows.pooled_rows`), the primary family's rows
(:func:`analysis.report.answer_rows.primary_rows`: the study's ``tests.csv``, decimals) and the
firms' rows of ``car.csv``, never from text typed by hand.

Stakeholder rule: each group question opens with the pooled answer across the attributable
events (mean CAR, 95% CI, Holm p over the two pooled tests, I^2 of the random-effects row);
then the single events whose move is *claimed* (Holm on the tail-robust ``p_history`` below
0.05 and attributable), with size and 95% interval; the moves that cannot be attributed (a
major confounder priced in the same session) are named as such and never claimed; then single
firms whose own move is robust (firm ``p_history``, Benjamini-Hochberg q < 0.05 over all firm
rows of the window), as individual firms, never as a group effect. Every percentage printed
here is ``estimate``, ``ci_low``, ``ci_high`` or ``mde`` of a primary row or a pooled row, or a
firm's ``car``, formatted by :func:`pct` (one decimal), so an end-to-end test can find each one
in the study's files. I^2 is printed as a whole percent. No test statistic appears.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from analysis import fmt
from analysis.inference.multiple import ALPHA
from analysis.inference.pooled import observations
from analysis.inference.portfolio import interval
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


def _holm_words(p) -> str:
    """', Holm p = 0.021' / ', Holm p < 0.001' ('' when p is missing)."""
    if p is None or not np.isfinite(float(p)):
        return ""
    text = fmt.pvalue(p)
    return f", Holm p < {text[1:]}" if text.startswith("<") else f", Holm p = {text}"


def claim(r, members: dict, window: str = PRIMARY_WINDOW) -> str:
    """One claimed primary row in words, with its size, 95% interval and the Holm p of its
    tail-robust test (``p_holm_history``)."""
    est = float(r["estimate"])
    verb = "lost" if est < 0 else "gained"
    their = "its" if int(r["n"]) == 1 else "their"
    holm = _holm_words(r["p_holm_history"]) if "p_holm_history" in r else ""
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


def _events_noun(group: str, n: int) -> str:
    """'15 events that named a firm of this study' / '17 events with US suppliers in the data'."""
    noun = f"{n} event{'s' if n != 1 else ''}"
    if group == "named":
        return noun + " that named a firm of this study"
    return noun + f" with {_group_words(group)} in the data"


def heterogeneity_words(i2) -> str:
    """How much the events' moves differ beyond chance, from I^2 (0..1) of the random-effects row."""
    if i2 is None or not np.isfinite(float(i2)):
        return ""
    v = f"I² = {round(100 * float(i2))}%"
    if i2 >= 0.5:
        return f"the effect varied across events ({v}: most of their spread exceeds chance)"
    if i2 >= 0.25:
        return f"the effect varied somewhat across events ({v}: part of their spread exceeds chance)"
    return f"the events' moves differ little beyond chance ({v})"


def pooled_sentence(group: str, pooled: dict | None, spread: dict | None, n_left_out: int = 0,
                    window: str = PRIMARY_WINDOW) -> str:
    """The pooled answer across events in words: 'Yes, on average: across the 15 events ...
    lost on average 3.0% ... (95% CI −5.5% to −0.6%; Holm p = 0.036); the effect varied across
    events (I² = 71%: most of their spread exceeds chance).' ``pooled``: the group's primary pooled row; ``spread``: its
    random-effects row (I^2); ``n_left_out``: events not attributable. Events pooled as one
    observation (``event_ids`` 'a+b': their windows share sessions) are counted as events and said
    to count once."""
    words = _group_words(group)
    if pooled is None:
        return f"The pooled answer across events for {words} is not in this run's results."
    n = int(pooled["n_events"])
    obs = observations(pooled.get("event_ids"))
    if any(len(o) > 1 for o in obs):  # events whose windows share sessions count once
        n_events = sum(len(o) for o in obs)
        left_words = f"{n_events - len(obs)} pair{'s' if n_events - len(obs) != 1 else ''} of events sharing sessions"
        shared = f"; {left_words} count once: {len(obs)} independent observations"
        n = n_events
    else:
        shared = ""
    left = (f" ({n_left_out} more event{'s' if n_left_out != 1 else ''} left out: "
            f"{'its' if n_left_out == 1 else 'their'} move cannot be attributed, see below)" if n_left_out else "")
    if not np.isfinite(float(pooled["estimate"])):
        return (f"Too few events to pool: {words} have results at {_events_noun(group, n)} whose move can be "
                f"attributed{left}; an average across events needs at least 3.")
    est = float(pooled["estimate"])
    holm = float(pooled.get("p_holm", np.nan))
    sig = np.isfinite(holm) and holm < ALPHA
    ci = f"95% CI {pct(pooled['ci_low'])} to {pct(pooled['ci_high'])}{_holm_words(holm).replace(', ', '; ', 1)}"
    if sig:
        verb = "lost" if est < 0 else "gained"
        text = (f"Yes, on average: across the {_events_noun(group, n)}{left}{shared}, {words} {verb} on average "
                f"{pct(est, signed=False)} against their market {window_words(window)} ({ci})")
    else:
        text = (f"Not on average: across the {_events_noun(group, n)}{left}{shared}, {words} moved on average "
                f"{pct(est)} against their market {window_words(window)} ({ci}), {NOT_DISTINGUISHABLE}"
                + detectable_words(pooled))
    het = heterogeneity_words(spread.get("i2") if spread else None)
    return text + (f"; {het}." if het else ".")


def detectable_words(pooled: dict) -> str:
    """'; the design could detect an average move of about 2.2% (80% power, 5% two-sided)' for a
    pooled_mean row: MDE = (t_{dof, 0.975} + t_{dof, 0.80}) x se (:func:`analysis.inference.portfolio.interval`:
    the power of the one-sample t test under its normal-shift approximation); '' without se or dof."""
    se, dof = float(pooled.get("se", np.nan)), float(pooled.get("dof", np.nan))
    if not (np.isfinite(se) and np.isfinite(dof) and se > 0 and dof >= 1):
        return ""
    mde = float(interval(0.0, se, dof)["mde"])  # the portfolio test's MDE formula, 95% two-sided, 80% power
    return f"; the design could detect an average move of about {pct(mde, signed=False)} (80% power, 5% two-sided)"


def unattributed(r, members: dict) -> str:
    """'after <event>, X and Y fell 7.8%, but the same session priced other major news (<the
    confounder>): the move cannot be attributed' for a primary row that is not attributable;
    the confounder as ``confounder_words`` (shortened by the section) else ``confounded_by``."""
    names = members.get((r["event_id"], r["group"])) or []
    who = fmt.and_list(names) if names else f"the {_group_words(r['group'])}"
    est = float(r["estimate"])
    move = f"{'fell' if est < 0 else 'rose'} {pct(est, signed=False)}" if np.isfinite(est) else "moved"
    what = r.get("confounder_words") or ""
    if not isinstance(what, str) or not what:
        what = "; ".join(w for w in str(r.get("confounded_by", "") or "").split(" | ") if w.strip())
    news = f"other major news ({what})" if what else "other major news"
    return (f"after {_title(r)} ({fmt.date_text(r['date'])}), {who} {move}, but the same session priced {news}: "
            f"the move cannot be attributed")


def firm_words(firms: pd.DataFrame | None) -> str:
    """'Individual firms whose own move stands out ...: Ambarella after NYT report (−14.4%).'
    from the robust firm rows (:func:`robust_firms`); '' when none."""
    if firms is None or firms.empty:
        return ""
    listing = fmt.and_list(f"{r['name']} after {r['short_title']} ({pct(r['car'])})" for _, r in firms.iterrows())
    return (f"Individual firms whose own move stands out against their own price history (Benjamini-Hochberg "
            f"q < 0.05 over all firms' moves): {listing}. These are single firms, not a group effect.")


def group_paragraph(rows: pd.DataFrame, group: str, members: dict, window: str = PRIMARY_WINDOW,
                    pooled: dict | None = None, spread: dict | None = None, firms: pd.DataFrame | None = None) -> str:
    """Did the news move ``group``? The pooled answer across events (:func:`pooled_sentence`),
    then the claimed events (Holm on ``p_history`` < 0.05 and attributable) with their size and
    interval, the moves that cannot be attributed, the rest as exploratory with the design's
    detectable effect, and the robust single firms (:func:`firm_words`)."""
    g = rows[rows["group"] == group]
    words = _group_words(group)
    if g.empty:
        return f"No event of this run has {words} in the data, so there is no answer for them."
    attributable = g["attributable"].astype(bool) if "attributable" in g.columns else pd.Series(True, index=g.index)
    claimed = g["claimed"].astype(bool) if "claimed" in g.columns else pd.Series(False, index=g.index)
    sig, blocked = g[claimed & attributable], g[~attributable]
    parts = [pooled_sentence(group, pooled, spread, len(blocked), window)]
    have_history = "p_holm_history" in g.columns and np.isfinite(g["p_holm_history"].astype(float)).any()
    if not sig.empty:
        parts.append(f"Event by event, the move stands out against the firms' own price history at {len(sig)} of "
                     f"the {_events_noun(group, len(g))}: " + "; ".join(claim(r, members, window)
                                                                      for _, r in sig.iterrows()) + ".")
    elif have_history:
        parts.append(f"Event by event, no single move of {words} stands out against their own price history after "
                     f"Holm's adjustment; single events are exploratory ({mde_words(g)}).")
    else:
        parts.append(f"Event by event, no move is claimed: the tail-robust test against the firms' own price "
                     f"history is not in this run's results; single events are exploratory ({mde_words(g)}).")
    if not blocked.empty:
        text = "; ".join(unattributed(r, members) for _, r in blocked.iterrows())
        parts.append(text[0].upper() + text[1:] + ".")
    parts.append(firm_words(firms))
    return " ".join(p for p in parts if p)


def _listing(sig: pd.DataFrame) -> str:
    return fmt.and_list(f"{_title(r)} ({pct(r['estimate'])})" for _, r in sig.iterrows())


def _count(rows: pd.DataFrame, group: str, events: list[str], kind: str) -> str:
    """'after 1 of the 2 press reports (FT ..., −15.9%)' for the rows of ``group`` at ``events``;
    when the group has results at fewer of these events than the run has, the noun says which
    ('of the 14 official acts that named a firm of this study')."""
    one, many = KIND_WORDS[kind]
    g = rows[(rows["group"] == group) & rows["event_id"].isin(events)]
    sig = g[g["claimed"]]
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
    """Did press reports move prices as much as official acts? Counts of claimed rows per kind
    and group; no test compares the kinds."""
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
        parts.append(f"{_group_words(group)} moved robustly "
                     f"{_count(rows, group, by_kind['report'], 'report')} and "
                     f"{_count(rows, group, by_kind['action'], 'action')}")
    text = (f"The run has {nr} {rs if nr != 1 else r1} and {na} {as_ if na != 1 else a1}. "
            + "; ".join(p[0].upper() + p[1:] for p in parts) + ". ")
    text += (f"No test compares the two kinds: {nr} {rs if nr != 1 else r1} are too few to say whether {rs} move "
             f"prices more or less than {as_}.")
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
        sig = sub[sub["claimed"]]
        head = f"In {y} ({n_ev} event{'s' if n_ev != 1 else ''})"
        if sig.empty:
            out.append(f"{head}, no move of the {' or the '.join(_group_words(g) for g in GROUPS if g in set(sub['group']))} "
                       f"stood out against the firms' own price history")
        else:
            parts = [f"{_group_words(g)} moved after {_listing(sig[sig['group'] == g])}"
                     for g in GROUPS if (sig["group"] == g).any()]
            out.append(f"{head}, {'; '.join(parts)}")
    return (". ".join(out) + ". No test compares the years (a handful of events each): the difference lies in "
            "which events cleared the bar, not in a measured change.")


def question_paragraphs(rows: pd.DataFrame, members: dict, window: str = PRIMARY_WINDOW, pooled: dict | None = None,
                        spread: dict | None = None, firms: pd.DataFrame | None = None) -> list[dict]:
    """The four questions of "The answer", each ``{"question", "text"}``. ``pooled`` /
    ``spread``: group -> the primary pooled row / its random-effects row
    (:func:`analysis.report.answer_rows.pooled_rows`); ``firms``: the robust single firms
    (:func:`robust_firms`, column ``group``)."""
    y = sorted({d.year for d in rows["date"]}) if len(rows) else []
    y1, y2 = QUESTION_YEARS if set(QUESTION_YEARS) <= set(y) or len(y) < 2 else (y[0], y[-1])
    pooled, spread = pooled or {}, spread or {}

    def firms_of(g):
        return None if firms is None or firms.empty else firms[firms["group"] == g]

    def answer(g):
        return group_paragraph(rows, g, members, window, pooled.get(g), spread.get(g), firms_of(g))

    return [
        {"question": "Did the news move the firms it named?", "text": answer("named")},
        {"question": "Did it move their US suppliers?", "text": answer("supplier")},
        {"question": "Did press reports move prices as much as official acts?", "text": kinds_paragraph(rows)},
        {"question": f"Did {y2} differ from {y1}?", "text": years_paragraph(rows)},
    ]


def basis_sentence(rows: pd.DataFrame, window: str = PRIMARY_WINDOW) -> str:
    """What counts as a move: the pooled test across events and the per-event rule, in words."""
    m = int(np.isfinite(rows["p_value"].astype(float)).sum()) if len(rows) else 0
    return (f"Each answer starts across events: the group's return beyond what its market predicts, summed "
            f"{window_words(window)} (day 0: the first session after the news), is the cumulative abnormal return "
            f"(CAR), in percent; the answer is its average over the events whose move can be attributed to the "
            f"news, with a 95% confidence interval (CI) and Holm's adjustment over the two questions. A single "
            f"event's move is claimed only when it stands out against the firms' own whole price history after "
            f"Holm's adjustment over the {m} event tests; other single-event numbers are exploratory.")


def robust_firms(car: pd.DataFrame | None, titles: pd.DataFrame, window: str = PRIMARY_WINDOW) -> pd.DataFrame:
    """The firm rows of ``car`` (car.csv) over ``window`` whose own move is robust: ``p_history``
    with Benjamini-Hochberg q < 0.05 over all firm rows of the window that have one, and
    attributable; columns group, name, event_id, short_title, date, car (decimal), q, in date
    order. Empty without ``p_history`` (never the normal-tail ``car_p``)."""
    from analysis.inference.multiple import bh

    cols = ["group", "name", "event_id", "short_title", "date", "car", "q"]
    if car is None or "p_history" not in car.columns or "group" not in car.columns:
        return pd.DataFrame(columns=cols)
    c = car[car["window"] == window]
    if "window_kind" in c.columns:
        c = c[c["window_kind"].fillna("requested") == "requested"]
    c = c[np.isfinite(c["p_history"].astype(float))].copy()
    if c.empty:
        return pd.DataFrame(columns=cols)
    c["q"] = bh(c["p_history"].to_numpy(dtype=float))
    ok = c["attributable"].astype(str).str.lower().ne("false") if "attributable" in c.columns else True
    c = c[(c["q"] < ALPHA) & ok]
    c = c.merge(titles[["event_id", "short_title", "date"]], on="event_id", how="left")
    return c.sort_values(["date", "name"], kind="stable")[cols].reset_index(drop=True)
