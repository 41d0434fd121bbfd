"""Build ``report.pdf`` from what the notebooks saved, with typst (the PyPI ``typst`` package).

:func:`collect` reads the artifacts of a run folder (:mod:`analysis.report.artifacts`) into
typed :class:`~analysis.report.context.ReportInputs`; :func:`report_data` runs every section
of :data:`analysis.report.sections.SECTIONS` over them and gives one JSON document
(``report_data.json``): every number already formatted (by :mod:`analysis.fmt`), every table
as a small spec (header rows, body rows, column widths and alignment), so the template
(``template.typ``, copied into the run folder as ``report.typ``) only lays things out.
:func:`compile_pdf` runs typst with its embedded fonts only, so the PDF looks the same on every
machine.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd

from analysis.report import artifacts
from analysis.report.context import CompareOutputs, EventOutputs, Headline, ReportInputs, RunContext
from analysis.report.jobs import Job, describe_error
from analysis.report.sections import SECTIONS

TEMPLATE = Path(__file__).resolve().parent / "template.typ"
#: The files the PDF build writes into the run folder.
REPORT_DATA, REPORT_TYP, REPORT_PDF = "report_data.json", "report.typ", "report.pdf"
#: The comparison notebook's name in the configuration (else the first notebook that is not per event).
COMPARE_NOTEBOOK = "compare_events"


def _relative(path: Path | None, root: Path) -> str | None:
    return None if path is None else str(Path(path).resolve().relative_to(root.resolve()))


def _event_info(ev_id: str, catalog_row: dict | None) -> dict:
    """The catalog entry of an event as the PDF shows it (a placeholder for an unknown id)."""
    from analysis import fmt
    from analysis.report.compare import short_title

    if catalog_row is None:
        return {"event_id": ev_id, "title": f"{ev_id} (not in the event catalog)", "short_title": ev_id,
                "kind": "unknown", "announced_at": "", "date": pd.Timestamp("1970-01-01"), "date_text": "—",
                "source": "—"}
    announced = str(catalog_row["announced_at"])
    date = pd.Timestamp(announced[:10])
    return {"event_id": ev_id, "title": catalog_row["title"], "short_title": catalog_row.get("short_title") or short_title(catalog_row["title"]),
            "kind": catalog_row["kind"], "announced_at": announced, "date": date, "date_text": fmt.date_text(date),
            "source": catalog_row["source"]}


def _failed(job: Job | None, missing: str) -> str | None:
    """Why a job has no results: its failure, or ``missing`` when no job ran; None if it ran."""
    if job is None:
        return missing
    return describe_error(job) if job.status == "failed" else None


def collect_event(info: dict, job: Job | None, root: Path) -> EventOutputs:
    """What one event notebook saved in its output folder."""
    status = job.status if job else "not run"
    error = _failed(job, "no notebook ran for this event")
    if error is not None:
        return EventOutputs(info=info, job=job, status=status, error=error)
    out = job.output_dir
    firms, tests = artifacts.read_table(out, artifacts.CAR_BY_FIRM), artifacts.read_table(out, artifacts.GROUP_TESTS)
    if firms is None or tests is None:
        return EventOutputs(info=info, job=job, status="failed",
                            error=f"the notebook ran but did not save {artifacts.CAR_BY_FIRM.files[0]} and "
                                  f"{artifacts.GROUP_TESTS.files[0]} in {out}")
    meta_path = artifacts.META.path(out)
    return EventOutputs(
        info=info, job=job, status=status, firms=firms, tests=tests,
        volume=artifacts.read_table(out, artifacts.VOLUME_TESTS),
        robust=artifacts.read_table(out, artifacts.ROBUSTNESS),
        robust_firms=artifacts.read_table(out, artifacts.ROBUSTNESS_FIRMS),
        meta=artifacts.read_json(meta_path) if meta_path.is_file() else {},
        figure=_relative(artifacts.find_figure(out, artifacts.CAR_PATH), root),
        price_figure=_relative(artifacts.find_figure(out, artifacts.PRICE_PATH), root),
        exposure_figure=_relative(artifacts.find_figure(out, artifacts.EXPOSURE_SCATTER), root))


def collect_compare(job: Job | None, root: Path) -> CompareOutputs:
    """What the comparison notebook saved."""
    status = job.status if job else "not run"
    error = _failed(job, "no comparison notebook in the configuration")
    if error is not None:
        return CompareOutputs(job=job, status=status, error=error)
    out = job.output_dir
    moved = artifacts.read_table(out, artifacts.GROUP_BY_EVENT)
    if moved is not None and len(moved):
        moved["date"] = pd.to_datetime(moved["date"])
    figures = {a.name: _relative(artifacts.find_figure(out, a), root)
               for a in (artifacts.HEATMAP, artifacts.GROUPS_BY_EVENT, artifacts.REACTION_TIMELINE)}
    return CompareOutputs(job=job, status=status, moved=moved,
                          kinds=artifacts.read_table(out, artifacts.KIND_COMPARISON),
                          years=artifacts.read_table(out, artifacts.YEAR_COMPARISON),
                          tvs=artifacts.read_table(out, artifacts.TARGETS_VS_SUPPLIERS), figures=figures)


def headline_of(ctx: RunContext, universe: pd.DataFrame) -> Headline:
    """The configured primary comparison, its firm's name from the universe when the configuration has none."""
    h = dict(ctx.cfg.primary)
    name = h.get("name")
    if not name:
        hit = universe[universe["symbol"] == h["symbol"]]
        name = hit["name"].iloc[0] if len(hit) else h["symbol"]
    return Headline(symbol=h["symbol"], name=name, window=h["window"], test=h["test"])


def collect(run_dir: Path, ctx: RunContext) -> ReportInputs:
    """Read everything the notebooks of the run saved."""
    from analysis.data import catalog as catalog_mod

    universe = catalog_mod.load_universe()
    by_id = ctx.catalog.set_index("event_id")
    ev_jobs = {j.event_id: j for j in ctx.jobs if j.event_id is not None}
    cmp_jobs = [j for j in ctx.jobs if j.event_id is None]
    cmp_job = next((j for j in cmp_jobs if j.name == COMPARE_NOTEBOOK), cmp_jobs[0] if cmp_jobs else None)
    events = []
    for ev_id in ctx.event_ids:
        row = by_id.loc[ev_id].to_dict() if ev_id in by_id.index else None
        events.append(collect_event(_event_info(ev_id, row), ev_jobs.get(ev_id), run_dir))
    return ReportInputs(run=ctx, root=run_dir, headline=headline_of(ctx, universe),
                        main_model=str(ctx.cfg.parameters.get("model", "market")), universe=universe,
                        events=events, compare=collect_compare(cmp_job, run_dir))


def report_data(inputs: ReportInputs) -> dict:
    """Everything the template shows, as JSON-ready data: one key per section."""
    return {key: build(inputs) for key, build in SECTIONS}


def compile_pdf(run_dir: Path) -> int:
    """Compile ``run_dir/report.typ`` (reading ``report_data.json``) to ``report.pdf``; returns the page count."""
    import typst

    compiler = typst.Compiler(str(run_dir / REPORT_TYP), root=str(run_dir), ignore_system_fonts=True,
                              sys_inputs={"data": REPORT_DATA})
    tmp = run_dir / f".{REPORT_PDF}.tmp"
    compiler.compile(output=str(tmp), format="pdf")
    tmp.replace(run_dir / REPORT_PDF)
    return int(json.loads(compiler.query("<page-count>", field="value", one=True)))


def build_report(run_dir: Path, ctx: RunContext) -> int:
    """Write report_data.json and report.typ into ``run_dir`` and build report.pdf; returns the page count."""
    data = report_data(collect(run_dir, ctx))
    artifacts.write_json(data, run_dir / REPORT_DATA)
    shutil.copyfile(TEMPLATE, run_dir / REPORT_TYP)
    return compile_pdf(run_dir)
