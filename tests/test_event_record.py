"""docs/events.md: generated from the data files by ``python -m analysis events-doc`` and current
(issue 18); the record's day 0s, firms and news checked on small hand-made files."""
from __future__ import annotations

import subprocess
import sys

import pandas as pd

from analysis.report import event_record


def test_docs_events_md_is_current():
    """Fails when a data file changed without re-running the command."""
    path = event_record.EVENTS_DOC
    assert path.is_file(), f"{path} missing: run {event_record.COMMAND}"
    assert path.read_text(encoding="utf-8") == event_record.events_doc_text(), \
        f"{path} is stale: run {event_record.COMMAND}"


def _files(tmp_path):
    def w(name, text):
        p = tmp_path / name
        p.write_text(text)
        return p

    return dict(
        events=w("e.csv", "event_id,announced_at,title,kind,source\n"
                          "a_1,2022-11-25T14:54-05:00,After the half-day close (hour from a wire copy),action,FCC 22-84\n"
                          "b_2,2021-06-03,Removes one firm (hour unknown),action,Executive Order 14032\n"),
        universe=w("u.csv", "symbol,name,role,exchange,benchmark\n"
                            "002415.SZ,Hikvision,target,XSHE,000300.SS\n603019.SS,Sugon,peer,XSHG,000300.SS\n"
                            "AMD,AMD,supplier,XNAS,^GSPC\n"),
        event_firms=w("f.csv", "event_id,symbol,relation,source,carried_over\n"
                               "a_1,002415.SZ,named,'Hangzhou Hikvision' in the order,\n"
                               "b_2,603019.SS,removed,not in the annex,\n"),
        event_dates=w("d.csv", "event_id,date_kind,announced_at,source\na_1,first_report,2022-10-13,Axios\n"),
        confounders=w("c.csv", "announced_at,symbol,markets,severity,what,source\n"
                               "2022-11-27,,CN,minor,Weekend protests,Business Standard\n"
                               "2022-11-29T16:05-05:00,AMD,US,major,AMD news after the close,8-K\n"
                               "2022-11-28T14:00-05:00,,US,minor,US-only statement,Fed\n"),
    )


def test_record_by_hand(tmp_path):
    rec = {r["event_id"]: r for r in event_record.build_record(**event_record.load_record_inputs(**_files(tmp_path)))}
    a = rec["a_1"]
    # 14:54 ET on Fri 25 Nov 2022 is after that day's 13:00 close: US and A-share day 0 Mon 28 Nov
    assert a["timing"] == "14:54 UTC-05:00"
    assert set(a["day0"].values()) == {pd.Timestamp("2022-11-28")}
    assert [f["relation"] for f in a["firms"]] == ["named"]
    assert a["dates"][0]["day0"]["XNAS"] == pd.Timestamp("2022-10-13")
    assert a["dates"][0]["day0"]["XSHE"] == pd.Timestamp("2022-10-14")
    news = {n["what"]: n for n in a["news"]}
    assert news["Weekend protests"]["days"] == {"CN": 0}  # Sunday news: first A-share session = day 0
    assert news["AMD news after the close"]["days"] == {"US": 2}  # 29 Nov after the close: 30 Nov = day +2
    assert news["AMD news after the close"]["severity"] == "major"
    assert news["US-only statement"]["days"] == {"US": 0}  # never on the A-share cell
    b = rec["b_2"]
    assert b["timing"].startswith("date only") and b["day0"]["XNAS"] == pd.Timestamp("2021-06-03")
    assert b["day0"]["XSHG"] == pd.Timestamp("2021-06-04") and b["news"] == []
    text = event_record.render_markdown(list(rec.values()))
    assert "Sugon (603019.SS): removed from a list. not in the annex" in text
    assert "**major** (US day +2; 2022-11-29T16:05-05:00) AMD: AMD news after the close" in text
    assert "- **Day 0:** Shenzhen, Shanghai, Nasdaq 28 Nov 2022" in text


def test_events_doc_command_writes_and_checks(tmp_path, capsys):
    """The stale check through ``python -m analysis`` (its exit code and one line); writing and the
    passing check through ``analysis.cli.main``, what ``python -m analysis`` runs (a fresh
    interpreter each costs about 2 s of CPU)."""
    from analysis.cli import main

    out = tmp_path / "events.md"
    stale = subprocess.run([sys.executable, "-m", "analysis", "events-doc", "--out", str(out), "--check"],
                           capture_output=True, text=True)
    assert stale.returncode == 2 and "not current" in stale.stderr and stale.stderr.count("\n") == 1
    assert main(["events-doc", "--out", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == event_record.events_doc_text()
    assert main(["events-doc", "--out", str(out), "--check"]) == 0
    assert main(["events-doc", "--out", str(tmp_path / "none.md"), "--check"]) == 2
    assert capsys.readouterr().err.count("not current") == 1
