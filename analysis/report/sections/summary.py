"""PDF section "Executive summary": sentences generated from the results
(:mod:`analysis.report.summary_text`), one paragraph per event, then across events, robustness
and the run's failures (template block ``data.summary``)."""
from __future__ import annotations

from analysis.report import summary_text
from analysis.report.context import ReportInputs


def build(inputs: ReportInputs) -> list[str]:
    h = inputs.headline
    summary = []
    for event in inputs.events:
        ev = event.info
        if event.has_results:
            summary += summary_text.event_sentences(ev, event.firms, event.tests, h.symbol, h.name, h.window, h.test)
        else:
            summary.append(f"{ev['short_title']} ({ev['date_text']}): not available in this run — its notebook "
                           "failed (see the appendix).")
    cmp = inputs.compare
    summary += summary_text.cross_event_sentences(cmp.moved, cmp.kinds, cmp.years, h.window, h.test)
    rs = summary_text.robustness_sentence(inputs.concat("robust"), h.window, h.test, inputs.main_model)
    if rs:
        summary.append(rs)
    failed = inputs.run.failed
    if failed:
        summary.append(f"This run is incomplete: {len(failed)} notebook(s) failed; the appendix names the "
                       "notebook and the cell. The last complete report stays in reports/latest.")
    return summary
