"""PDF section "Event timeline": every event of the run by announcement time (template block
``data.timeline``); how each instant was timed in the event record's words
(:mod:`analysis.report.event_record`, the source of ``docs/events.md``)."""
from __future__ import annotations

from analysis import fmt
from analysis.report import event_record
from analysis.report.context import ReportInputs
from analysis.report.sections.events import day0_text
from analysis.report.typst_tables import cell, table


def build(inputs: ReportInputs) -> dict:
    """``rows``: one dict per event (date, announced, kind, short title, title, source, day0);
    ``table``: the timeline table, sorted by announcement time."""
    timeline = []
    for event in inputs.events:
        ev = event.info
        timeline.append({"date": ev["date_text"], "announced": ev["announced_at"], "kind": ev["kind"],
                         "short_title": ev.get("short_title") or event.event_id,
                         "title": fmt.public_source(ev["title"]), "source": fmt.public_source(ev["source"]),
                         "day0": day0_text(event)})
    trows = []
    for t in sorted(timeline, key=lambda t: t["announced"]):
        a = t["announced"]
        # how the instant was timed: the event record's words (docs/events.md uses the same function)
        when = event_record.timing_text(a).replace("-", fmt.MINUS) if a else ""
        trows.append([cell(t["date"], sub=when, align="left"), cell(t["kind"], align="left"),
                      cell(t["short_title"], sub=t["title"] + (f"\nDay 0: {t['day0']}" if t["day0"] else ""),
                           align="left", bold=True),
                      cell(t["source"], align="left")])
    spec = table(["2.1cm", "1.1cm", "1.25fr", "1fr"], ["left"] * 4,
                 [[cell("Date", align="left"), cell("Kind", align="left"), cell("What happened", align="left"),
                   cell("Source", align="left")]], trows, caption="Event timeline", size="7.5pt", breakable=True,
                 note="Announcement dates and times (local time with its UTC offset, from the event catalog); "
                      "day 0 is the first session of each exchange that closes after the announcement. The full "
                      "record of each event (who was named and by what words, other dates, other news with its "
                      "severity) is docs/events.md, generated from the same files.")
    return {"rows": timeline, "table": spec}
