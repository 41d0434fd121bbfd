"""``python -m analysis report``: run the notebooks with papermill, write HTML copies, build the PDF.

Steps of a run (``reports/<run-id>/``):

1. read the configuration (:mod:`analysis.report.config`), apply the command line;
2. load every price series once (Yahoo with its cache, or a folder of recorded CSVs), record
   source and SHA-256 per symbol, and hand the frames to the notebooks as a snapshot;
3. fit the whole study once (one StudySpec, plus the robustness runs) into ``study/``: the CSV
   set and the results the notebooks view (:func:`analysis.report.study_set.compute_study`);
   one job per (notebook, event) and one per cross-event notebook; a job whose inputs are
   unchanged since ``reports/latest`` (same notebook, parameters, price files, code and package
   versions) is copied from there instead of executed; the others run with papermill, ``workers``
   at a time, into ``notebooks/<job>.ipynb`` plus an HTML copy without inputs;
4. build ``report.pdf`` with typst from what the notebooks saved (a failed notebook is listed in
   the PDF's appendix, the other events still appear);
5. only when every notebook and the PDF succeeded: switch ``reports/latest`` to this run
   (a temporary symlink renamed over the old one) and exit 0. Otherwise exit 1 and leave
   ``latest`` on the last good run; the error names the notebook and the cell.

One line per notebook with its time goes to stderr (and ``run.log``).
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

from analysis.errors import UserError
from analysis.safe_text import terminal_text
from analysis.report.folders import (TMP_PREFIX, WRITTEN_BY, RemoveOnSignal, is_run_id, make_run_dir, prune_runs,
                                     remove_stale_temp)
from analysis.report import provenance as prov
from analysis.report.config import apply_overrides, check_symbols, load_config
from analysis.report.jobs import Workers, build_jobs, describe_error
from analysis.report.price_inputs import load_prices, resolve_factors
from analysis.report.reuse import fingerprint, job_files, previous_jobs, reuse, run_fingerprint, unchanged_run
from analysis.report.study_set import compute_study, day0_lines, link_study

def default_run_id(now: datetime | None = None) -> str:
    """UTC timestamp such as ``20261122T031500Z``."""
    return (now or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%SZ")


class _Log:
    """Progress lines on stdout, errors on stderr; both kept for run.log; all without terminal
    control characters (a notebook's error may quote a title)."""

    def __init__(self):
        self.lines: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, text: str) -> None:
        with self.lock:
            text = terminal_text(text)
            self.lines.append(text)
            print(text, file=sys.stdout, flush=True)

    def error(self, text: str) -> None:
        with self.lock:
            text = terminal_text(text)
            self.lines.append(text)
            print(text, file=sys.stderr, flush=True)


class _Background:
    """``fn(*args)`` in a daemon thread; :meth:`result` waits and returns it (or raises its error)."""

    def __init__(self, fn, *args):
        self.value, self.error = None, None
        self.thread = threading.Thread(target=self._run, args=(fn, args), daemon=True)
        self.thread.start()

    def _run(self, fn, args):
        try:
            self.value = fn(*args)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            self.error = exc

    def result(self):
        self.thread.join()
        if self.error is not None:
            raise self.error
        return self.value


#: What building the PDF imports, loaded in the background while the notebooks run.
PDF_MODULES = ("analysis.report.pdf", "analysis.report.event", "analysis.report.compare", "analysis.report.answer_rows",
               "matplotlib.figure", "matplotlib.backends.backend_svg", "typst")


def _import_modules(names) -> None:
    import importlib

    for name in names:
        importlib.import_module(name)


# --------------------------------------------------------------------------- latest


def check_latest(reports_dir: Path) -> None:
    """Before a run starts: ``reports_dir/latest`` must be absent or a symlink (the pipeline's)."""
    latest = reports_dir / "latest"
    if latest.exists() and not latest.is_symlink():
        raise UserError(f"{latest} exists and is not a symlink; move it away so the pipeline can manage it")


def switch_latest(reports_dir: Path, run_id: str) -> Path:
    """Point ``reports_dir/latest`` at ``run_id`` atomically (temp symlink, then os.replace)."""
    latest = reports_dir / "latest"
    if latest.exists() and not latest.is_symlink():
        raise UserError(f"{latest} exists and is not a symlink; move it away so the pipeline can manage it")
    tmp = reports_dir / f".latest.{os.getpid()}.{threading.get_ident()}.tmp"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    os.symlink(run_id, tmp)
    os.replace(tmp, latest)
    return latest


# --------------------------------------------------------------------------- the run


def unchanged_recorded_prices(cfg, reports: Path, run_dir: Path, event_ids) -> tuple[str, int] | None:
    """(the last good run's id, number of price files) when nothing changed since it, decided from
    the SHA-256 of the recorded price files alone, before any price is parsed; None when this
    cannot be told so cheaply (prices from Yahoo, no factor file configured (it may be
    downloaded), reuse off, a price file missing, no earlier run) or something changed: then the
    run loads the prices and checks again. The fingerprints are the ones the full check computes
    (:func:`~analysis.report.reuse.fingerprint` reads only the files' SHA-256 of prices that exist)."""
    if cfg.prices is None or cfg.factors is None or not cfg.reuse or previous_jobs(reports)[0] is None:
        return None
    from analysis.data import catalog
    from analysis.data import prices as prices_mod

    uni = catalog.load_universe()
    symbols = list(dict.fromkeys(list(uni["symbol"]) + list(uni["benchmark"])))
    source = prices_mod.get_source(str(cfg.prices))
    rows = []
    for sym in symbols:
        try:
            digest = source.describe(sym).get("sha256")
        except Exception:  # noqa: BLE001 - a missing or unreadable file: the full check says what happened
            return None
        if not digest:
            return None
        rows.append({"symbol": sym, "sha256": digest})
    try:
        jobs = build_jobs(cfg, run_dir, event_ids, None)
    except UserError:
        return None  # the full run reports it
    code_fp, env_fp = prov.code_fingerprint(), prov.environment_fingerprint()
    for job in jobs:
        job.fingerprint = fingerprint(job, rows, cfg.factors, code_fp, env_fp)
    same = unchanged_run(reports, run_fingerprint(cfg, jobs, code_fp, env_fp))
    return (same, len(rows)) if same is not None else None


def run_pipeline(prices=None, config=None, run_id=None, reports_dir=None, events=None, refresh=False,
                 factors=None) -> int:
    """Run the report pipeline; returns the exit code (0 only when everything succeeded)."""
    t_start = time.monotonic()
    started = datetime.now(timezone.utc)
    log = _Log()
    cfg = apply_overrides(load_config(config), prices=prices, events=events, reports_dir=reports_dir,
                          refresh=refresh, factors=factors)
    chosen = bool(run_id)
    run_id = run_id or default_run_id(started)
    if not is_run_id(run_id):
        raise UserError(f"bad run id {run_id!r}: letters, digits, '.', '_' and '-' only (and not 'latest')")
    reports = cfg.reports_dir
    run_dir = reports / run_id
    if chosen and run_dir.exists():
        raise UserError(f"run folder {run_dir} already exists: pass another --run-id")
    check_latest(reports)

    from analysis.data import catalog

    catalog_events = catalog.load_events()
    check_symbols(cfg, catalog.load_universe()["symbol"])
    if events:  # typed on the command line: check now, before anything runs
        catalog.select_events(catalog_events, list(events))
    known = list(catalog_events["event_id"])
    if cfg.events is None:
        event_ids = known
    else:  # catalog order; ids the catalog lacks run too (their notebook fails and says why)
        event_ids = [e for e in known if e in cfg.events] + [e for e in cfg.events if e not in known]

    # Importing papermill pulls in jsonschema, which compiles an RFC 3987 grammar at import
    # when the optional rfc3987_syntax package is present (~3 s). Notebook validation never
    # checks IRI formats, so the pipeline process does without it.
    if "jsonschema" not in sys.modules:
        sys.modules.setdefault("rfc3987_syntax", None)

    if not chosen and not refresh:
        same = unchanged_recorded_prices(cfg, reports, reports / run_id, event_ids)
        if same is not None:  # nothing changed: the last good run is this run, by reference
            log(f"prices: the {same[1]} recorded files of {cfg.prices} are those of run {same[0]} (SHA-256)")
            log(f"nothing changed since run {same[0]} (notebooks, parameters, prices, factors, code, versions): "
                f"{reports / 'latest'} still points to it; no new run folder "
                f"({time.monotonic() - t_start:.1f} s; --refresh or --run-id ID runs again)")
            return 0
    run_id, run_dir = make_run_dir(reports, run_id, chosen)
    n_event_nbs = sum(1 for s in cfg.notebooks if s.per_event)
    n_jobs = n_event_nbs * len(event_ids) + sum(1 for s in cfg.notebooks if not s.per_event)
    log(f"report {run_id}: {n_jobs} notebooks ({len(event_ids)} events) with {cfg.workers} workers "
        f"-> {run_dir}  (config {cfg.path})")

    remove_stale_temp()
    tmp_dir = Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{os.getpid()}-"))
    cleanup = RemoveOnSignal(tmp_dir).__enter__()  # SIGTERM too: the folder goes, whatever ends the run
    workers = None
    if refresh or not cfg.reuse or previous_jobs(reports)[0] is None:
        # every notebook will run: start the kernels now, they import while the prices load
        workers = Workers(min(cfg.workers, n_jobs), run_dir / "logs", cfg.notebooks[0].path.parent,
                          cfg.timeout).start()
    try:
        try:
            # the factor download (network, retries) runs beside the price loading and the day-0 check
            factor_lines: list[str] = []
            factor_thread = _Background(resolve_factors, cfg, factor_lines.append)
            source, frames, errors, price_rows, price_note = load_prices(cfg, refresh, log)
            from analysis.report.snapshot import write_snapshot

            snapshot = write_snapshot(tmp_dir / "prices.parquet", frames, errors,
                                      {r["symbol"]: {"source": r["source"], "path": r["path"], "sha256": r["sha256"]}
                                       for r in price_rows}, origin=str(cfg.prices or "Yahoo Finance"))
            cfg = factor_thread.result()
            for line in factor_lines:
                log(line)
            jobs = build_jobs(cfg, run_dir, event_ids, snapshot)
        except UserError:  # nothing ran: leave no empty run folder behind
            if workers is not None:
                workers.close()
                workers = None
            shutil.rmtree(run_dir, ignore_errors=True)
            raise
        code_fp, env_fp = prov.code_fingerprint(), prov.environment_fingerprint()
        for job in jobs:
            job.fingerprint = fingerprint(job, price_rows, cfg.factors, code_fp, env_fp)
        run_fp = run_fingerprint(cfg, jobs, code_fp, env_fp)
        same = unchanged_run(reports, run_fp) if cfg.reuse and not chosen else None
        if same is not None:  # nothing changed: the last good run is this run, by reference
            shutil.rmtree(run_dir, ignore_errors=True)
            log(f"nothing changed since run {same} (notebooks, parameters, prices, factors, code, versions): "
                f"{reports / 'latest'} still points to it; no new run folder "
                f"({time.monotonic() - t_start:.1f} s; --refresh or --run-id ID runs again)")
            return 0

        prev_id, prev_dir, prev_jobs = previous_jobs(reports) if cfg.reuse else (None, None, {})
        todo, done = [], 0
        for job in jobs:
            prev = prev_jobs.get(job.slug)
            if prev and prev.get("fingerprint") == job.fingerprint and reuse(job, prev_id, prev_dir, prev):
                done += 1
                log(f"[{done}/{len(jobs)}] {job.label:<45} reused   (unchanged since run {job.reused_from})")
            else:
                todo.append(job)
        # Longest first: the cross-event notebooks study every event, so they start first.
        todo.sort(key=lambda j: j.event_id is not None)
        # The PDF's modules import while the study is fitted and the notebooks run.
        preload = _Background(_import_modules, PDF_MODULES)
        if todo and workers is None:
            # the kernels start (and import) while the study is fitted: they wait for it anyway
            workers = Workers(min(cfg.workers, len(todo)), run_dir / "logs", todo[0].notebook.parent,
                              cfg.timeout).start()
        t_study = time.monotonic()
        if todo:  # the whole study once; the notebooks are views of it
            try:
                study_note = compute_study(cfg, run_dir, event_ids, snapshot)
            except UserError as exc:  # the notebooks fail and say so; the PDF lists them
                study_note = f"could not be fitted: {exc}"
                log.error(f"error: the study {study_note}")
        else:  # every notebook reused: so is the study (hard links, no copy)
            study_note = link_study(prev_dir, run_dir)
        study_seconds = time.monotonic() - t_study
        log(f"study: {study_note} ({study_seconds:.1f} s)")
        t_nb = time.monotonic()
        if todo:
            def finished(job):
                nonlocal done
                done += 1
                word = "ok" if job.status == "ok" else "FAILED"
                log(f"[{done}/{len(jobs)}] {job.label:<45} {word:<8} {job.seconds:6.1f} s")
                for text in job.stderr:  # warnings, progress: here, never in the stakeholders' HTML copy
                    lines = text.splitlines()
                    log(f"    {job.label} stderr: {lines[-1][:200]}"
                        + (f" (+{len(lines) - 1} earlier lines in {job.executed.name})" if len(lines) > 1 else ""))

            workers.run(todo, finished)
        if workers is not None:
            workers.close()
            workers = None
        notebooks_seconds = time.monotonic() - t_nb
        failed = [j for j in jobs if j.status == "failed"]
        for job in failed:
            log.error(f"error: {describe_error(job)}")
        for line in day0_lines(run_dir):
            log(line)

        preload.result()
        from analysis.report import pdf
        from analysis.report.context import RunContext

        pdf_ok, pdf_error, pages = True, None, 0
        t_pdf = time.monotonic()
        context = RunContext(
            run_id=run_id, started=started, cfg=cfg, jobs=jobs, catalog=catalog_events, event_ids=event_ids,
            price_rows=price_rows, price_note=price_note, price_errors=errors,
            elapsed_before_pdf=time.monotonic() - t_start, notebooks_seconds=notebooks_seconds,
            failed=[describe_error(j) for j in failed])
        try:
            pages = pdf.build_report(run_dir, context)
            log(f"pdf: {run_dir / 'report.pdf'} ({pages} pages, {time.monotonic() - t_pdf:.1f} s)")
        except Exception as exc:  # noqa: BLE001 - report and fail the run
            pdf_ok, pdf_error = False, f"{type(exc).__name__}: {' '.join(str(exc).split())}"
            log.error(f"error: the PDF could not be built: {pdf_error}")

        ok = not failed and pdf_ok
        total = time.monotonic() - t_start
        manifest = {
            "written_by": WRITTEN_BY, "run_id": run_id, "status": "ok" if ok else "failed", "started": started.isoformat(),
            "seconds": round(total, 2), "notebooks_seconds": round(notebooks_seconds, 2),
            "study_seconds": round(study_seconds, 2), "run_fingerprint": run_fp, "config": str(cfg.path),
            "prices": str(cfg.prices) if cfg.prices else "yahoo", "events": event_ids, "pdf_pages": pages,
            "pdf_error": pdf_error, "jobs": [j.record(run_dir) | {"files": job_files(j, run_dir)} for j in jobs],
            "failures": [describe_error(j) for j in failed],
        }
        prov_path = run_dir / "provenance.json"
        prov_path.write_text(json.dumps({"prices": price_rows, "versions": prov.versions(), "git": prov.git_state()},
                                        indent=1, default=str), encoding="utf-8")
        (run_dir / "manifest.json").write_text(json.dumps(manifest, indent=1, default=str), encoding="utf-8")
        if ok:
            switch_latest(reports, run_id)
            log(f"done in {total:.1f} s: {reports / 'latest'} -> {run_id}")
        else:
            kept = os.readlink(reports / "latest") if (reports / "latest").is_symlink() else "none"
            log.error(f"run failed after {total:.1f} s: {len(failed)} notebook(s) failed"
                      + ("" if pdf_ok else ", the PDF could not be built")
                      + f"; {reports / 'latest'} still points to the last good run ({kept})")
        removed = prune_runs(reports, cfg.keep, current=run_id)
        if removed:
            log(f"removed {len(removed)} old run(s) (keep: {cfg.keep}): {', '.join(removed)}")
        (run_dir / "run.log").write_text("\n".join(log.lines) + "\n", encoding="utf-8")
        return 0 if ok else 1
    finally:
        if workers is not None:
            workers.close()
        cleanup.__exit__(None, None, None)
