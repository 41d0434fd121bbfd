"""Reusing unchanged notebooks: a job whose fingerprint equals that of the same job in
``reports/latest`` is copied from there instead of executed."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from analysis.report import provenance as prov
from analysis.report.folders import link_file
from analysis.report.jobs import Job

#: Parameters that do not change a notebook's results (left out of its fingerprint).
NOT_IN_FINGERPRINT = {"output_dir", "price_snapshot", "progress", "prices", "factors", "run_folder"}


def fingerprint(job: Job, price_rows: list[dict], factors: Path | None, code_fp: str, env_fp: str) -> str:
    """SHA-256 of everything the job's results depend on: notebook, parameters, price and factor
    files, the analysis code and the package versions."""
    params = {k: v for k, v in job.parameters.items() if k not in NOT_IN_FINGERPRINT}
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


def job_files(job: Job, run_dir: Path) -> dict[str, str]:
    """{path relative to ``run_dir``: SHA-256} of every file a job left (its output folder, the
    executed notebook, the HTML copy); the manifest keeps it so a later run reuses only files
    that are still exactly these."""
    files = [p for p in sorted(job.output_dir.rglob("*")) if p.is_file() and not p.is_symlink()] \
        if job.output_dir.is_dir() else []
    files += [p for p in (job.executed, job.html) if p.is_file() and not p.is_symlink()]
    out = {}
    for p in files:
        try:
            out[p.relative_to(run_dir).as_posix()] = prov.sha256_file(p)
        except (ValueError, OSError):
            continue
    return out


def _inside(folder: Path, rel) -> Path | None:
    """``folder / rel`` when ``rel`` is a relative path that stays inside ``folder`` (no absolute
    path, no '..', no symlink out), else None."""
    if not isinstance(rel, str) or not rel or Path(rel).is_absolute() or ".." in Path(rel).parts:
        return None
    path = folder / rel
    try:
        path.resolve().relative_to(folder.resolve())
    except (OSError, ValueError):
        return None
    return path


def previous_jobs(reports_dir: Path) -> tuple[str | None, Path | None, dict]:
    """The run ``reports_dir/latest`` points to: (run id, folder, its good jobs by slug)."""
    latest = reports_dir / "latest"
    try:
        target = latest.resolve(strict=True)
        manifest = json.loads((target / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None, None, {}
    if not isinstance(manifest, dict) or target.parent != reports_dir.resolve():
        return None, None, {}  # only a run of this reports folder is ever read from
    jobs = {j["slug"]: j for j in manifest.get("jobs", []) if isinstance(j, dict) and "slug" in j
            and j.get("status") in ("ok", "reused")}
    return manifest.get("run_id"), target, jobs


def reuse(job: Job, prev_id: str, prev_dir: Path, prev: dict) -> bool:
    """Link (hard links; a copy across file systems) a previous run's outputs of an unchanged job;
    False (the job runs again) unless every file its manifest lists is inside the previous run's
    folder and still has the SHA-256 the manifest recorded, and its output folder holds no file the
    manifest does not list."""
    try:
        src_out, src_nb, src_html = (_inside(prev_dir, prev.get(k)) for k in ("output_dir", "executed", "html"))
        listed = prev.get("files")
        if None in (src_out, src_nb, src_html) or not isinstance(listed, dict) \
                or not (src_out.is_dir() and src_nb.is_file() and src_html.is_file()):
            return False
        copies = []
        for rel, digest in listed.items():
            src = _inside(prev_dir, rel)
            if src is None or not src.is_file() or src.is_symlink() or prov.sha256_file(src) != digest:
                return False
            if src == src_nb or src == src_html:
                copies.append((src, job.executed if src == src_nb else job.html))
            elif src_out in src.parents:
                copies.append((src, job.output_dir / src.relative_to(src_out)))
            else:
                return False
        present = {p for p in src_out.rglob("*") if p.is_file()}
        if present != {s for s, d in copies if s not in (src_nb, src_html)} or {src_nb, src_html} - {s for s, _ in copies}:
            return False  # a file deleted, added or unlisted
        for src, dst in copies:
            dst.parent.mkdir(parents=True, exist_ok=True)
            link_file(src, dst)  # hard link: an unchanged run copies nothing
    except (OSError, KeyError, shutil.Error, AttributeError, TypeError):
        shutil.rmtree(job.output_dir, ignore_errors=True)
        return False
    job.status = "reused"
    job.reused_from = prev.get("reused_from") or prev_id
    return True


def run_fingerprint(cfg, jobs, code_fp: str, env_fp: str) -> str:
    """SHA-256 of everything a whole run depends on: every job's fingerprint, the configuration
    (file and command-line overrides), the whole package (the PDF's code and template included)
    and the package versions. Equal to the last good run's: nothing changed."""
    from dataclasses import asdict

    package = sorted(p for p in (prov.REPO / "analysis").rglob("*") if p.suffix in (".py", ".typ", ".yml", ".csv"))
    payload = {
        "jobs": {j.slug: j.fingerprint for j in jobs},
        # `reuse` is how this run treats the last one (--refresh sets it off), not what it computes
        "config": {k: v for k, v in asdict(cfg).items() if k not in ("spec", "reuse")},
        "package": prov.sha256_text("".join(f"{p}:{prov.sha256_file(p)}" for p in package)),
        "code": code_fp,
        "environment": env_fp,
    }
    return prov.sha256_text(json.dumps(payload, sort_keys=True, default=str))


def unchanged_run(reports_dir: Path, run_fp: str) -> str | None:
    """The id of the last good run (``reports_dir/latest``) when its run fingerprint is
    ``run_fp`` (nothing changed since) and it is intact: inside ``reports_dir``, its PDF present
    and every file its jobs left (the manifest's ``files``) still has the SHA-256 recorded; else
    None (the run goes ahead and re-uses what it can job by job)."""
    latest = reports_dir / "latest"
    try:
        run_dir = latest.resolve(strict=True)
        run_dir.relative_to(reports_dir.resolve())
        manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(manifest, dict) or manifest.get("status") != "ok" or manifest.get("run_fingerprint") != run_fp:
        return None
    if not (run_dir / "report.pdf").is_file() or not _intact(run_dir, manifest.get("jobs")):
        return None
    return manifest.get("run_id")


def _intact(run_dir: Path, jobs) -> bool:
    """Every file each job record lists (``files``: relative path -> SHA-256) is inside
    ``run_dir`` and unchanged."""
    if not isinstance(jobs, list) or not jobs:
        return False
    try:
        for record in jobs:
            listed = record.get("files") if isinstance(record, dict) else None
            if not isinstance(listed, dict) or not listed:
                return False
            for rel, digest in listed.items():
                path = _inside(run_dir, rel)
                if path is None or not path.is_file() or path.is_symlink() or prov.sha256_file(path) != digest:
                    return False
    except OSError:
        return False
    return True
