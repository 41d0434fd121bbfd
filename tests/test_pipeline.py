"""The report pipeline's run folder, temporary folder and factor file (analysis.report.folders,
analysis.report.price_inputs).

Issue 13: case 8 (tracebacks for two runs in the same second, a read-only or full reports folder,
--reports-dir naming a file), case 9 (a killed report left its report-prices-* folder behind),
case 10 (factors only from ../shared) and case 2 as the pipeline loads prices.
"""
from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import pytest

from analysis.errors import UserError
from analysis.report import folders, price_inputs

REPO = Path(__file__).resolve().parents[1]


def _main(*args):
    from analysis.cli import main

    return main(list(args))


def _one_line(capsys) -> str:
    err = [line for line in capsys.readouterr().err.strip().splitlines() if line.startswith("error:")]
    assert len(err) == 1, err
    return err[0]


def test_case8_two_runs_in_the_same_second_get_their_own_folders(tmp_path):
    got = []
    barrier = threading.Barrier(4)

    def start():
        barrier.wait()
        got.append(folders.make_run_dir(tmp_path, "20261122T031500Z", chosen=False))

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ids = sorted(run_id for run_id, _ in got)
    assert ids == ["20261122T031500Z", "20261122T031500Z-2", "20261122T031500Z-3", "20261122T031500Z-4"]
    assert all(d.is_dir() for _, d in got)
    with pytest.raises(UserError, match="already exists: pass another --run-id"):
        folders.make_run_dir(tmp_path, "20261122T031500Z", chosen=True)


def test_case8_an_existing_run_id_is_one_line_exit_2(tmp_path, capsys):
    (tmp_path / "r1").mkdir()
    assert _main("report", "--reports-dir", str(tmp_path), "--run-id", "r1", "--prices", str(tmp_path)) == 2
    assert _one_line(capsys) == f"error: run folder {tmp_path / 'r1'} already exists: pass another --run-id"


def test_case8_reports_dir_naming_a_file_is_one_line_exit_2(tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    assert _main("report", "--reports-dir", str(tmp_path / "afile"), "--prices", str(tmp_path)) == 2
    assert _one_line(capsys) == f"error: --reports-dir {tmp_path / 'afile'}: is a file, not a folder"
    assert (tmp_path / "afile").read_text() == "x"


@pytest.mark.parametrize("code, rc, words", [(errno.EACCES, 2, "Permission denied"), (errno.EROFS, 2, "Read-only"),
                                             (errno.ENOSPC, 1, "No space left on device")])
def test_case8_read_only_or_full_reports_folder_is_one_line(tmp_path, capsys, monkeypatch, code, rc, words):
    reports = tmp_path / "reports"
    reports.mkdir()
    real_mkdir = Path.mkdir

    def mkdir(self, *args, **kwargs):
        if self.parent == reports:
            raise OSError(code, os.strerror(code), str(self))
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", mkdir)
    assert _main("report", "--reports-dir", str(reports), "--run-id", "r1", "--prices", str(tmp_path)) == rc
    line = _one_line(capsys)
    assert line.startswith(f"error: cannot create the run folder {reports / 'r1'}: ") and words in line


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_case8_a_really_read_only_reports_folder(tmp_path, capsys):
    reports = tmp_path / "reports"
    reports.mkdir()
    reports.chmod(0o555)
    try:
        assert _main("report", "--reports-dir", str(reports), "--prices", str(tmp_path)) == 2
        assert "Permission denied" in _one_line(capsys)
    finally:
        reports.chmod(0o755)


def test_case9_temp_folders_of_dead_runs_are_removed(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f"report-prices-{dead.pid}-abc"
    alive = tmp_path / f"report-prices-{os.getppid()}-def"
    other = tmp_path / "report-prices-xyz"  # not ours (no pid): left alone
    for d in (stale, alive, other):
        d.mkdir()
    folders.remove_stale_temp()
    assert not stale.exists() and alive.exists() and other.exists()


def test_the_temp_folder_goes_on_a_normal_exit(tmp_path):
    folder = tmp_path / "report-prices-1-x"
    folder.mkdir()
    before = signal.getsignal(signal.SIGTERM)
    with folders.RemoveOnSignal(folder):
        assert signal.getsignal(signal.SIGTERM) != before
    assert not folder.exists() and signal.getsignal(signal.SIGTERM) == before


SIGTERM_CONFIG = """
    events: [nyt_hikvision_2019]
    factors: {factors}
    parameters: {{model: market, windows: ["0:0"], placebo_draws: 0}}
    notebooks:
      - name: event_study
        path: notebooks/event_study.ipynb
        per_event: true
        parameters: {{robustness_models: [mean]}}
"""


@pytest.mark.slow
@pytest.mark.shared_prices
def test_case9_sigterm_removes_the_temporary_folder(tmp_path, shared_prices, shared_factors):
    """Issue 13, case 9: a killed report left its temporary report-prices-* folder behind."""
    tmpd = tmp_path / "tmp"
    tmpd.mkdir()
    cfg = tmp_path / "c.yml"
    cfg.write_text(textwrap.dedent(SIGTERM_CONFIG.format(
        factors=shared_factors / "F-F_Research_Data_Factors_daily.csv")))
    env = dict(os.environ, TMPDIR=str(tmpd), MPLBACKEND="Agg", PYTHONWARNINGS="ignore")
    proc = subprocess.Popen([sys.executable, "-m", "analysis", "report", "--prices", str(shared_prices), "--config",
                             str(cfg), "--reports-dir", str(tmp_path / "reports"), "--run-id", "t1"],
                            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not (tmp_path / "reports" / "t1" / "notebooks").exists():
            if proc.poll() is not None:
                pytest.fail(f"the report ended before the notebooks started: {proc.stderr.read().decode()}")
            time.sleep(0.05)
        assert list(tmpd.glob("report-prices-*")), "no temporary folder while the notebooks run"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == -signal.SIGTERM
        assert list(tmpd.glob("report-prices-*")) == []
        assert not (tmp_path / "reports" / "latest").exists()
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the notebook kernels this run started
        except ProcessLookupError:
            pass
        proc.wait()


def _cfg(**changes):
    from dataclasses import replace

    from analysis.report.config import load_config

    return replace(load_config(), **changes)


def test_case10_factors_are_downloaded_when_none_is_configured(fake_french, tmp_path, monkeypatch):
    monkeypatch.setattr(price_inputs, "DEFAULT_CACHE", tmp_path)
    lines = []
    cfg = price_inputs.resolve_factors(_cfg(), lines.append)
    assert cfg.factors == tmp_path / "french" / "F-F_Research_Data_Factors_daily_CSV.zip" and cfg.factors.is_file()
    assert lines == [f"factors: {cfg.factors}"]
    local = Path("/somewhere/ff.csv")
    assert price_inputs.resolve_factors(_cfg(factors=local), lines.append).factors == local  # configured: kept
    assert len(fake_french) == 1


def test_case10_offline_the_ff3_robustness_is_left_out_with_a_note(tmp_path, monkeypatch):
    from analysis.data import factors

    def offline(url, timeout=60.0):
        raise OSError(errno.ENETUNREACH, "Network is unreachable")

    monkeypatch.setattr(factors, "_download", offline)
    monkeypatch.setattr(factors.time, "sleep", lambda s: None)
    monkeypatch.setattr(price_inputs, "DEFAULT_CACHE", tmp_path)
    lines = []
    cfg = price_inputs.resolve_factors(_cfg(), lines.append)
    # A path that does not exist: the notebooks note "ff3 left out: factor file(s) not found", the PDF's
    # appendix "(not found: factor-model robustness left out)".
    assert cfg.factors == tmp_path / "french" / "F-F_Research_Data_Factors_daily_CSV.zip"
    assert not cfg.factors.exists()
    assert lines == ["factors: could not download F-F_Research_Data_Factors_daily from Kenneth French's data "
                     "library (OSError: Network is unreachable); check the network or pass a local factor file "
                     "with --factors FILE (the report config's factors:); the factor-model robustness is left out"]


def test_no_download_when_no_notebook_uses_a_factor_model(tmp_path, monkeypatch):
    from dataclasses import replace

    from analysis.data import factors

    monkeypatch.setattr(factors, "_download", lambda url, timeout=60.0: pytest.fail("downloaded"))
    cfg = _cfg()
    cfg = replace(cfg, notebooks=tuple(replace(s, parameters={}) for s in cfg.notebooks))
    assert price_inputs.resolve_factors(cfg, print).factors is None


@pytest.mark.shared_prices
def test_case2_a_bad_price_file_costs_only_its_symbol_in_the_report(shared_prices, tmp_path):
    import shutil

    px = tmp_path / "PX"
    shutil.copytree(shared_prices, px)
    with open(px / "AMBA.csv", "a") as fh:
        fh.write("2300-01-02,1,1,1,1,1,10\n")
    lines = []
    _, frames, errors, rows, note = price_inputs.load_prices(_cfg(prices=px), False, lines.append)
    assert "AMBA" not in frames and len(frames) == 31  # 30 firms and 2 benchmarks, AMBA left out
    assert errors == {"AMBA": f"{px / 'AMBA.csv'}: row 2060, field 'date': 2300-01-02 is outside the plausible "
                              "1900-01-01..2100-12-31"}
    assert "31 of 32 series" in note and "row 2060" in note


def _fake_run(reports: Path, name: str, started: str) -> None:
    import json

    (reports / name).mkdir(parents=True)
    folders._write_marker(reports / name, name)
    (reports / name / "manifest.json").write_text(json.dumps({"run_id": name, "started": started}))


def test_keep_removes_the_oldest_runs_but_never_latest_or_other_files(tmp_path):
    reports = tmp_path / "reports"
    for i in range(6):
        _fake_run(reports, f"r{i}", f"2026-01-0{i + 1}T00:00:00+00:00")
    (reports / "notes").mkdir()  # not a run (no manifest.json): left alone
    (reports / "readme.txt").write_text("mine")
    os.symlink("r0", reports / "latest")  # the oldest run is the last good one
    removed = folders.prune_runs(reports, keep=2, current="r5")
    assert removed == ["r1", "r2", "r3"]
    assert sorted(p.name for p in reports.iterdir()) == ["latest", "notes", "r0", "r4", "r5", "readme.txt"]
    assert folders.prune_runs(reports, keep=2, current="r5") == []


def test_keep_is_a_config_key_with_default_20(tmp_path):
    from analysis.report.config import load_config

    assert load_config().keep == 20
    cfg = tmp_path / "c.yml"
    cfg.write_text("keep: 0\nnotebooks: [{name: a, path: notebooks/event_study.ipynb}]\n")
    with pytest.raises(UserError, match="keep"):
        load_config(cfg)


def test_day0_lines_read_the_run_study_set(tmp_path):
    """The log's day-0 check comes from the run's study set: day 0 per firm-event, its simple
    return in percent, a suspended day 0 or a multi-session return noted, a firm left out with
    its reason."""
    import pandas as pd

    from analysis.report import artifacts
    from analysis.report.study_set import day0_lines

    folder = artifacts.study_dir(tmp_path)
    folder.mkdir(parents=True)
    pd.DataFrame({"event_id": ["e"] * 3, "symbol": ["A", "B", "C"],
                  "day0": ["2019-05-16", "2019-05-17", "2019-05-16"]}).to_csv(folder / "estimation.csv", index=False)
    pd.DataFrame({"event_id": ["e"] * 4, "symbol": ["A", "A", "B", "C"], "day": [-1, 0, 0, 0],
                  "return": [0.5, -0.0554, float("nan"), 0.0338], "span": [1, 1, 0, 3]}).to_csv(
        folder / "abnormal_returns.csv", index=False)
    pd.DataFrame({"event_id": ["e"], "symbol": ["D"], "reason": ["no prices"]}).to_csv(folder / "skipped.csv",
                                                                                         index=False)
    lines = day0_lines(tmp_path)
    assert lines[1] == ("  e: A 2019-05-16 -5.54%; B 2019-05-17 (suspended on day 0); "
                        "C 2019-05-16 +3.38% (spans 3 sessions); D - (no prices)")
    assert day0_lines(tmp_path / "nothing") == []


def test_the_comparison_notebook_gets_the_headline_window_and_test(tmp_path):
    """The comparison across events uses the configured headline (window, test) unless its own
    configuration entry sets them, so the PDF's across-events captions (the headline's) and
    numbers (the notebook's) describe the same window and test."""
    import textwrap

    from analysis.report.config import load_config
    from analysis.report.jobs import build_jobs

    repo = Path(__file__).resolve().parents[1]
    body = textwrap.dedent(f"""\
        events: [ft_sdn_2022]
        headline: {{symbol: "002415.SZ", window: "-1:1", test: bmp_kp}}
        notebooks:
          - {{name: compare_events, path: {repo / 'notebooks/compare_events.ipynb'}}}
          - {{name: other, path: {repo / 'notebooks/compare_events.ipynb'}, parameters: {{window: "0:5"}}}}
        """)
    (tmp_path / "c.yml").write_text(body, encoding="utf-8")
    jobs = build_jobs(load_config(tmp_path / "c.yml"), tmp_path / "run", ["ft_sdn_2022"], None)
    params = {j.name: j.parameters for j in jobs}
    assert (params["compare_events"]["window"], params["compare_events"]["test"]) == ("-1:1", "bmp_kp")
    assert (params["other"]["window"], params["other"]["test"]) == ("0:5", "bmp_kp")  # its own entry wins
