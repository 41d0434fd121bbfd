"""``python -m analysis report``: run the notebooks with papermill, write HTML copies, build the PDF.

Steps of a run (``reports/<run-id>/``):

1. read the configuration (:mod:`analysis.report.config`), apply the command line;
2. load every price series once (Yahoo with its cache, or a folder of recorded CSVs), record
   source and SHA-256 per symbol, and hand the frames to the notebooks as a snapshot;
3. one job per (notebook, event) and one per cross-event notebook; a job whose inputs are
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
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, replace
from datetime import date, datetime, timezone
from pathlib import Path

import numpy as np

from analysis.errors import UserError, os_error
from analysis.paths import cache_dir
from analysis.report import provenance as prov
from analysis.report.config import REPO, Config, apply_overrides, load_config
from analysis.report.jobs import Job, NotebookFailure, describe_error, execute

DEFAULT_CACHE = cache_dir()
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
#: Parameters that do not change a notebook's results (left out of its fingerprint).
_NOT_IN_FINGERPRINT = {"output_dir", "price_snapshot", "progress", "prices", "factors"}


def default_run_id(now: datetime | None = None) -> str:
    """UTC timestamp such as ``20261122T031500Z``."""
    return (now or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%SZ")


class _Log:
    """Progress lines on stderr, also kept for run.log."""

    def __init__(self):
        self.lines: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, text: str) -> None:
        with self.lock:
            self.lines.append(text)
            print(text, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- prices


def _load_prices(cfg: Config, refresh: bool, log: _Log):
    """Every universe symbol and benchmark, once: (source, frames, errors, provenance rows, note)."""
    from analysis.data import catalog
    from analysis.data import prices as prices_mod

    uni = catalog.load_universe()
    symbols = list(dict.fromkeys(list(uni["symbol"]) + list(uni["benchmark"])))
    source = prices_mod.get_source(str(cfg.prices) if cfg.prices else None, cache_dir=str(DEFAULT_CACHE),
                                   refresh=refresh)
    before = {}
    if cfg.prices is None:
        for sym in symbols:
            path = source.cache_path(sym)
            before[sym] = prov.sha256_file(path) if path.is_file() else None
    t0 = time.monotonic()
    frames, errors = prices_mod.load_prices(source, symbols, progress=sys.stderr.isatty())
    rows = prov.price_provenance(source, frames, errors, symbols)
    secs = time.monotonic() - t0
    if not frames:
        first = next(iter(errors.values()), "no symbols")
        raise UserError(f"no prices could be loaded ({len(errors)} symbols failed; first: {first})")
    if cfg.prices is None:
        after = {r["symbol"]: r.get("sha256") for r in rows}
        reused = sum(1 for s in symbols if before.get(s) and before[s] == after.get(s))
        fetched = sum(1 for s in symbols if s in frames) - reused
        note = (f"{len(frames)} of {len(symbols)} series from Yahoo Finance via the cache {DEFAULT_CACHE}: "
                f"{reused} reused unchanged, {fetched} downloaded or updated ({secs:.1f} s)")
    else:
        note = (f"{len(frames)} of {len(symbols)} series read from the recorded CSV folder {cfg.prices} "
                f"({secs:.1f} s), once for every notebook")
    if errors:
        note += f"; {len(errors)} could not be loaded: " + "; ".join(f"{s}: {e}" for s, e in errors.items())
    log(f"prices: {note}")
    return source, frames, errors, rows, note


def _log_day0(frames, errors, event_ids, log) -> None:
    """Print day 0 and the day-0 return of every security for each event (a quick check)."""
    from analysis.data import catalog
    from analysis.study import EventStudy

    events = catalog.load_events()
    events = events[events["event_id"].isin(event_ids)]
    if events.empty:
        return
    table = EventStudy(events=events, prices=frames, placebo_draws=0).day0_table(frames, errors)
    log("day 0 and day-0 return (simple, adjusted close) per event and security:")
    for ev, rows in table.groupby("event_id", sort=False):
        cells = []
        for r in rows.itertuples(index=False):
            ret = "" if not isinstance(r.day0, date) or not np.isfinite(r.day0_return) else f" {100 * r.day0_return:+.2f}%"
            day = r.day0.isoformat() if isinstance(r.day0, date) else "-"
            cells.append(f"{r.symbol} {day}{ret}{' (' + r.note + ')' if r.note else ''}")
        log(f"  {ev}: " + "; ".join(cells))


def _resolve_factors(cfg: Config, log: _Log) -> Config:
    """With no factor file configured, download French's daily 3 factors (cached) when a notebook
    runs a factor model; offline, point at the missing cache file so the PDF and the notebooks
    say the ff3 robustness is left out."""
    if cfg.factors is not None:
        return cfg
    wanted = [cfg.parameters] + [s.parameters for s in cfg.notebooks]
    models = {m for p in wanted for m in [p.get("model")] + list(p.get("robustness_models") or [])}
    if not models & {"ff3", "carhart"}:
        return cfg
    from analysis.data.factors import THREE_FACTORS, FrenchLibrary

    library = FrenchLibrary(cache_dir=DEFAULT_CACHE)
    try:
        path = library.fetch(THREE_FACTORS)
        log(f"factors: {path}")
    except UserError as exc:
        path = library.path(THREE_FACTORS)
        log(f"factors: {exc}; the factor-model robustness is left out")
    return replace(cfg, factors=path)


def _make_run_dir(reports: Path, run_id: str, chosen: bool) -> tuple[str, Path]:
    """Create ``reports/<run_id>`` (and ``reports``); without a chosen id a run started in the same
    second gets ``-2``, ``-3``, ... One-line errors: exit 2 for a folder that exists, is a file or is
    read-only, exit 1 for a full disk."""
    if reports.exists() and not reports.is_dir():
        raise UserError(f"--reports-dir {reports}: is a file, not a folder")
    try:
        reports.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise os_error(exc, f"cannot create the reports folder {reports}") from None
    base = run_id
    for n in range(1, 100):
        run_dir = reports / run_id
        try:
            run_dir.mkdir()
            return run_id, run_dir
        except FileExistsError:
            if chosen:
                raise UserError(f"run folder {run_dir} already exists: pass another --run-id") from None
            run_id = f"{base}-{n + 1}"
        except OSError as exc:
            raise os_error(exc, f"cannot create the run folder {run_dir}") from None
    raise UserError(f"too many runs named {base}* in {reports}: pass --run-id")


_TMP_PREFIX = "report-prices-"


def _remove_stale_temp() -> None:
    """Remove ``report-prices-<pid>-*`` folders of runs whose process is gone (killed with -9)."""
    for folder in Path(tempfile.gettempdir()).glob(f"{_TMP_PREFIX}*-*"):
        m = re.match(rf"{_TMP_PREFIX}(\d+)-", folder.name)
        if not m or int(m.group(1)) == os.getpid():
            continue
        try:
            os.kill(int(m.group(1)), 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except OSError:
            pass


class _RemoveOnSignal:
    """Remove a temporary folder when SIGTERM/SIGHUP ends the run, then end as that signal would."""

    SIGNALS = tuple(s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)) if s)

    def __init__(self, folder: Path):
        self.folder, self.previous = folder, {}

    def _handle(self, signum, frame):
        shutil.rmtree(self.folder, ignore_errors=True)
        signal.signal(signum, self.previous.get(signum) or signal.SIG_DFL)
        os.kill(os.getpid(), signum)

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self.previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc):
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
        shutil.rmtree(self.folder, ignore_errors=True)
        return False


# --------------------------------------------------------------------------- jobs


def _declared_parameters(path: Path) -> dict:
    import papermill as pm

    return pm.inspect_notebook(str(path))


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", str(text))[:80]


def _build_jobs(cfg: Config, run_dir: Path, event_ids: list[str], snapshot: Path | None) -> list[Job]:
    jobs = []
    for spec in cfg.notebooks:
        declared = _declared_parameters(spec.path)
        unknown = sorted(set(spec.parameters) - set(declared))
        if unknown:
            raise UserError(f"{cfg.path}: notebook '{spec.name}' ({spec.path}) has no parameter '{unknown[0]}' "
                            f"(its parameters: {', '.join(declared)})")
        if spec.per_event and "event_id" not in declared:
            raise UserError(f"{cfg.path}: notebook '{spec.name}' is per_event but declares no event_id parameter")
        base = {k: v for k, v in cfg.parameters.items() if k in declared}
        base.update(spec.parameters)
        auto = {
            "prices": str(cfg.prices) if cfg.prices else None,
            "factors": str(cfg.factors) if cfg.factors else None,
            "price_snapshot": str(snapshot) if snapshot else None,
            "progress": False,
            "headline_window": cfg.headline["window"],
            "headline_symbols": [cfg.headline["symbol"]],
        }
        if not spec.per_event and cfg.events is not None:
            auto["event_ids"] = list(event_ids)
        for k, v in auto.items():
            if k in declared and k not in spec.parameters:
                base[k] = v
        runs = [(e, f"{spec.name}-{_safe(e)}") for e in event_ids] if spec.per_event else [(None, spec.name)]
        for event_id, slug in runs:
            params = dict(base)
            if event_id is not None:
                params["event_id"] = event_id
            out = run_dir / ("events" if event_id is not None else "") / (_safe(event_id) if event_id else slug)
            params["output_dir"] = str(out)
            jobs.append(Job(name=spec.name, slug=slug, notebook=spec.path, event_id=event_id, parameters=params,
                            output_dir=out, executed=run_dir / "notebooks" / f"{slug}.ipynb",
                            html=run_dir / "notebooks" / f"{slug}.html",
                            kernel_log=run_dir / "logs" / f"{slug}.kernel.log"))
    return jobs


def _fingerprint(job: Job, price_rows: list[dict], factors: Path | None, code_fp: str, env_fp: str) -> str:
    params = {k: v for k, v in job.parameters.items() if k not in _NOT_IN_FINGERPRINT}
    payload = {
        "notebook": prov.sha256_file(job.notebook),
        "parameters": params,
        "prices": {r["symbol"]: r.get("sha256") or [r.get("first"), r.get("last"), r.get("rows")]
                   for r in price_rows},
        "factors": prov.sha256_file(factors) if factors and factors.is_file() else None,
        "factors_used": "factors" in job.parameters,
        "code": code_fp,
        "environment": env_fp,
    }
    return prov.sha256_text(json.dumps(payload, sort_keys=True, default=str))


def _previous_jobs(reports_dir: Path) -> tuple[str | None, Path | None, dict]:
    latest = reports_dir / "latest"
    try:
        target = latest.resolve(strict=True)
        manifest = json.loads((target / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None, None, {}
    jobs = {j["slug"]: j for j in manifest.get("jobs", []) if j.get("status") in ("ok", "reused")}
    return manifest.get("run_id"), target, jobs


def _reuse(job: Job, prev_id: str, prev_dir: Path, prev: dict) -> bool:
    """Copy a previous run's outputs of an unchanged job; False if anything is missing."""
    try:
        src_out = prev_dir / prev["output_dir"]
        src_nb = prev_dir / prev["executed"]
        src_html = prev_dir / prev["html"]
        if not (src_out.is_dir() and src_nb.is_file() and src_html.is_file()):
            return False
        shutil.copytree(src_out, job.output_dir, dirs_exist_ok=True)
        job.executed.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src_nb, job.executed)
        shutil.copy2(src_html, job.html)
    except (OSError, KeyError, shutil.Error):
        shutil.rmtree(job.output_dir, ignore_errors=True)
        return False
    job.status = "reused"
    job.reused_from = prev.get("reused_from") or prev_id
    return True


# --------------------------------------------------------------------------- latest


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
    if not _RUN_ID.match(run_id) or run_id == "latest":
        raise UserError(f"bad run id '{run_id}': letters, digits, '.', '_' and '-' only (and not 'latest')")
    reports = cfg.reports_dir
    run_dir = reports / run_id
    if chosen and run_dir.exists():
        raise UserError(f"run folder {run_dir} already exists: pass another --run-id")

    from analysis.data import catalog

    catalog_events = catalog.load_events()
    if events:  # typed on the command line: check now, before anything runs
        catalog.select_events(catalog_events, list(events))
    known = list(catalog_events["event_id"])
    if cfg.events is None:
        event_ids = known
    else:  # catalog order; ids the catalog lacks run too (their notebook fails and says why)
        event_ids = [e for e in known if e in cfg.events] + [e for e in cfg.events if e not in known]

    run_id, run_dir = _make_run_dir(reports, run_id, chosen)
    n_event_nbs = sum(1 for s in cfg.notebooks if s.per_event)
    n_jobs = n_event_nbs * len(event_ids) + sum(1 for s in cfg.notebooks if not s.per_event)
    log(f"report {run_id}: {n_jobs} notebooks ({len(event_ids)} events) with {cfg.workers} workers "
        f"-> {run_dir}  (config {cfg.path})")

    # Importing papermill pulls in jsonschema, which compiles an RFC 3987 grammar at import
    # when the optional rfc3987_syntax package is present (~3 s). Notebook validation never
    # checks IRI formats, so the pipeline process does without it.
    if "jsonschema" not in sys.modules:
        sys.modules.setdefault("rfc3987_syntax", None)

    _remove_stale_temp()
    tmp_dir = Path(tempfile.mkdtemp(prefix=f"{_TMP_PREFIX}{os.getpid()}-"))
    cleanup = _RemoveOnSignal(tmp_dir).__enter__()  # SIGTERM too: the folder goes, whatever ends the run
    try:
        try:
            source, frames, errors, price_rows, price_note = _load_prices(cfg, refresh, log)
            cfg = _resolve_factors(cfg, log)
            _log_day0(frames, errors, event_ids, log)
            from analysis.report.snapshot import write_snapshot

            snapshot = write_snapshot(tmp_dir / "prices.parquet", frames, errors,
                                      {r["symbol"]: {"source": r["source"], "path": r["path"], "sha256": r["sha256"]}
                                       for r in price_rows}, origin=str(cfg.prices or "Yahoo Finance"))
            jobs = _build_jobs(cfg, run_dir, event_ids, snapshot)
        except UserError:  # nothing ran: leave no empty run folder behind
            shutil.rmtree(run_dir, ignore_errors=True)
            raise
        code_fp, env_fp = prov.code_fingerprint(), prov.environment_fingerprint()
        for job in jobs:
            job.fingerprint = _fingerprint(job, price_rows, cfg.factors, code_fp, env_fp)

        prev_id, prev_dir, prev_jobs = _previous_jobs(reports) if cfg.reuse else (None, None, {})
        todo, done = [], 0
        for job in jobs:
            prev = prev_jobs.get(job.slug)
            if prev and prev.get("fingerprint") == job.fingerprint and _reuse(job, prev_id, prev_dir, prev):
                done += 1
                log(f"[{done}/{len(jobs)}] {job.label:<45} reused   (unchanged since run {job.reused_from})")
            else:
                todo.append(job)
        # Longest first: the cross-event notebooks study every event, so they start first.
        todo.sort(key=lambda j: j.event_id is not None)
        t_nb = time.monotonic()
        if todo:
            with ThreadPoolExecutor(max_workers=min(cfg.workers, len(todo))) as pool:
                futures = [pool.submit(execute, job, cfg.timeout) for job in todo]
                for fut in as_completed(futures):
                    job = fut.result()
                    done += 1
                    word = "ok" if job.status == "ok" else "FAILED"
                    log(f"[{done}/{len(jobs)}] {job.label:<45} {word:<8} {job.seconds:6.1f} s")
        notebooks_seconds = time.monotonic() - t_nb
        failed = [j for j in jobs if j.status == "failed"]
        for job in failed:
            log(f"error: {describe_error(job)}")

        from analysis.report import pdf

        pdf_ok, pdf_error, pages = True, None, 0
        t_pdf = time.monotonic()
        context = {
            "run_id": run_id, "started": started, "cfg": cfg, "jobs": jobs, "price_rows": price_rows,
            "price_note": price_note, "price_errors": errors, "catalog": catalog_events, "event_ids": event_ids,
            "frames": frames, "elapsed_before_pdf": time.monotonic() - t_start, "notebooks_seconds": notebooks_seconds,
            "failed": [describe_error(j) for j in failed], "log": log.lines,
        }
        try:
            pages = pdf.build_report(run_dir, context)
            log(f"pdf: {run_dir / 'report.pdf'} ({pages} pages, {time.monotonic() - t_pdf:.1f} s)")
        except Exception as exc:  # noqa: BLE001 - report and fail the run
            pdf_ok, pdf_error = False, f"{type(exc).__name__}: {' '.join(str(exc).split())}"
            log(f"error: the PDF could not be built: {pdf_error}")

        ok = not failed and pdf_ok
        total = time.monotonic() - t_start
        manifest = {
            "run_id": run_id, "status": "ok" if ok else "failed", "started": started.isoformat(),
            "seconds": round(total, 2), "notebooks_seconds": round(notebooks_seconds, 2), "config": str(cfg.path),
            "prices": str(cfg.prices) if cfg.prices else "yahoo", "events": event_ids, "pdf_pages": pages,
            "pdf_error": pdf_error, "jobs": [j.record(run_dir) for j in jobs],
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
            log(f"run failed after {total:.1f} s: {len(failed)} notebook(s) failed"
                + ("" if pdf_ok else ", the PDF could not be built")
                + f"; {reports / 'latest'} still points to the last good run ({kept})")
        (run_dir / "run.log").write_text("\n".join(log.lines) + "\n", encoding="utf-8")
        return 0 if ok else 1
    finally:
        cleanup.__exit__(None, None, None)
