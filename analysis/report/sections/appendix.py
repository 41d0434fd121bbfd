"""PDF appendix "Provenance and run log": failures, the run, notebooks, skipped firm-events,
price inputs with their SHA-256, software versions (template block ``data.provenance``)."""
from __future__ import annotations

from pathlib import Path

from analysis.report import provenance as prov
from analysis.report.context import ReportInputs
from analysis.report.typst_tables import cell, table


def prices_table(price_rows: list[dict]) -> dict:
    rows = []
    for r in price_rows:
        rows.append([cell(r["symbol"], align="left", mono=True), cell(r.get("source") or "", align="left"),
                     cell(r.get("first") or "—"), cell(r.get("last") or "—"), cell(str(r.get("rows") or 0)),
                     cell(r.get("sha256") or "(no file)", sub=r.get("path") or r.get("error") or "", align="left",
                          mono=True)])
    return table(["1.8cm", "1.1cm", "1.7cm", "1.7cm", "1cm", "1fr"], ["left", "left", "right", "right", "right", "left"],
                 [[cell("Symbol", align="left"), cell("Source", align="left"), cell("First"), cell("Last"),
                   cell("Rows"), cell("SHA-256 of the input file, and its path", align="left")]], rows,
                 caption="Price inputs", size="7pt")


def versions_table() -> dict:
    vrows = [[cell(k, align="left"), cell(v, align="left")] for k, v in prov.versions().items()]
    return table(["4cm", "1fr"], ["left", "left"], [[cell("Software", align="left"), cell("Version", align="left")]],
                 vrows, caption="Software versions", size="8pt")


def notebooks_table(inputs: ReportInputs) -> dict:
    root = inputs.root
    jobs = []
    for j in inputs.run.jobs:
        status = {"ok": "executed", "reused": f"reused from {j.reused_from}", "failed": "FAILED"}.get(j.status, j.status)
        html = str(Path(j.html).resolve().relative_to(root.resolve())) if j.html.is_file() else "—"
        jobs.append([cell(j.name, align="left"), cell(j.event_id or "all events", align="left"),
                     cell(status, align="left"), cell(f"{j.seconds:.1f}" if j.status != "reused" else "—"),
                     cell(html, align="left", mono=True)])
    return table(["2.6cm", "3.6cm", "3.4cm", "1.2cm", "1fr"], ["left", "left", "left", "right", "left"],
                 [[cell("Notebook", align="left"), cell("Event", align="left"), cell("Status", align="left"),
                   cell("Seconds"), cell("HTML copy", align="left")]], jobs, caption="Notebook runs", size="7.5pt")


def skipped_table(inputs: ReportInputs) -> dict | None:
    """Firm-events the notebooks skipped and symbols without prices (None if there are none)."""
    skipped = []
    for event in inputs.studied:
        for s in event.meta.get("skipped", []):
            skipped.append([cell(event.event_id, align="left"), cell(s["symbol"], align="left", mono=True),
                            cell(s["reason"], align="left")])
    for sym, err in inputs.run.price_errors.items():
        skipped.append([cell("all events", align="left"), cell(sym, align="left", mono=True),
                        cell(f"prices not loaded: {err}", align="left")])
    if not skipped:
        return None
    return table(["3.6cm", "1.8cm", "1fr"], ["left", "left", "left"],
                 [[cell("Event", align="left"), cell("Symbol", align="left"), cell("Why", align="left")]],
                 skipped, caption="Skipped firm-events", size="8pt")


def build(inputs: ReportInputs) -> dict:
    run = inputs.run
    cfg = run.cfg
    config_sha = prov.sha256_file(cfg.path) if Path(cfg.path).is_file() else None
    return {
        "prices_table": prices_table(run.price_rows), "versions_table": versions_table(),
        "notebooks_table": notebooks_table(inputs), "skipped_table": skipped_table(inputs),
        "git": prov.git_state()["describe"], "price_note": run.price_note,
        "config": f"{cfg.path} (SHA-256 {config_sha})" if config_sha else str(cfg.path),
        "failures": run.failed,
        "factors": (f"{cfg.factors} (SHA-256 {prov.sha256_file(cfg.factors)})" if cfg.factors and cfg.factors.is_file()
                    else f"{cfg.factors} (not found: factor-model robustness left out)" if cfg.factors else "none configured"),
    }
