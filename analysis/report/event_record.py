"""The event record: every event of the catalog as the data files describe it, one place for
``docs/events.md`` (``python -m analysis events-doc``) and the PDF's timeline.

Per event: the instant and how it was timed, day 0 on each exchange of the universe (the
study's day-0 rule, :func:`analysis.data.calendars.day_zero`), who it named and by what words
(``data/event_firms.csv``), its other dates (``data/event_dates.csv``) and the other news that
lands within :data:`NEWS_REACH` sessions of day 0 on a market it reaches, with its severity
(``data/confounders.csv``, placed by :func:`analysis.data.news_days.place_confounders`).
Needs no prices: calendars only.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from analysis import fmt
from analysis.atomic import atomic_write
from analysis.data import catalog
from analysis.data.calendars import day_zero, sessions
from analysis.data.news_days import MARKET_CALENDAR, day_column, market_of
from analysis.paths import PROJECT
from analysis.vocab import DATE_ONLY_HOUR, exchange_label

#: The generated page.
EVENTS_DOC = PROJECT / "docs" / "events.md"
#: Other news is listed when it lands within this many sessions of day 0 (the widest default
#: window, -5:5).
NEWS_REACH = 5
#: The command that writes :data:`EVENTS_DOC`.
COMMAND = "python -m analysis events-doc"
RELATION_WORDS = {"named": "named", "not_named": "not named", "removed": "removed from a list"}


def timing_text(announced_at: str) -> str:
    """How an ``announced_at`` was timed: '20:00 UTC-04:00' or 'date only: hour unknown, taken as
    09:00 New York time' (:data:`analysis.vocab.DATE_ONLY_HOUR` in :data:`analysis.vocab.NEWS_TIMEZONE`)."""
    a = str(announced_at)
    if len(a) > 10:
        return f"{a[11:16]} UTC{a[16:].replace('Z', '+00:00')}"
    return f"date only: hour unknown, taken as {DATE_ONLY_HOUR:02d}:00 New York time"


def _day0s(announced, exchanges) -> dict[str, pd.Timestamp]:
    return {mic: day_zero(announced, mic) for mic in exchanges}


def load_record_inputs(events=None, universe=None, event_firms=None, event_dates=None, confounders=None) -> dict:
    """The data files (defaults: ``data/``), loaded and checked against each other."""
    ev = catalog.load_events(events or catalog.DEFAULT_EVENTS)
    uni = catalog.load_universe(universe or catalog.DEFAULT_UNIVERSE)
    return {
        "events": ev, "universe": uni,
        "event_firms": catalog.load_event_firms(event_firms or catalog.DEFAULT_EVENT_FIRMS, events=ev["event_id"],
                                                symbols=uni["symbol"], strict=False),
        "event_dates": catalog.load_event_dates(event_dates or catalog.DEFAULT_EVENT_DATES, events=ev, strict=False),
        "confounders": catalog.load_confounders(confounders or catalog.DEFAULT_CONFOUNDERS, symbols=uni["symbol"],
                                                strict=False),
    }


def build_record(events, universe, event_firms, event_dates, confounders) -> list[dict]:
    """One dict per event, in catalog order: event_id, short_title, kind, title, source,
    announced_at, timing, day0 ({exchange: Timestamp}), firms ([{name, symbol, relation,
    carried_over, source}]), dates ([{date_kind, announced_at, timing, day0, source}]), news
    ([{what, symbol, severity, markets, days: {market: relative day}, source}])."""
    from analysis.data.news_days import place_confounders

    exchanges = list(dict.fromkeys(universe["exchange"]))
    names = dict(zip(universe["symbol"], universe["name"]))
    placed = place_confounders(confounders)
    markets = list(dict.fromkeys(market_of(m) for m in exchanges if market_of(m) in MARKET_CALENDAR))
    sess = {m: sessions(MARKET_CALENDAR[m]) for m in markets}
    out = []
    for ev in events.itertuples(index=False):
        day0 = _day0s(ev.announced, exchanges)
        firms = [{"name": names.get(r.symbol, r.symbol), "symbol": r.symbol, "relation": r.relation,
                  "carried_over": bool(r.carried_over), "source": r.source}
                 for r in event_firms[event_firms["event_id"] == ev.event_id].itertuples(index=False)]
        dates = [{"date_kind": r.date_kind, "announced_at": r.announced_at, "timing": timing_text(r.announced_at),
                  "day0": _day0s(r.announced, exchanges), "source": r.source}
                 for r in event_dates[event_dates["event_id"] == ev.event_id].itertuples(index=False)]
        news = []
        for _, r in placed.iterrows():
            days = {}
            for m in markets:
                landed = r[day_column(m)]
                if pd.isna(landed):
                    continue
                mic0 = next(x for x in exchanges if market_of(x) == m)
                rel = int(sess[m].get_loc(pd.Timestamp(landed))) - int(sess[m].get_loc(day0[mic0]))
                if abs(rel) <= NEWS_REACH and (not r["symbol"] or any(
                        market_of(e) == m for e in universe.loc[universe["symbol"] == r["symbol"], "exchange"])):
                    days[m] = rel
            if days:
                news.append({"what": r["what"], "symbol": r["symbol"], "severity": r["severity"],
                             "markets": r["markets"], "announced_at": r["announced_at"], "days": days,
                             "source": r["source"]})
        out.append({"event_id": ev.event_id, "short_title": ev.short_title, "kind": ev.kind, "title": ev.title,
                    "source": ev.source, "announced_at": ev.announced_at, "timing": timing_text(ev.announced_at),
                    "day0": day0, "firms": firms, "dates": dates, "news": news})
    return out


_MARKET_WORDS = {"US": "US", "CN": "A-shares", "HK": "Hong Kong"}


def _day0_line(day0: dict) -> str:
    """'Shenzhen, Shanghai 2 Aug 2018; Nasdaq 1 Aug 2018': exchanges sharing a day 0 together."""
    by_day: dict = {}
    for mic, d in day0.items():
        by_day.setdefault(d, [])
        if exchange_label(mic) not in by_day[d]:
            by_day[d].append(exchange_label(mic))
    return "; ".join(f"{', '.join(labels)} {fmt.date_text(d)}" for d, labels in by_day.items())


def _rel(d: int) -> str:
    return "day 0" if d == 0 else f"day {d:+d}"


def render_markdown(record: list[dict]) -> str:
    """The record as Markdown (``docs/events.md``)."""
    lines = ["# The event record", "",
             f"Generated from `data/events.csv`, `data/event_firms.csv`, `data/event_dates.csv`, "
             f"`data/confounders.csv` and `data/universe.csv` by `{COMMAND}`; do not edit by hand "
             "(`tests/test_event_record.py` fails when this page is stale).", "",
             "Day 0 on an exchange is its first session closing after the announcement instant; a date-only "
             f"announcement is taken as made at {DATE_ONLY_HOUR:02d}:00 New York time. Other news is listed when it "
             f"lands within {NEWS_REACH} sessions of day 0 on a market it reaches (its first session closing after "
             "the news); `major` news could by itself move the firms as much as the event.", ""]
    for r in record:
        lines += [f"## {r['short_title']} (`{r['event_id']}`, {r['kind']})", "",
                  f"- **Announced:** {r['announced_at']} ({r['timing']})",
                  f"- **Day 0:** {_day0_line(r['day0'])}",
                  f"- **What and how timed:** {r['title']}",
                  f"- **Source:** {r['source']}"]
        if r["firms"]:
            lines.append("- **Firms:**")
            for f in r["firms"]:
                carried = ", carried over from an earlier version of the list" if f["carried_over"] else ""
                lines.append(f"  - {f['name']} ({f['symbol']}): {RELATION_WORDS.get(f['relation'], f['relation'])}"
                             f"{carried}. {f['source']}")
        else:
            lines.append("- **Firms:** not described (the universe roles stand in)")
        if r["dates"]:
            lines.append("- **Dates:**")
            for d in r["dates"]:
                lines.append(f"  - {d['date_kind'].replace('_', ' ')}: {d['announced_at']} ({d['timing']}); "
                             f"day 0 {_day0_line(d['day0'])}. {d['source']}")
        if r["news"]:
            lines.append("- **Other news near day 0:**")
            for n in r["news"]:
                where = "; ".join(f"{_MARKET_WORDS.get(m, m)} {_rel(d)}" for m, d in n["days"].items())
                who = f"{n['symbol']}: " if n["symbol"] else "market: "
                lines.append(f"  - **{n['severity']}** ({where}; {n['announced_at']}) {who}{n['what']}. "
                             f"{n['source']}")
        else:
            lines.append("- **Other news near day 0:** none listed")
        lines.append("")
    return "\n".join(lines)


def events_doc_text(**files) -> str:
    """The text of ``docs/events.md`` from the data files (defaults: ``data/``)."""
    return render_markdown(build_record(**load_record_inputs(**files)))


def write_events_doc(path: Path | str = EVENTS_DOC, **files) -> Path:
    """Write the record page (atomically); returns its path."""
    path = Path(path)
    text = events_doc_text(**files)
    return atomic_write(path, lambda fh: fh.write(text), mode="w")
