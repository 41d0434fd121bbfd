"""'Nothing changed' decided before any price is parsed (recorded prices): the run fingerprint
computed from the price files' SHA-256 alone is the one the full check computes after loading
the prices, and a missing file or no earlier run falls back to the full check."""
from __future__ import annotations

import json
import os
import shutil

import pytest

from analysis.report import pipeline
from analysis.report import provenance as prov
from analysis.report.config import apply_overrides, load_config
from analysis.report.jobs import build_jobs
from analysis.report.price_inputs import load_prices
from analysis.report.reuse import fingerprint, run_fingerprint

EVENT = "nyt_hikvision_2019"


def _latest(reports):
    run = reports / "20260101T000000Z"
    run.mkdir(parents=True)
    (run / "manifest.json").write_text(json.dumps({"run_id": run.name, "status": "ok", "jobs": []}))
    os.symlink(run.name, reports / "latest")


def _cfg(prices, factors, reports):
    return apply_overrides(load_config(None), prices=str(prices), events=[EVENT], reports_dir=str(reports),
                           refresh=False, factors=str(factors / "F-F_Research_Data_Factors_daily.csv"))


def test_the_quick_fingerprint_is_the_full_one(tmp_path, shared_prices, shared_factors, monkeypatch):
    reports = tmp_path / "reports"
    _latest(reports)
    cfg = _cfg(shared_prices, shared_factors, reports)
    seen = []
    monkeypatch.setattr(pipeline, "unchanged_run", lambda reports_dir, fp: seen.append(fp))
    assert pipeline.unchanged_recorded_prices(cfg, reports, reports / "new", [EVENT]) is None
    assert len(seen) == 1
    # the full check: prices loaded and parsed, jobs with a snapshot, another run folder
    _, _, _, rows, _ = load_prices(cfg, False, lambda line: None)
    jobs = build_jobs(cfg, tmp_path / "other", [EVENT], tmp_path / "prices.parquet")
    code_fp, env_fp = prov.code_fingerprint(), prov.environment_fingerprint()
    for job in jobs:
        job.fingerprint = fingerprint(job, rows, cfg.factors, code_fp, env_fp)
    assert seen[0] == run_fingerprint(cfg, jobs, code_fp, env_fp)


def test_a_changed_price_file_changes_the_quick_fingerprint(tmp_path, shared_prices, shared_factors, monkeypatch):
    reports = tmp_path / "reports"
    _latest(reports)
    folder = tmp_path / "prices"
    shutil.copytree(shared_prices, folder)
    seen = []
    monkeypatch.setattr(pipeline, "unchanged_run", lambda reports_dir, fp: seen.append(fp))
    pipeline.unchanged_recorded_prices(_cfg(folder, shared_factors, reports), reports, reports / "n", [EVENT])
    csv = next(p for p in sorted(folder.glob("*.csv")))
    csv.write_text(csv.read_text() + "\n")
    pipeline.unchanged_recorded_prices(_cfg(folder, shared_factors, reports), reports, reports / "n", [EVENT])
    assert len(seen) == 2 and seen[0] != seen[1]
    csv.unlink()  # a missing file: the full check (which says what is missing) decides
    assert pipeline.unchanged_recorded_prices(_cfg(folder, shared_factors, reports), reports, reports / "n",
                                              [EVENT]) is None
    assert len(seen) == 2


def test_no_earlier_run_or_no_factor_file_means_the_full_check(tmp_path, shared_prices, shared_factors, monkeypatch):
    reports = tmp_path / "reports"
    reports.mkdir()
    monkeypatch.setattr(pipeline, "unchanged_run", lambda *a: pytest.fail("no quick check expected"))
    cfg = _cfg(shared_prices, shared_factors, reports)
    assert pipeline.unchanged_recorded_prices(cfg, reports, reports / "n", [EVENT]) is None
    _latest(reports)
    from dataclasses import replace

    assert pipeline.unchanged_recorded_prices(replace(cfg, factors=None), reports, reports / "n", [EVENT]) is None
