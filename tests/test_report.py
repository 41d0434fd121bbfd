"""The report pipeline: configuration, formatting, the executive summary, the ``latest`` switch,
and end to end (``python -m analysis report`` on the recorded prices, run by ``analysis.cli.main`` in
the test's process; PDF read back with pypdfium2).

The end-to-end tests are marked ``slow``; they need ``<repo>/../shared/prices`` and are skipped
without it, except when the CI environment variable is set (then they fail). They share two
pipeline runs (module-scoped fixtures): a good one, then a failing one (an unknown event id and a
deliberately broken notebook) into the same reports folder.
"""
from __future__ import annotations

import json
import os
import re
import textwrap
from functools import lru_cache
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from analysis.errors import UserError
from analysis import fmt

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


# --------------------------------------------------------------------------- fast unit tests


def test_number_formats_use_a_real_minus_and_fixed_decimals():
    assert fmt.pct(-0.076671) == "\u22127.67"
    assert fmt.pct(0.0008) == "0.08"
    assert fmt.pct(-0.00001) == "0.00"  # never "−0.00"
    assert fmt.prose("limit-down on day -4 (continues after day -1); day +2") == \
        "limit-down on day \u22124 (continues after day \u22121); day +2"
    assert fmt.num(np.nan) == "n/a"
    assert fmt.pvalue(0.01937) == "0.019"
    assert fmt.pvalue(0.0001) == "<0.001"
    assert fmt.p_equals(0.0001) == "p < 0.001"
    assert [fmt.stars(p) for p in (0.005, 0.03, 0.07, 0.2, np.nan)] == ["***", "**", "*", "", ""]
    assert fmt.significance(0.004) == "significant at 1%"
    assert fmt.significance(0.2) == "not significant at 10%"
    assert fmt.window_label("-1:1") == "[\u22121, +1]"
    assert fmt.window_label("0:5") == "[0, +5]"


def test_short_titles_cut_long_catalog_titles():
    from analysis.report.compare import short_title

    assert short_title("Commerce (BIS) adds Huawei to the Entity List; announced Wed 15 May") == \
        "Commerce (BIS) adds Huawei to the Entity List"
    assert short_title("Rule released (Wed 7 Aug 2019 during US hours; time unknown): bans purchases") == "Rule released"


def _write_config(path: Path, body: str) -> Path:
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


def test_config_errors_name_the_file_and_the_setting(tmp_path):
    from analysis.report.config import load_config

    bad = _write_config(tmp_path / "c.yml", """
        events: all
        colour: blue
        notebooks: [{name: e, path: notebooks/event_study.ipynb}]
    """)
    with pytest.raises(UserError, match=r"c.yml: 'colour': unknown setting"):
        load_config(bad)
    reserved = _write_config(tmp_path / "r.yml", """
        parameters: {output_dir: /tmp/x}
        notebooks: [{name: e, path: notebooks/event_study.ipynb}]
    """)
    with pytest.raises(UserError, match="set by the pipeline itself"):
        load_config(reserved)
    missing = _write_config(tmp_path / "m.yml", """
        notebooks: [{name: e, path: notebooks/nope.ipynb}]
    """)
    with pytest.raises(UserError, match="not found"):
        load_config(missing)


def test_default_config_and_overrides():
    from analysis.report.config import apply_overrides, load_config

    cfg = load_config()
    assert cfg.events is None and cfg.prices is None and cfg.workers == 2
    assert [s.name for s in cfg.notebooks] == ["event_study", "compare_events"]
    assert cfg.notebooks[0].per_event and not cfg.notebooks[1].per_event
    over = apply_overrides(cfg, prices="some/dir", events=["a", "b", "a"], refresh=True)
    assert over.prices == Path("some/dir").resolve() and over.events == ("a", "b") and over.reuse is False


def test_run_id_is_a_utc_timestamp():
    from datetime import datetime, timezone

    from analysis.report.pipeline import default_run_id

    assert default_run_id(datetime(2026, 11, 22, 3, 15, 0, tzinfo=timezone.utc)) == "20261122T031500Z"


def test_switch_latest_replaces_the_link_atomically(tmp_path):
    from analysis.report.pipeline import switch_latest

    (tmp_path / "run1").mkdir()
    (tmp_path / "run2").mkdir()
    switch_latest(tmp_path, "run1")
    assert os.readlink(tmp_path / "latest") == "run1"
    switch_latest(tmp_path, "run2")
    assert os.readlink(tmp_path / "latest") == "run2"
    assert (tmp_path / "latest").resolve() == (tmp_path / "run2").resolve()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".latest")]  # no temp link left behind
    (tmp_path / "latest").unlink()
    (tmp_path / "latest").mkdir()
    with pytest.raises(UserError, match="not a symlink"):
        switch_latest(tmp_path, "run1")


def test_error_message_names_notebook_and_cell(tmp_path):
    from analysis.report.jobs import Job, NotebookFailure, describe_error

    failure = NotebookFailure(cell_index=4, exec_count=3, ename="UserError", evalue="unknown event id: x",
                              source="study = ev.build_study(")
    job = Job(name="event_study", slug="event_study-x", notebook=REPO / "notebooks" / "event_study.ipynb",
              event_id="x", parameters={}, output_dir=tmp_path, executed=tmp_path / "e.ipynb",
              html=tmp_path / "e.html", kernel_log=tmp_path / "k.log", status="failed", error=failure)
    text = describe_error(job)
    assert text.startswith("notebook notebooks/event_study.ipynb (event_id=x) failed in cell 4 (In [3]")
    assert "UserError: unknown event id: x" in text
    assert str(failure) == ("failed in cell 4 (In [3], starting 'study = ev.build_study('): "
                            "UserError: unknown event id: x")


# --------------------------------------------------------------------------- end to end

SMALL_CONFIG = """
    title: "Test report"
    events: [{events}]
    factors: {factors}
    workers: 2
    headline: {{symbol: "002415.SZ", name: Hikvision, window: "-1:1", test: bmp_kp}}
    parameters:
      model: market
      windows: ["0:0", "0:1", "-1:1", "0:5"]
      estimation: "-250:-11"
      min_obs: 120
      placebo_draws: 50
      calibration_draws: 100
    notebooks:{before}
      - name: event_study
        path: notebooks/event_study.ipynb
        per_event: true
        parameters:
          robustness_models: [mean, market-adjusted, ff3]
          robustness_windows: ["-2:2"]
{after}
"""
COMPARE_NOTEBOOK = """
      - name: compare_events
        path: notebooks/compare_events.ipynb
        parameters: {placebo_draws: 0}"""
GOOD_EVENTS = ("nyt_hikvision_2019", "ft_sdn_2022")


def _pdf_text(page) -> str:
    """A page's text (pypdfium2), lines ending in \\n. A word broken at a line end by a hyphen comes
    back whole with its hyphen ("event-time"): PDFium marks that hyphen U+FFFE and drops the line
    break after it (pypdf gave "event-\\ntime")."""
    return page.get_textpage().get_text_range().replace("\r\n", "\n").replace("\ufffe", "-")


@lru_cache(maxsize=None)
def pdf_texts(path: Path) -> tuple[str, ...]:
    """Each page's text, read once per PDF (pypdfium2: 0.25 s for the 26-page test report, where
    pypdf took 5.9 s)."""
    import pypdfium2

    doc = pypdfium2.PdfDocument(str(path))
    try:
        return tuple(_pdf_text(doc[i]) for i in range(len(doc)))
    finally:
        doc.close()


@lru_cache(maxsize=None)
def pdf_text_depths(path: Path) -> tuple[float, ...]:
    """How far down each page its body text reaches: 0 at the top edge, 1 at the bottom (the
    footer, in the bottom 9% of the page, left out), from the lowest text box on the page."""
    import pypdfium2

    doc = pypdfium2.PdfDocument(str(path))
    try:
        depths = []
        for i in range(len(doc)):
            page = doc[i]
            height = page.get_height()
            text = page.get_textpage()
            bottoms = [text.get_rect(k)[1] for k in range(text.count_rects())]
            body = [y for y in bottoms if 0.09 * height < y < height]
            depths.append(1 - min(body) / height if body else 0.0)
        return tuple(depths)
    finally:
        doc.close()


def _report(reports: Path, config: Path, run_id: str, prices: Path) -> SimpleNamespace:
    """``python -m analysis report ...`` from the repository root, run by ``analysis.cli.main`` (what
    ``__main__`` calls) in this process: the pipeline's own interpreter would import pandas, the
    package, papermill and typst again (~4 s of CPU a run); its kernels are processes either way
    and get the environment the command had (``MPLBACKEND=Agg``, ``PYTHONWARNINGS=ignore``).
    ``returncode``, ``stdout``, ``stderr`` as from ``subprocess.run``; a traceback fails the test.
    (The command's process boundary: test_pipeline.py ends a report process with SIGTERM.)"""
    import contextlib
    import io

    from analysis.cli import main

    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.chdir(REPO), contextlib.redirect_stdout(out), \
            contextlib.redirect_stderr(err):
        mp.setenv("MPLBACKEND", "Agg")
        mp.setenv("PYTHONWARNINGS", "ignore")
        rc = main(["report", "--prices", str(prices), "--config", str(config), "--run-id", run_id,
                   "--reports-dir", str(reports)])
    return SimpleNamespace(returncode=rc, stdout=out.getvalue(), stderr=err.getvalue())


@pytest.fixture(scope="module")
def good_run(tmp_path_factory, shared_prices):
    prices = shared_prices
    factors = SHARED / "factors" / "F-F_Research_Data_Factors_daily.csv"
    base = tmp_path_factory.mktemp("report")
    reports = base / "reports"
    cfg = _write_config(base / "small.yml", SMALL_CONFIG.format(events=", ".join(GOOD_EVENTS), factors=factors,
                                                                 before="", after=COMPARE_NOTEBOOK))
    proc = _report(reports, cfg, "good1", prices)
    return {"proc": proc, "reports": reports, "run": reports / "good1", "base": base, "prices": prices,
            "factors": factors}


BROKEN_NOTEBOOK = """
      - name: broken_event_study
        path: {path}
        per_event: true"""


@pytest.fixture(scope="module")
def failed_run(good_run):
    """A second run after ``good1``: an unknown event id (every notebook fails on it) and, beside
    the unchanged event study (reused), a copy of it with a failing cell inserted; no comparison
    notebook (its run is covered by ``good1``). The broken notebook comes first in the
    configuration, so the PDF shows the event study's results."""
    import nbformat

    base = good_run["base"]
    broken = base / "broken_event_study.ipynb"
    nb = nbformat.read(str(REPO / "notebooks" / "event_study.ipynb"), as_version=4)
    nb.cells.insert(5, nbformat.v4.new_code_cell('raise RuntimeError("deliberately broken")'))
    nbformat.write(nb, str(broken))
    cfg = _write_config(base / "bad.yml", SMALL_CONFIG.format(events="nyt_hikvision_2019, no_such_event",
                                                              factors=good_run["factors"],
                                                              before=BROKEN_NOTEBOOK.format(path=broken),
                                                              after=""))
    proc = _report(good_run["reports"], cfg, "bad1", good_run["prices"])
    return {"proc": proc, "reports": good_run["reports"], "run": good_run["reports"] / "bad1", "broken": broken}


@pytest.mark.slow
@pytest.mark.shared_prices
def test_pipeline_builds_the_report_and_switches_latest(good_run):

    proc, run, reports = good_run["proc"], good_run["run"], good_run["reports"]
    assert proc.returncode == 0, proc.stderr
    # progress on stdout: one line per notebook with its time, and the switch of latest
    assert proc.stdout.count(" ok ") == len(GOOD_EVENTS) + 1, proc.stdout
    assert "latest -> good1" in proc.stdout and " ok " not in proc.stderr
    assert os.readlink(reports / "latest") == "good1"
    # executed notebooks, HTML copies without the code, figures and tables
    for slug in [f"event_study-{e}" for e in GOOD_EVENTS] + ["compare_events"]:
        assert (run / "notebooks" / f"{slug}.ipynb").is_file()
        html = (run / "notebooks" / f"{slug}.html").read_text(encoding="utf-8")
        assert "build_study(" not in html, "the HTML copy should hide the inputs"
        assert "<svg" in html or "<img" in html, "the HTML copy should show the figures"
        # stakeholders see no warnings or progress bars, and wide tables scroll inside the page
        assert "TqdmWarning" not in html and 'data-mime-type="application/vnd.jupyter.stderr"' not in html
        assert "widget-view+json" not in html
        assert html.count("<table") == html.count('<div class="report-table-scroll"><table') > 0
        # a reused kernel looks fresh to every notebook: its cells count from 1
        counts = [c.get("execution_count") for c in json.loads((run / "notebooks" / f"{slug}.ipynb").read_text())["cells"]
                  if c["cell_type"] == "code"]
        assert counts[0] == 1 and counts == sorted(counts), counts
    from analysis.report import artifacts

    for ev in GOOD_EVENTS:
        out = run / "events" / ev
        for name in ("car.csv", "tests.csv") + sum((a.files for a in (
                artifacts.CAR_PATH, artifacts.CAR_BY_FIRM, artifacts.GROUP_TESTS, artifacts.ROBUSTNESS,
                artifacts.ROBUSTNESS_FIRMS, artifacts.META)), ()):
            assert (out / name).is_file(), f"{ev}: {name} missing"
        # artifacts are decimals: the firm table's CAR is car.csv's
        firms = artifacts.read_table(out, artifacts.CAR_BY_FIRM)
        car = pd.read_csv(out / "car.csv").merge(firms, on=["symbol", "window"], suffixes=("", "_firm"))
        np.testing.assert_allclose(car["car_firm"], car["car"], rtol=1e-8)
    for a in (artifacts.HEATMAP, artifacts.GROUP_BY_EVENT, artifacts.KIND_COMPARISON, artifacts.YEAR_COMPARISON):
        for name in a.files:
            assert (run / "compare_events" / name).is_file(), name
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "ok" and all(j["status"] == "ok" for j in manifest["jobs"])
    # the run's study set (the CLI's contract), every event, Holm over all of them
    study = pd.read_csv(artifacts.study_dir(run) / "tests.csv")
    assert sorted(study["event_id"].unique()) == sorted(GOOD_EVENTS)
    for name in ("car.csv", "abnormal_returns.csv", "estimation.csv", "skipped.csv", "sensitivity.csv"):
        assert (artifacts.study_dir(run) / name).is_file(), name
    one = pd.read_csv(run / "events" / GOOD_EVENTS[0] / "tests.csv")
    mine = study[study["event_id"] == GOOD_EVENTS[0]].reset_index(drop=True)
    np.testing.assert_allclose(mine["p_value"], one["p_value"], rtol=1e-9)
    # one kernel per worker, reused: at most `workers` kernel logs for the 3 notebooks
    assert 1 <= len(list((run / "logs").glob("kernel-*.log"))) <= 2

    # the PDF: enough pages, a page number on every page, the headline numbers of car.csv
    texts = pdf_texts(run / "report.pdf")
    n = len(texts)
    assert n > 10
    for i, text in enumerate(texts, start=1):
        assert f"Page {i} of {n}" in text, f"page {i} has no page number"
    full = "\n".join(texts)
    for ev in GOOD_EVENTS:
        car = pd.read_csv(run / "events" / ev / "car.csv")
        row = car[(car["symbol"] == "002415.SZ") & (car["window"] == "-1:1")].iloc[0]
        assert fmt.pct(row["car"]) in full, f"{ev}: Hikvision's CAR {fmt.pct(row['car'])} not in the PDF"
        assert fmt.pct(row["car_se"]).lstrip(fmt.MINUS) in full
        assert ev not in full  # stakeholders see the event's short title, never its id
    for heading in ("The answer", "Caveats", "Event timeline", "Across events", "Robustness", "Methods",
                    "Appendix", "SHA-256", "Placebo"):
        assert heading in full, heading
    assert "Fama-French 3" in full  # the ff3 robustness run on the US suppliers (factors configured)


@pytest.mark.slow
@pytest.mark.shared_prices
def test_unknown_event_fails_the_run_and_keeps_latest(good_run, failed_run):
    assert good_run["proc"].returncode == 0, good_run["proc"].stderr
    reports, proc = failed_run["reports"], failed_run["proc"]
    assert proc.returncode == 1, proc.stderr
    err = proc.stderr
    assert "notebook notebooks/event_study.ipynb (event_id=no_such_event) failed in cell" in err
    assert "UserError: unknown event id: no_such_event" in err
    assert os.readlink(reports / "latest") == "good1", "a failed run must not replace the last good report"
    # the unchanged NYT notebook is reused from the last good run, not executed again
    assert re.search(r"\] event_study nyt_hikvision_2019 +reused", proc.stdout), proc.stdout
    # the PDF is still built: the failure in the appendix, the other event present
    text = "\n".join(pdf_texts(reports / "bad1" / "report.pdf"))
    assert "INCOMPLETE" in text and "no_such_event" in text and "Failures" in text
    # events by short title (data/events.csv), not by id
    assert "NYT: Hikvision blacklist mulled (2019): CAR by firm and window" in " ".join(text.split())


@pytest.mark.slow
@pytest.mark.shared_prices
def test_a_broken_notebook_is_named_with_its_cell(good_run, failed_run):
    assert good_run["proc"].returncode == 0, good_run["proc"].stderr
    reports, proc, broken = failed_run["reports"], failed_run["proc"], failed_run["broken"]
    assert proc.returncode == 1, proc.stderr
    # papermill adds the injected-parameters cell after the parameters cell: cell 5 moves to 6
    assert f"notebook {broken} (event_id=nyt_hikvision_2019) failed in cell 6" in proc.stderr
    assert "RuntimeError: deliberately broken" in proc.stderr
    assert os.readlink(reports / "latest") == "good1"
    assert (reports / "bad1" / "notebooks" / "broken_event_study-nyt_hikvision_2019.html").is_file()


@pytest.mark.slow
@pytest.mark.shared_prices
def test_the_answer_page_quotes_only_tests_csv(good_run):
    """Page 2 is "The answer": its forest plot, the four questions, every percentage one of
    the primary rows' estimate, ci_low, ci_high or mde in the tests.csv the PDF builder read,
    of the pooled rows of window 0:1 in its pooled.csv, or a firm's 0:1 CAR in its car.csv
    (absolute value, to the printed precision); no event id, no seeds/, no absolute path, no
    test statistic."""

    from analysis.report import summary_text

    run = good_run["run"]
    assert good_run["proc"].returncode == 0, good_run["proc"].stderr
    data = json.loads((run / "report_data.json").read_text(encoding="utf-8"))
    source = data["answer"]["source"]
    assert source, data["answer"].get("missing")
    tests = pd.read_csv(run / source)
    primary = tests[tests["primary"].astype(str) == "True"]
    assert len(primary) == 2 * len(GOOD_EVENTS)  # named firms and US suppliers of each event
    assert (run / data["answer"]["figure"]).is_file()
    pages = pdf_texts(run / "report.pdf")
    page = pages[1]
    flat = " ".join(page.split())
    assert flat.startswith("The answer") or "The answer" in flat.split(". ")[0]
    assert "Methods." in flat  # the page's last line: the answer fits on its one page
    assert " ".join(pages[2].split()).startswith("Contents")
    for q in ("Did the news move the firms it named?", "Did it move their US suppliers?",
              "Did press reports move prices as much as official acts?"):
        assert q in flat, q
    nd = summary_text.DECIMALS
    values = {fmt.pct(abs(v), nd) for col in ("estimate", "ci_low", "ci_high", "mde") for v in primary[col].dropna()}
    pooled = pd.read_csv(run / source).iloc[:0] if not data["answer"].get("pooled_source") else \
        pd.read_csv(run / data["answer"]["pooled_source"])
    pooled = pooled[pooled["window"] == "0:1"]
    values |= {fmt.pct(abs(v), nd) for col in ("estimate", "ci_low", "ci_high") for v in pooled[col].dropna()}
    car = pd.read_csv(Path(run / source).parent / "car.csv")
    values |= {fmt.pct(abs(v), nd) for v in car.loc[car["window"] == "0:1", "car"].dropna()}
    printed = re.findall(r"(\d+\.\d+)\s?%", flat)
    assert printed, "the answer page prints no percentage"
    for p in printed:
        assert p in values, f"{p}% on the answer page is not in {source}"
    # claimed rows (Holm on p_history < 0.05, attributable) are quoted with their interval; a run
    # without p_holm_history claims none; the rest are exploratory, with the detectable effect
    if "p_holm_history" in primary.columns:
        ok = primary["attributable"].astype(str).str.lower() != "false" if "attributable" in primary.columns else True
        for _, r in primary[(primary["p_holm_history"] < 0.05) & ok].iterrows():
            assert f"95% CI {fmt.pct(r['ci_low'], nd)}% to {fmt.pct(r['ci_high'], nd)}%" in flat
    else:
        assert "no move is claimed" in flat
    assert "would detect moves larger than" in flat
    # house style: no ids, seed files, absolute paths or t statistics
    events = pd.read_csv(REPO / "data" / "events.csv")
    for ev in events["event_id"]:
        assert ev not in flat, ev
    assert "seeds/" not in flat
    assert not re.search(r"(^|\s)/(work|home|tmp|usr|var)/", flat), flat
    assert str(REPO) not in flat and str(good_run["base"]) not in flat
    assert not re.search(r"\bt\s?=\s?", flat)
    assert "Events" in flat and "Caveats" in flat  # the pointer to where the statistics are


@pytest.mark.slow
@pytest.mark.shared_prices
def test_pdf_reading_guide_adjusted_p_and_oversized_appendix(good_run):
    """The event tables show only the tests that hold their size here and say where the others
    went; Appendix A has those, every event; the reading guide comes before the first table;
    the across-events table prints each primary row's Holm p from the run's tests.csv; the
    whole PDF names no event id, seed file or absolute path."""

    from analysis.inference.battery import describe
    from analysis.inference.design import oversized_here
    from analysis.report import artifacts
    from analysis.vocab import group_label

    run = good_run["run"]
    assert good_run["proc"].returncode == 0, good_run["proc"].stderr
    data = json.loads((run / "report_data.json").read_text(encoding="utf-8"))
    over = {describe(t, "label") for t in oversized_here()}
    assert over
    for ev in data["events"]:
        heads = {c["t"] for c in ev["test_table"]["header"][0]}
        assert describe("bmp_kp", "label") in heads and not heads & over, ev["short_title"]
        assert "Appendix A" in ev["test_table"]["note"]
    app = data["oversized"]["table"]
    assert {c["t"] for c in app["header"][0][3:]} == over
    assert [r[0]["t"] for r in app["rows"] if len(r) == 1] == [ev["short_title"] for ev in data["events"]]

    catalog = pd.read_csv(REPO / "data" / "events.csv")
    titles = dict(zip(catalog["event_id"], catalog["short_title"]))
    study = pd.read_csv(artifacts.study_dir(run) / "tests.csv")
    moved = data["compare"]["moved_table"]
    columns = [c["t"] for c in moved["header"][0]]
    # SMALL_CONFIG's headline: window -1:1, the KP-adjusted BMP test (mean CAR; BH q, never Holm)
    assert moved["caption"].endswith("mean CAR[\u22121, +1]")
    rows = study[(study["test"] == "bmp_kp") & (study["window"] == "-1:1") & study["p_value"].notna()]
    assert len(rows) >= 4
    for r in rows.itertuples(index=False):
        row = next(x for x in moved["rows"] if x[1]["t"] == titles[r.event_id])
        c = row[columns.index(f"{group_label(r.group)} %")]
        assert c["t"] == fmt.pct(r.mean_car)
        q = fmt.pvalue(r.q_bh)
        assert c["s"].split("\n")[1] == (f"BH q = {q}" if not q.startswith("<") else f"BH q < {q[1:]}") + fmt.stars(
            r.q_bh)

    texts = pdf_texts(run / "report.pdf")
    full = " ".join(" ".join(texts).split())
    assert full.index("How to read the tables") < full.index("CAR by firm and window")
    assert "Appendix: tests oversized in this design" in full
    for ev in catalog["event_id"]:
        assert ev not in full, ev
    assert "seeds/" not in full
    assert not re.search(r"(^|\s)/(work|home|tmp|usr|var)/", full)
    assert str(REPO) not in full  # (this test's own config file lies outside the project: shown as ../..)



@pytest.mark.slow
@pytest.mark.shared_prices
def test_pdf_layout_fills_the_event_pages_and_prints_shared_legends_once(good_run):
    """Events follow one another: no page of the event section but its last ends in its top half
    (a page holding only a volume table reached 0.2 of the page); the legends of the tests and of
    abnormal volume are in the reading guide, not under each table; the guide lists only the
    groups of the run's tables; benchmarks by name; stars after the parenthesis everywhere."""
    from analysis.inference.battery import describe
    from analysis.report import artifacts

    run = good_run["run"]
    assert good_run["proc"].returncode == 0, good_run["proc"].stderr
    data = json.loads((run / "report_data.json").read_text(encoding="utf-8"))
    depths = pdf_text_depths(run / "report.pdf")
    texts = [" ".join(t.split()) for t in pdf_texts(run / "report.pdf")]
    start = next(i for i, t in enumerate(texts) if "How to read the tables" in t)
    end = next(i for i, t in enumerate(texts) if i > start and "4 Across events" in t)
    assert end - start >= 2
    for i in range(start, end - 1):
        assert depths[i] > 0.5, f"page {i + 1}: {depths[i]:.2f}"

    full = " ".join(texts)
    assert full.count("Campbell & Wasley") == 1  # the volume legend, once (reading guide)
    for ev in data["events"]:
        assert ev["volume_table"]["note"] == "CAV: see How to read the tables."
        for spec in (ev["firm_table"], ev["test_table"]):
            assert "see How to read the tables" in spec["note"]
            assert "read from the p-value as printed" not in spec["note"]
            for t in ("portfolio", "sq", "bmp_kp", "corrado"):
                assert describe(t, "description") not in spec["note"]

    study = pd.read_csv(artifacts.study_dir(run) / "tests.csv")
    labels = [g["label"] for g in data["reading"]["groups"]]
    assert "Targets" not in labels and set(study["group"]) == {"named", "peer", "supplier", "supplier_other", "all"}
    assert labels == ["Named firms", "Peers", "US suppliers", "Other US suppliers", "All firms"]

    assert "S&P 500 (^GSPC)" in full and "CSI 300 (000300.SS)" in full
    prices = {r[0]["s"]: r[0]["t"] for r in data["provenance"]["prices_table"]["rows"]}
    assert prices["^GSPC"] == "S&P 500" and prices["000300.SS"] == "CSI 300"
    # '(0.006)***', never '(0.006***)', in every table of the PDF
    dump = json.dumps(data, ensure_ascii=False)
    assert not re.search(r"\([^()]*\d\*+\)", dump) and re.search(r"\([^()]*\d\)\*+", dump)

def test_robustness_tables_have_rows_for_the_headline_test(good_run):
    """The robustness runs carry the headline test, so its tables are never headers alone: every
    studied event has a row under each model, and each printed CAR is the saved robustness row's."""
    from analysis.report import artifacts

    run = good_run["run"]
    assert good_run["proc"].returncode == 0, good_run["proc"].stderr
    data = json.loads((run / "report_data.json").read_text(encoding="utf-8"))
    models = data["robustness"]["models_table"]
    assert len(models["rows"]) >= len(GOOD_EVENTS)
    assert data["robustness"]["windows_table"]["rows"]
    robust = artifacts.read_table(run / "events" / "ft_sdn_2022", artifacts.ROBUSTNESS)
    r = robust[(robust["test"] == "bmp_kp") & (robust["window"] == "-1:1") & (robust["model"] == "mean")
               & (robust["group"] == "named")].iloc[0]
    columns = [c["t"] for c in models["header"][0]]
    title = pd.read_csv(REPO / "data" / "events.csv").set_index("event_id").loc["ft_sdn_2022", "short_title"]
    event, rows = None, {}
    for row in models["rows"]:
        event = row[0]["t"] or event
        rows[(event, row[1]["t"])] = row
    row = rows[(title, "Named firms")]
    assert row[columns.index("Constant mean %")]["t"] == fmt.pct(r["mean_car"])


def test_robustness_prints_the_portfolio_car_beside_the_portfolio_test():
    """Beside the portfolio test the table prints the portfolio's CAR (estimate), not the firms'
    mean CAR, and says so; beside another test, the mean CAR."""
    from analysis.report.sections.robustness import models_table

    frame = pd.DataFrame({"model": ["market", "market"], "scope": ["all firms"] * 2, "event_id": ["e", "e"],
                          "group": ["named", "named"], "window": ["0:1", "0:1"], "n": [4, 4],
                          "mean_car": [-0.04, -0.04], "estimate": [-0.05, float("nan")],
                          "test": ["portfolio", "bmp_kp"], "statistic": [-2.5, -2.0], "p_value": [0.02, 0.06]})
    spec = models_table(frame, ["market"], "0:1", "portfolio")
    assert spec["rows"][0][2]["t"] == "\u22125.00" and "portfolio CAR" in spec["caption"]
    assert spec["note"].startswith("Portfolio CAR in percent")
    spec = models_table(frame, ["market"], "0:1", "bmp_kp")
    assert spec["rows"][0][2]["t"] == "\u22124.00" and "mean CAR" in spec["caption"]


@pytest.mark.slow
@pytest.mark.shared_prices
def test_pdf_names_no_data_file_outside_the_provenance_record(good_run):
    """Stakeholders read names, not files: the data files behind a statement (the record of other
    news, supply links, exposure figures, merger periods, the event catalog) and the run's result
    files are named only in the provenance record (the pages that list each input with its
    SHA-256), never in the text, tables, captions or notes the stakeholder reads."""
    files = ("data/confounders.csv", "data/supply_links.csv", "data/exposure.csv", "merger_periods.csv",
             "data/events.csv", "exposure_fit.csv", "pooled.csv", "sensitivity.csv")
    pages = pdf_texts(good_run["run"] / "report.pdf")
    body = [(i + 1, " ".join(t.split())) for i, t in enumerate(pages) if not re.search(r"\b[0-9a-f]{64}\b", t)]
    assert len(body) > 5
    found = [(i, f) for i, t in body for f in files if f in t.replace("/ ", "/")]
    assert not found, found
