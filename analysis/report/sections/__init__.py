"""The sections of the PDF, one module each; :data:`SECTIONS` registers them.

A section is a function ``build(inputs: ReportInputs) -> data`` (JSON-ready: formatted text and
table specs from :mod:`analysis.report.typst_tables`); :func:`analysis.report.pdf.report_data`
stores its result under its key in ``report_data.json``, where ``template.typ`` lays it out
(``data.<key>``). Adding a section: a module here, its line in :data:`SECTIONS`, its block in
``template.typ``.
"""
from __future__ import annotations

from analysis.report.sections import across_events, answer, appendix, caveats, events, front, robustness, timeline

#: (key in report_data.json, builder), in the order of the JSON file.
SECTIONS = (
    ("title", front.title),
    ("run", front.run),
    ("data_range", front.data_range),
    ("settings", front.settings),
    ("answer", answer.build),
    ("caveats", caveats.build),
    ("timeline", timeline.build),
    ("reading", events.reading_guide),
    ("events", events.build),
    ("compare", across_events.build),
    ("robustness", robustness.build),
    ("methods", appendix.methods),
    ("oversized", events.oversized_appendix),
    ("provenance", appendix.build),
)
