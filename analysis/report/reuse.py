"""Reusing unchanged notebooks: a job whose fingerprint equals that of the same job in
``reports/latest`` is copied from there instead of executed."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from analysis.report import provenance as prov
from analysis.report.folders import link_file, link_tree
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


def previous_jobs(reports_dir: Path) -> tuple[str | None, Path | None, dict]:
    """The run ``reports_dir/latest`` points to: (run id, folder, its good jobs by slug)."""
    latest = reports_dir / "latest"
    try:
        target = latest.resolve(strict=True)
        manifest = json.loads((target / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None, None, {}
    jobs = {j["slug"]: j for j in manifest.get("jobs", []) if j.get("status") in ("ok", "reused")}
    return manifest.get("run_id"), target, jobs


def reuse(job: Job, prev_id: str, prev_dir: Path, prev: dict) -> bool:
    """Link (hard links; a copy across file systems) a previous run's outputs of an unchanged
    job; False if anything is missing."""
    try:
        src_out = prev_dir / prev["output_dir"]
        src_nb = prev_dir / prev["executed"]
        src_html = prev_dir / prev["html"]
        if not (src_out.is_dir() and src_nb.is_file() and src_html.is_file()):
            return False
        link_tree(src_out, job.output_dir)  # hard links: an unchanged run copies nothing
        job.executed.parent.mkdir(parents=True, exist_ok=True)
        link_file(src_nb, job.executed)
        link_file(src_html, job.html)
    except (OSError, KeyError, shutil.Error):
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
    ``run_fp`` (nothing changed since), else None."""
    latest = reports_dir / "latest"
    try:
        manifest = json.loads((latest.resolve(strict=True) / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if manifest.get("status") == "ok" and manifest.get("run_fingerprint") == run_fp:
        return manifest.get("run_id")
    return None
