"""Issue 21 (Hardening II): one test per case of the second hostile probe.

Each test reproduces the case as the probe found it and checks the new behaviour: a one-line
error (never a traceback), or the safe output; nothing outside a run's own folders is removed
or moved. The case number is in the test's name.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.errors import UserError
from analysis.report import folders

REPO = Path(__file__).resolve().parents[1]


def _main(*args):
    from analysis.cli import main

    return main(list(args))


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:"), err
    assert "Traceback" not in err[0]
    return err[0]


def _no_run(monkeypatch):
    """Make any attempt to create a run folder fail the test (the check must come first)."""
    from analysis.report import pipeline

    def refuse(*a, **k):
        raise AssertionError("the run started: a run folder was about to be created")

    monkeypatch.setattr(pipeline, "make_run_dir", refuse)


# ----------------------------------------------------------------------------- 1, 11 pruning


def _finished_run(reports: Path, name: str, started: str) -> None:
    (reports / name).mkdir(parents=True)
    folders._write_marker(reports / name, name)
    (reports / name / "manifest.json").write_text(json.dumps({"run_id": name, "started": started}))


def test_case1_pruning_leaves_a_folder_it_did_not_create(tmp_path):
    """The probe: ``out/rep_p/webapp/manifest.json`` holding '{}' and keep: 1 removed webapp."""
    reports = tmp_path / "rep_p"
    (reports / "webapp").mkdir(parents=True)
    (reports / "webapp" / "manifest.json").write_text("{}")
    (reports / "20260101T000000Z").mkdir()  # a run id's name, a manifest, but no marker of ours
    (reports / "20260101T000000Z" / "manifest.json").write_text('{"started": "2026-01-01"}')
    forged = reports / "20260102T000000Z"  # a marker written for another folder's name
    forged.mkdir()
    (forged / folders.RUN_MARKER).write_text(json.dumps({"written_by": folders.WRITTEN_BY, "run_id": "x"}))
    (forged / "manifest.json").write_text("{}")
    _finished_run(reports, "r1", "2026-02-01T00:00:00+00:00")
    _finished_run(reports, "r2", "2026-02-02T00:00:00+00:00")
    assert folders.prune_runs(reports, keep=1, current="r2") == ["r1"]
    assert sorted(p.name for p in reports.iterdir()) == ["20260101T000000Z", "20260102T000000Z", "r2", "webapp"]


def test_case1_a_run_folder_carries_the_marker_and_its_manifest_says_who_wrote_it(tmp_path):
    _, run_dir = folders.make_run_dir(tmp_path, "abc", chosen=True)
    assert folders.read_marker(run_dir)["run_id"] == "abc"
    text = (REPO / "analysis" / "report" / "pipeline.py").read_text()
    assert '"written_by": WRITTEN_BY' in text


def test_case11_a_killed_run_without_manifest_is_pruned_once_its_process_is_gone(tmp_path):
    reports = tmp_path / "reports"
    _finished_run(reports, "r1", "2026-02-01T00:00:00+00:00")
    _finished_run(reports, "r3", "2026-02-03T00:00:00+00:00")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    for name, pid in (("killed", dead.pid), ("running", os.getppid())):
        (reports / name).mkdir()
        folders._write_marker(reports / name, name)
        marker = json.loads((reports / name / folders.RUN_MARKER).read_text())
        (reports / name / folders.RUN_MARKER).write_text(json.dumps({**marker, "pid": pid}))
    assert folders.prune_runs(reports, keep=2, current="r3") == ["killed"]
    assert sorted(p.name for p in reports.iterdir()) == ["r1", "r3", "running"]


# ----------------------------------------------------------------------------- 8, 19 run id, latest


def test_case8_a_run_id_with_a_trailing_newline_is_refused(tmp_path, capsys, monkeypatch):
    assert not folders.is_run_id("abc\n") and folders.is_run_id("abc")
    _no_run(monkeypatch)
    assert _main("report", "--run-id", "abc\n", "--reports-dir", str(tmp_path)) == 2
    assert "bad run id 'abc\\n'" in _error_line(capsys)
    assert list(tmp_path.iterdir()) == []


def test_case19_latest_as_a_real_folder_is_refused_before_the_run(tmp_path, capsys, monkeypatch):
    (tmp_path / "latest").mkdir()
    _no_run(monkeypatch)
    assert _main("report", "--reports-dir", str(tmp_path)) == 2
    assert "latest exists and is not a symlink" in _error_line(capsys)
    assert [p.name for p in tmp_path.iterdir()] == ["latest"]


# ----------------------------------------------------------------------------- 2 labels from the row


def _moved(window: str, test: str) -> pd.DataFrame:
    return pd.DataFrame({"event_id": ["nyt"] * 2, "date": pd.to_datetime(["2019-05-21"] * 2), "kind": ["report"] * 2,
                         "short_title": ["NYT"] * 2, "group": ["named", "supplier"], "n": [5, 6],
                         "mean_car": [-0.0764, 0.01], "statistic": [-2.9, 0.4], "p_value": [0.005, 0.7],
                         "window": [window] * 2, "test": [test] * 2})


def test_case2_the_across_events_captions_name_the_window_and_test_of_their_rows():
    """The probe: headline -1:1 (or bmp_kp) titled the table of the notebook's 0:1 portfolio rows."""
    from types import SimpleNamespace

    from analysis import fmt
    from analysis.inference.battery import describe
    from analysis.report.sections import across_events

    compare = SimpleNamespace(status="ok", error=None, figures={}, moved=_moved("0:1", "portfolio"), tvs=None,
                              kinds=None, years=None)
    inputs = SimpleNamespace(compare=compare, headline=SimpleNamespace(window="-1:1", test="bmp_kp"))
    section = across_events.build(inputs)
    text = json.dumps(section["moved_table"], default=str)
    assert f"CAR{fmt.window_label('0:1')}" in text and fmt.window_label("-1:1") not in text
    assert describe("portfolio", "description") in text and describe("bmp_kp", "description") not in text


@pytest.mark.parametrize("where", ["headline:\n  test: bmp_kpp\n", "parameters:\n  test: no_such_test\n"])
def test_case2_an_unknown_test_name_is_refused(tmp_path, where):
    from analysis.report.config import load_config

    cfg = tmp_path / "c.yml"
    cfg.write_text(where + "notebooks: [{name: a, path: notebooks/event_study.ipynb}]\n")
    with pytest.raises(UserError, match="unknown test"):
        load_config(cfg)


# ----------------------------------------------------------------------------- 3 HTML


SCRIPT = "<script>alert(1)</script>Ambarella"
IMG = "<img src=x onerror=alert(2)>"


def _assert_escaped(page: str) -> None:
    assert "<script>" not in page and "<img" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;Ambarella" in page and "&lt;img src=x onerror=alert(2)&gt;" in page


def test_case3_names_and_sources_are_escaped_in_the_notebook_tables():
    """The probe: a universe name with <script> and a source with <img onerror> reached the HTML copies."""
    from analysis.report import compare, event

    firms = pd.DataFrame({"event_id": ["e", "e"], "symbol": ["AMBA", "X"], "name": [SCRIPT, IMG],
                          "role": ["supplier"] * 2, "window": ["0:1"] * 2, "car": [0.01, -0.02], "p": [0.5, 0.04],
                          "note": ["", IMG], "group": ["supplier"] * 2})
    _assert_escaped(event.show_firm_table(firms).to_html())
    moved = _moved("0:1", "portfolio").assign(short_title=[SCRIPT, SCRIPT], kind=[IMG, IMG])
    _assert_escaped(compare.show_moved(moved).to_html())
    facts = pd.DataFrame([("Event", SCRIPT), ("Source", IMG)], columns=["", "value"])
    _assert_escaped(event.escaped(facts.style).to_html())
    header = pd.DataFrame({SCRIPT: [1], IMG: [2]})
    _assert_escaped(event._styled(header, caption=SCRIPT + IMG).to_html())


def test_case3_show_event_escapes_its_table(monkeypatch):
    from analysis.report import event

    info = {"short_title": SCRIPT, "kind": "report", "announced_at": "2019-05-21", "title": SCRIPT, "source": IMG,
            "named": [SCRIPT], "groups": {"supplier": [{"name": IMG}]}, "day0": {}}
    monkeypatch.setattr(event, "event_info", lambda res, event_id: info)
    _assert_escaped(event.show_event(None, "e").to_html())


# ----------------------------------------------------------------------------- 4 catalog dates


EVENTS_HEADER = "event_id,announced_at,title,kind,source\n"


@pytest.mark.parametrize("value", ["2300-01-02", "9999-12-31", "9999-12-31T10:00:00+00:00", "1899-12-31"])
def test_case4_a_date_outside_1900_2100_in_events_csv_is_one_line(tmp_path, capsys, value):
    from analysis.data import catalog

    f = tmp_path / "events.csv"
    f.write_text(EVENTS_HEADER + "a,2019-05-16,A,action,src\n" + f"b,{value},B,action,src\n")
    with pytest.raises(UserError) as err:
        catalog.load_events(f)
    assert str(err.value) == f"{f}: row 2, field 'announced_at': the year is outside 1900..2100"
    assert _main("study", "--events", str(f), "--out", str(tmp_path / "o")) == 2
    assert _error_line(capsys) == f"error: {err.value}"


def test_case4_event_dates_and_confounders_too(tmp_path):
    from analysis.data import catalog

    dates = tmp_path / "event_dates.csv"
    dates.write_text("event_id,date_kind,announced_at,source\na,effective,9999-12-31,src\n")
    with pytest.raises(UserError, match=r"row 1, field 'announced_at': the year is outside 1900..2100"):
        catalog.load_event_dates(dates)
    conf = tmp_path / "confounders.csv"
    conf.write_text("announced_at,symbol,markets,severity,what,source\n2300-01-02,,all,minor,FOMC,src\n")
    with pytest.raises(UserError, match=r"row 1, field 'announced_at': the year is outside 1900..2100"):
        catalog.load_confounders(conf)


# ----------------------------------------------------------------------------- 5, 14 config and devices


def test_case5_a_deeply_nested_config_is_one_line(tmp_path, capsys):
    from analysis.report.config import load_config

    cfg = tmp_path / "deep.yml"
    cfg.write_text("[" * 5000)
    with pytest.raises(UserError, match="deep.yml: not a readable YAML file"):
        load_config(cfg)
    assert _main("report", "--config", str(cfg), "--reports-dir", str(tmp_path / "r")) == 2
    assert "not a readable YAML file" in _error_line(capsys)


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero")
@pytest.mark.parametrize("args, words", [
    (["report", "--config", "/dev/zero"], "/dev/zero: not a regular file"),
    (["study", "--events", "/dev/zero", "--out", "OUT"], "/dev/zero: not a regular file"),
    (["study", "--universe", "/dev/zero", "--out", "OUT"], "/dev/zero: not a regular file"),
    (["study", "--factors", "/dev/zero", "--model", "ff3", "--out", "OUT"], "/dev/zero: not a regular file"),
])
def test_case14_a_device_is_refused_before_any_read(tmp_path, capsys, args, words):
    args = [str(tmp_path / "o") if a == "OUT" else a for a in args]
    assert _main(*args, "--reports-dir" if args[0] == "report" else "--quiet",
                 *([str(tmp_path / "r")] if args[0] == "report" else [])) == 2
    assert words in _error_line(capsys)


def test_case14_a_file_above_the_cap_is_refused_and_loaders_refuse_devices(tmp_path):
    from analysis.data import catalog, factors, textfile
    from analysis.report.config import load_config

    big = tmp_path / "f.csv"
    big.write_bytes(b"x" * 2048)
    with pytest.raises(UserError, match="f.csv: factor file is 2048 bytes, more than the 1024 bytes accepted"):
        textfile.read_bytes(big, "factor file", 1024)
    if Path("/dev/zero").exists():  # the loaders themselves, not only the command line
        for load in (factors.load_factors, catalog.load_events, load_config):
            with pytest.raises(UserError, match="/dev/zero: not a regular file"):
                load("/dev/zero")


# ----------------------------------------------------------------------------- 15 empty paths


@pytest.mark.parametrize("args", [
    ["report", "--reports-dir", ""], ["report", "--prices", ""], ["report", "--config", ""],
    ["report", "--factors", " "], ["study", "--prices", "", "--out", "OUT"], ["study", "--events", "", "--out", "OUT"],
    ["study", "--factors", "", "--out", "OUT"], ["study", "--confounders", "", "--out", "OUT"],
])
def test_case15_an_empty_path_is_exit_2(tmp_path, capsys, monkeypatch, args):
    """The probe: --reports-dir '' moved the repository's reports/latest; --prices '' used Yahoo."""
    monkeypatch.chdir(tmp_path)
    _no_run(monkeypatch)
    assert _main(*[str(tmp_path / "o") if a == "OUT" else a for a in args]) == 2
    assert "expected a path, got an empty string" in _error_line(capsys)
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------- 6 undeclared parameter


def test_case6_a_top_level_parameter_no_notebook_declares_is_refused(tmp_path):
    from analysis.report.config import load_config
    from analysis.report.jobs import build_jobs

    cfg = tmp_path / "c.yml"
    cfg.write_text(f"parameters: {{placebo_draw: 0}}\n"
                   f"notebooks: [{{name: a, path: {REPO / 'notebooks/event_study.ipynb'}, per_event: true}}]\n")
    with pytest.raises(UserError, match=r"'parameters.placebo_draw': no notebook of the run declares this parameter"):
        build_jobs(load_config(cfg), tmp_path / "run", ["e"], None)
    cfg.write_text(cfg.read_text().replace("placebo_draw", "placebo_draws"))
    assert build_jobs(load_config(cfg), tmp_path / "run", ["e"], None)[0].parameters["placebo_draws"] == 0


# ----------------------------------------------------------------------------- 7 no echo


@pytest.mark.parametrize("loader", ["load_events", "load_universe", "load_event_firms", "load_event_dates",
                                    "load_confounders"])
def test_case7_a_file_that_is_not_a_catalog_is_not_echoed(tmp_path, loader):
    """The probe: ``field 'SECRET_TOKEN=hunter2': unknown column`` (then in the PDF, run.log, manifest)."""
    from analysis.data import catalog

    f = tmp_path / "secrets.env"
    f.write_text("SECRET_TOKEN=hunter2\nOTHER=x\n")
    with pytest.raises(UserError) as err:
        getattr(catalog, loader)(f)
    assert "hunter2" not in str(err.value) and "SECRET" not in str(err.value)
    assert str(err.value).startswith(f"{f}: row 0, field 'column 1': unknown column (expected ")


# ----------------------------------------------------------------------------- 9, 10 writing the set


def _frames(tag: str) -> dict:
    return {name: pd.DataFrame({"run": [tag] * 2, "x": [1.5, -2.5]}) for name in ("car.csv", "tests.csv")}


def test_case9_out_dot_or_a_folder_that_cannot_be_renamed_works(tmp_path, monkeypatch):
    """The probe: --out . (or / or a mount point) failed with 'Device or resource busy'."""
    from analysis import atomic

    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine.txt").write_text("mine")
    atomic.write_set(_frames("one"), ".")
    real_rename = os.rename

    def busy(src, dst, *a, **k):  # a mount point: the folder itself can never be renamed
        if Path(src).resolve() == tmp_path.resolve():
            raise OSError(16, "Device or resource busy", str(src))
        return real_rename(src, dst, *a, **k)

    monkeypatch.setattr(os, "rename", busy)
    atomic.write_set(_frames("two"), tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["car.csv", "mine.txt", "tests.csv"]
    assert set(pd.read_csv(tmp_path / "car.csv")["run"]) == {"two"}
    assert (tmp_path / "mine.txt").read_text() == "mine"


_KILL_WRITER = """
import os, signal, sys
import pandas as pd
from analysis import atomic

class Killed(pd.DataFrame):
    def to_csv(self, path, **kw):
        open(path, "w").write("run,x\\nnew,")
        os.kill(os.getpid(), signal.SIGTERM)

frames = {"car.csv": pd.DataFrame({"run": ["new"]}), "tests.csv": Killed({"run": ["new"]})}
atomic.write_set(frames, sys.argv[1], owned=("car.csv", "tests.csv"))
"""


def test_case10_a_study_killed_while_writing_leaves_the_folder_as_it_was(tmp_path):
    """The probe: a kill left .NAME.new-* folders, SIGTERM during the swap left the user's own
    files in a hidden .NAME.old-* folder. Now the folder is never moved and the temporary folder
    inside it goes with SIGTERM."""
    from analysis import atomic

    out = tmp_path / "out"
    atomic.write_set(_frames("old"), out)
    (out / "notes.txt").write_text("mine")
    (out / "nested").mkdir()
    run = subprocess.run([sys.executable, "-c", _KILL_WRITER, str(out)], env={**os.environ, "PYTHONPATH": str(REPO)},
                         capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == -15, run.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert sorted(p.name for p in out.iterdir()) == ["car.csv", "nested", "notes.txt", "tests.csv"]
    assert {n: set(pd.read_csv(out / n)["run"]) for n in ("car.csv", "tests.csv")} == {"car.csv": {"old"},
                                                                                        "tests.csv": {"old"}}


def test_case10_a_temporary_folder_of_a_write_killed_with_9_goes_with_the_next_write(tmp_path):
    from analysis import atomic

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    out = tmp_path / "out"
    stale = out / f"{atomic.SET_TMP_PREFIX}{dead.pid}-abc123"
    stale.mkdir(parents=True)
    (out / ".analysis-set-notanumber").mkdir()  # not ours by its name: stays
    atomic.write_set(_frames("new"), out)
    assert sorted(p.name for p in out.iterdir()) == [".analysis-set-notanumber", "car.csv", "tests.csv"]


# ----------------------------------------------------------------------------- 12 CSV formula injection


def test_case12_text_cells_a_spreadsheet_would_run_get_a_quote_numbers_stay_numbers(tmp_path):
    """The probe: a confounder 'what' of @SUM(1+1) or a name =HYPERLINK(...) written raw."""
    from analysis import atomic
    from analysis.safe_text import csv_cell

    frame = pd.DataFrame({"name": ['=HYPERLINK("http://x","y")', "Ambarella", "-2+3+cmd|' /C calc'!A0", "+1-2"],
                          "what": ["@SUM(1+1)", "\tTAB", "results", ""],
                          "window": ["-1:1", "0:1", "-5:5", "-2.5e-03"],
                          "car": [-0.0123, 0.5, -1e-9, np.nan], "n": [-3, 2, 1, 0]})
    atomic.write_set({"car.csv": frame}, tmp_path / "set")
    atomic.write_csv_atomic(frame, tmp_path / "one.csv")
    for path in (tmp_path / "set" / "car.csv", tmp_path / "one.csv"):
        back = pd.read_csv(path, keep_default_na=False)
        assert list(back["name"]) == ["'=HYPERLINK(\"http://x\",\"y\")", "Ambarella", "'-2+3+cmd|' /C calc'!A0", "+1-2"]
        assert list(back["what"]) == ["'@SUM(1+1)", "'\tTAB", "results", ""]
        assert list(back["window"]) == ["-1:1", "0:1", "-5:5", "-2.5e-03"]  # plain numbers and windows as they were
        assert pd.to_numeric(back["car"].iloc[:3]).tolist() == [-0.0123, 0.5, -1e-9] and back["n"].tolist() == [-3, 2, 1, 0]
    assert csv_cell("\rCR") == "'\rCR" and csv_cell("'=already") == "'=already" and csv_cell(-1.5) == -1.5



def test_case12_csv_frame_reads_a_columns_distinct_cells_and_quotes_every_repeat():
    """A formula deep in a long column of repeated ids is quoted in every row it appears in
    (the reference: csv_cell on each cell); a column of windows and plain numbers only is left
    as it is (the same frame); unhashable cells are still read one by one."""
    from analysis.safe_text import csv_cell, csv_frame

    ids = ["ev_a", "ev_b"] * 5000
    ids[7777] = ids[9001] = "=cmd|' /C calc'!A0"
    frame = pd.DataFrame({"event_id": ids, "window": ["-1:1", "0:1"] * 5000, "car": -0.5})
    out = csv_frame(frame)
    assert list(out["event_id"]) == [csv_cell(v) for v in ids]
    assert out["event_id"].iloc[7777] == out["event_id"].iloc[9001] == "'=cmd|' /C calc'!A0"
    assert list(out["window"]) == list(frame["window"]) and out["car"].tolist() == frame["car"].tolist()
    plain = frame.drop(columns="event_id")
    assert csv_frame(plain) is plain
    lists = pd.DataFrame({"x": [["a"], "@SUM(1)"]})
    assert list(csv_frame(lists)["x"]) == [["a"], "'@SUM(1)"]


# ----------------------------------------------------------------------------- 13 terminal


def test_case13_escape_codes_in_titles_and_names_are_not_printed(tmp_path, shared_prices):
    """The probe: a title with terminal escape codes was printed raw by ``study``."""
    events = pd.read_csv(REPO / "data" / "events.csv", dtype=str, keep_default_na=False)
    ev = events.iloc[[1]].copy()
    ev["title"] = "\x1b[2J\x1b]0;pwned\x07Huawei \x9b31m" + ev["title"]
    ev["short_title"] = "\x1b[31mHuawei"
    ev.to_csv(tmp_path / "events.csv", index=False)
    uni = pd.read_csv(REPO / "data" / "universe.csv", dtype=str).iloc[:3]
    uni.loc[0, "name"] = "\x1b[5mHikvision"
    uni.to_csv(tmp_path / "universe.csv", index=False)
    (tmp_path / "ef.csv").write_text("event_id,symbol,relation,source\n")  # groups by role
    run = subprocess.run([sys.executable, "-m", "analysis", "study", "--events", str(tmp_path / "events.csv"),
                          "--universe", str(tmp_path / "universe.csv"), "--prices", str(shared_prices),
                          "--placebo-draws", "0", "--calibration-draws", "0", "--event-firms", str(tmp_path / "ef.csv"),
                          "--out", str(tmp_path / "o")],
                         env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=600, check=False)
    assert run.returncode == 0, run.stderr
    assert "Hikvision" in run.stdout or "Huawei" in run.stdout
    assert not any(c in run.stdout + run.stderr for c in "\x1b\x07\x9b")


def test_case13_terminal_text_drops_control_characters():
    from analysis.safe_text import terminal_text

    assert terminal_text("a\x1b[31mb\tc\nd\x07\x9b\x7f") == "a[31mb\tc\nd"


# ----------------------------------------------------------------------------- 16 factor cache


def test_case16_a_corrupt_cached_factor_zip_is_discarded_and_fetched_again(tmp_path, fake_french):
    """The probe: a corrupt cached zip broke ff3/carhart studies for 7 days (the cache's age)."""
    from analysis.data import factors

    lib = factors.FrenchLibrary(cache_dir=tmp_path)
    path = lib.path(factors.THREE_FACTORS)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"PK\x03\x04 cut short")  # fresh (mtime now) but unreadable
    frame = factors.default_factors(cache_dir=tmp_path)
    assert len(fake_french) == 1 and len(frame) > 1000 and list(frame.columns)[:3] == ["mkt_rf", "smb", "hml"]
    assert factors.parse_factors(factors._zip_text(path.read_bytes(), path), "x").equals(frame)
    factors.default_factors(cache_dir=tmp_path)  # now good and fresh: no second download
    assert len(fake_french) == 1


# ----------------------------------------------------------------------------- 17 braces in paths


def test_case17_braces_in_the_reports_path_are_a_folder_name_not_a_template(tmp_path):
    """The probe: a ``{...}`` in the reports path broke every notebook (papermill formats paths)."""
    import nbformat

    from analysis.report.jobs import Job, _declared_parameters, execute

    folder = tmp_path / "rep_{x}{0}"
    folder.mkdir()
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("value = 1")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell("assert value == 2")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, folder / "n.ipynb")
    assert set(_declared_parameters(folder / "n.ipynb")) == {"value"}
    job = Job(name="n", slug="n", notebook=folder / "n.ipynb", event_id=None, parameters={"value": 2},
              output_dir=folder / "out", executed=folder / "nb" / "n.ipynb", html=folder / "nb" / "n.html",
              kernel_log=folder / "k.log")
    execute(job, timeout=120)
    assert job.status == "ok", job.error
    assert job.executed.is_file() and job.html.is_file()


# ----------------------------------------------------------------------------- 18 Makefile


@pytest.mark.skipif(not any((Path(d) / "make").exists() for d in os.environ.get("PATH", "").split(os.pathsep)),
                    reason="no make")
def test_case18_make_passes_paths_with_spaces_and_quotes_as_one_argument():
    """The probe: ``make report PRICES='../my prices'`` failed (the path split in two). ``make -n``
    prints the commands without running any."""
    import shlex

    run = subprocess.run(["make", "-n", "-C", str(REPO), "report", "bench", "PRICES=../my prices",
                          "CONFIG=it's mine.yml", "RUN=a b", "FACTORS=f f.csv"], capture_output=True, text=True,
                         timeout=60, check=False)
    assert run.returncode == 0, run.stderr
    report = next(shlex.split(line) for line in run.stdout.splitlines() if "-m analysis report" in line)
    assert report[report.index("--prices") + 1] == "../my prices"
    assert report[report.index("--config") + 1] == "it's mine.yml"
    assert report[report.index("--run-id") + 1] == "a b" and report[report.index("--factors") + 1] == "f f.csv"
    bench = next(shlex.split(line) for line in run.stdout.splitlines() if "bench_engine.py" in line)
    assert bench[bench.index("--prices") + 1] == "../my prices"


# ----------------------------------------------------------------------------- 20 reuse


def _job(run_dir: Path):
    from analysis.report.jobs import Job

    return Job(name="event_study", slug="event_study-e", notebook=REPO / "notebooks" / "event_study.ipynb",
               event_id="e", parameters={}, output_dir=run_dir / "events" / "e",
               executed=run_dir / "notebooks" / "event_study-e.ipynb", html=run_dir / "notebooks" / "event_study-e.html",
               kernel_log=run_dir / "logs" / "k.log", status="ok")


def _previous_run(reports: Path) -> Path:
    from analysis.report.reuse import job_files

    run = reports / "r1"
    job = _job(run)
    job.output_dir.mkdir(parents=True)
    (job.output_dir / "car_by_firm.csv").write_text("symbol,car\nAMBA,-0.01\n")
    (job.output_dir / "figs").mkdir()
    (job.output_dir / "figs" / "a.svg").write_text("<svg/>")
    job.executed.parent.mkdir(parents=True)
    job.executed.write_text("{}")
    job.html.write_text("<html/>")
    record = job.record(run) | {"files": job_files(job, run)}
    (run / "manifest.json").write_text(json.dumps({"run_id": "r1", "jobs": [record]}))
    os.symlink("r1", reports / "latest")
    return run


@pytest.mark.parametrize("damage", ["none", "deleted", "changed", "added", "absolute", "outside", "latest_elsewhere"])
def test_case20_reuse_copies_only_files_whose_sha256_matches_inside_the_reports_folder(tmp_path, damage):
    """The probe: a deleted car_by_firm.csv propagated into every later run; an absolute output_dir
    in a manifest copied an arbitrary folder."""
    from analysis.report.reuse import previous_jobs, reuse

    reports = tmp_path / "reports"
    prev_run = _previous_run(reports)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "secret.txt").write_text("not a run's")
    if damage == "deleted":
        (prev_run / "events" / "e" / "car_by_firm.csv").unlink()
    elif damage == "changed":
        (prev_run / "events" / "e" / "figs" / "a.svg").write_text("<svg onload=x/>")
    elif damage == "added":
        (prev_run / "events" / "e" / "extra.csv").write_text("x\n")
    elif damage in ("absolute", "outside"):
        manifest = json.loads((prev_run / "manifest.json").read_text())
        manifest["jobs"][0]["output_dir"] = str(elsewhere) if damage == "absolute" else "../../elsewhere"
        (prev_run / "manifest.json").write_text(json.dumps(manifest))
    elif damage == "latest_elsewhere":
        (elsewhere / "manifest.json").write_text((prev_run / "manifest.json").read_text())
        os.unlink(reports / "latest")
        os.symlink(elsewhere, reports / "latest")
    prev_id, prev_dir, jobs = previous_jobs(reports)
    new = _job(reports / "r2")
    ok = bool(jobs) and reuse(new, prev_id, prev_dir, jobs["event_study-e"])
    assert ok == (damage == "none")
    if ok:
        assert (new.output_dir / "car_by_firm.csv").read_text() == "symbol,car\nAMBA,-0.01\n"
        assert (new.output_dir / "figs" / "a.svg").read_text() == "<svg/>" and new.html.read_text() == "<html/>"
    else:
        assert not (reports / "r2" / "events" / "e" / "secret.txt").exists()
        assert not new.output_dir.exists() or not any(new.output_dir.iterdir())
    assert (elsewhere / "secret.txt").read_text() == "not a run's"


# ----------------------------------------------------------------------------- 21 input as given


def test_case21_an_unknown_symbol_is_named_as_given(tmp_path, capsys):
    """The probe: --symbol 'AMBA ' said 'unknown symbol: AMBA' (a symbol the universe has)."""
    assert _main("study", "--symbol", "AMBA ", "--prices", str(tmp_path), "--out", str(tmp_path / "o")) == 2
    assert _error_line(capsys).startswith("error: unknown symbol: 'AMBA ' (known: ")
    assert _main("study", "--event", "a\tb", "--prices", str(tmp_path), "--out", str(tmp_path / "o")) == 2
    assert _error_line(capsys).startswith("error: unknown event id: 'a\\tb' (known: ")
    assert _main("study", "--symbol", "NOPE", "--prices", str(tmp_path), "--out", str(tmp_path / "o")) == 2
    assert _error_line(capsys).startswith("error: unknown symbol: NOPE (known: ")


# ----------------------------------------------------------------------------- 22 machine paths


def test_case22_a_prices_folder_outside_the_project_shows_only_its_name(tmp_path):
    """The probe: 'recorded CSV files in /home/.../prices' on the PDF's cover."""
    from types import SimpleNamespace

    from analysis.paths import PROJECT
    from analysis.report import provenance as prov
    from analysis.report.sections import front

    assert prov.display_path(Path("/home/someone/data/prices")) == "prices"
    assert prov.display_path(PROJECT / "data" / "events.csv") == "data/events.csv"
    assert prov.display_path(PROJECT.parent / "shared" / "prices") == "../shared/prices"
    assert prov.display_path("data/x.csv") == "data/x.csv"
    run = SimpleNamespace(cfg=SimpleNamespace(prices=Path("/home/someone/data/prices")), price_rows=[],
                          catalog=pd.DataFrame({"event_id": ["e"], "announced_at": ["2019-05-16"]}), event_ids=["e"])
    assert front.data_range(SimpleNamespace(run=run))["source"] == "recorded CSV files in prices"


# ----------------------------------------------------------------------------- Also


def test_also_a_benchmark_that_copies_the_firm_is_left_out_of_the_group_tests(tmp_path, shared_prices):
    """The probe: a benchmark that is an exact copy of the firm (residual s.d. 4e-23) entered the
    group tests. Now the firm-event is skipped with the reason; the others are tested without it."""
    import shutil

    from analysis.estimation.engine import REPLICATED_REASON
    from analysis.study import EventStudy

    px = tmp_path / "px"
    px.mkdir()
    for s in ("AMBA", "INTC", "NVDA", "^GSPC"):
        shutil.copy(shared_prices / f"{s}.csv", px / f"{s}.csv")
    shutil.copy(shared_prices / "AMBA.csv", px / "COPY.csv")
    (tmp_path / "u.csv").write_text("symbol,name,role,exchange,benchmark\nAMBA,Ambarella,supplier,XNAS,COPY\n"
                                    "INTC,Intel,supplier,XNAS,^GSPC\nNVDA,NVIDIA,supplier,XNAS,^GSPC\n")
    (tmp_path / "ef.csv").write_text("event_id,symbol,relation,source\n")
    (tmp_path / "links.csv").write_text("supplier,customer,source\n")  # no links: one supplier group
    res = EventStudy(universe=tmp_path / "u.csv", prices=px, event_ids=["huawei_entity_list_2019"], placebo_draws=0,
                     calibration_draws=0, event_firms=tmp_path / "ef.csv", supply_links=tmp_path / "links.csv").fit()
    assert res.skipped[["symbol", "reason"]].values.tolist() == [["AMBA", REPLICATED_REASON]]
    pf = res.tests[(res.tests["test"] == "portfolio") & (res.tests["window"] == "0:1")
                   & (res.tests["group"] == "supplier")].iloc[0]
    cars = res.car[res.car["window"] == "0:1"].set_index("symbol")["car"]
    assert pf["n"] == 2 and set(cars.index) == {"INTC", "NVDA"}
    assert pf["mean_car"] == pytest.approx(cars.mean(), abs=1e-12)


def test_also_a_benchmark_on_another_market_gets_a_note(tmp_path):
    from analysis.data import catalog

    f = tmp_path / "u.csv"
    f.write_text("symbol,name,role,exchange,benchmark\nAMBA,Ambarella,supplier,XNAS,000300.SS\n"
                 "INTC,Intel,supplier,XNAS,^GSPC\n002415.SZ,Hikvision,target,XSHE,000300.SS\n"
                 "0700.HK,Tencent,peer,XHKG,^HSI\n")
    with pytest.warns(UserWarning) as caught:
        u = catalog.load_universe(f)
    assert [str(w.message) for w in caught] == [
        (f"{f}: row 1, field 'benchmark': 000300.SS trades in mainland China, the security in US (XNAS): the "
         "market model matches their returns by date across different sessions, holidays and trading hours")]
    assert list(u.attrs["benchmark_notes"]) == ["AMBA"]
    assert catalog.benchmark_market("^HSI") == "Hong Kong" and catalog.benchmark_market("^XYZ") is None
    assert catalog.benchmark_market_note("XHKG", "2800.HK") == "" and catalog.benchmark_market_note("XNYS", "QQQ") == ""


@pytest.mark.parametrize("where", ['headline: {symbol: "AAPL"}', 'primary: {symbol: "AAPL"}',
                                   'parameters: {primary_symbols: ["AMBA", "TSLA"]}'])
def test_also_a_headline_symbol_outside_the_universe_is_refused(tmp_path, capsys, monkeypatch, where):
    cfg = tmp_path / "c.yml"
    cfg.write_text(f"{where}\nnotebooks: [{{name: a, path: {REPO / 'notebooks/event_study.ipynb'}, per_event: true}}]\n")
    _no_run(monkeypatch)
    assert _main("report", "--config", str(cfg), "--reports-dir", str(tmp_path / "r")) == 2
    line = _error_line(capsys)
    assert "is not in the universe" in line and ("AAPL" in line or "TSLA" in line)
    assert not (tmp_path / "r").exists()


def test_case2_the_shipped_config_lets_the_headline_choose_the_comparison(tmp_path):
    """pipeline.yml fixed the comparison notebook at 0:1 / portfolio, so a config copied from it
    with another headline computed 0:1 under the headline's label; now the headline decides."""
    from analysis.report.config import DEFAULT_CONFIG, load_config
    from analysis.report.jobs import build_jobs

    text = DEFAULT_CONFIG.read_text().replace('window: "0:1"', 'window: "-1:1"').replace("test: portfolio",
                                                                                      "test: bmp_kp")
    (tmp_path / "c.yml").write_text(text.replace("path: notebooks/", f"path: {REPO}/notebooks/"))
    jobs = build_jobs(load_config(tmp_path / "c.yml"), tmp_path / "run", ["ft_sdn_2022"], None)
    compare = next(j for j in jobs if j.name == "compare_events")
    assert (compare.parameters["window"], compare.parameters["test"]) == ("-1:1", "bmp_kp")


def test_case13_the_report_log_prints_no_escape_codes(capsys):
    from analysis.report.pipeline import _Log

    log = _Log()
    log("[1/2] event_study \x1b[2Jx ok")
    log.error("error: notebook failed: UserError: unknown event id: \x1b]0;pwned\x07")
    out = capsys.readouterr()
    assert "\x1b" not in out.out + out.err and "\x07" not in out.err
    assert out.out == "[1/2] event_study [2Jx ok\n" and not any("\x1b" in line for line in log.lines)


def test_case5_a_deeply_nested_manifest_or_marker_in_the_reports_folder_is_not_a_traceback(tmp_path):
    from analysis.report.reuse import previous_jobs

    reports = tmp_path / "reports"
    _finished_run(reports, "r1", "2026-02-01T00:00:00+00:00")
    (reports / "r1" / "manifest.json").write_text("[" * 100_000)
    os.symlink("r1", reports / "latest")
    assert previous_jobs(reports) == (None, None, {})
    (reports / "r2").mkdir()
    (reports / "r2" / folders.RUN_MARKER).write_text("[" * 100_000)
    assert folders.prune_runs(reports, keep=1, current="x") == []
