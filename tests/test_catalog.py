"""The shipped event catalogue and universe, their loaders' validation, and announced_at parsing."""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from analysis.data.catalog import (
    CONFOUNDER_COLUMNS,
    DEFAULT_EVENTS,
    DEFAULT_UNIVERSE,
    EVENT_COLUMNS,
    EVENT_DATE_COLUMNS,
    EVENT_FIRM_COLUMNS,
    SHORT_TITLE_MAX,
    UNIVERSE_COLUMNS,
    load_confounders,
    load_event_dates,
    load_event_firms,
    load_events,
    load_universe,
    parse_announced_at,
    select_events,
    select_universe,
)
from analysis.errors import UserError

# --- the shipped files -------------------------------------------------------------------------

REQUIRED = {  # event_id: (kind, announced)
    "huawei_entity_list_2019": ("action", pd.Timestamp("2019-05-15 22:00", tz="UTC")),
    "nyt_hikvision_2019": ("report", pd.Timestamp("2019-05-22 00:00", tz="UTC")),
    "ndaa889_rule_2019": ("action", pd.Timestamp("2019-08-07T18:00Z")),
    "entity_list_28_2019": ("action", pd.Timestamp("2019-10-07 22:00", tz="UTC")),
    "ft_sdn_2022": ("report", pd.Timestamp("2022-05-04")),
}


def test_shipped_events_have_the_required_events():
    events = load_events().set_index("event_id")
    for event_id, (kind, announced) in REQUIRED.items():
        row = events.loc[event_id]
        assert row["kind"] == kind, event_id
        assert row["announced"] == announced, event_id
        assert row["announced"].tzinfo == announced.tzinfo, event_id
        assert row["date_only"] == (announced.tzinfo is None), event_id


def test_shipped_events_are_chronological():
    events = load_events()
    keys = [ts.tz_localize(None) if ts.tzinfo else ts for ts in events["announced"]]
    assert keys == sorted(keys)


#: An official document: Federal Register notice, public law, executive order, FCC document or
#: docket, a DoD list under its statute, a Treasury release.
OFFICIAL = re.compile(r"\b\d+ FR \d+\b|Pub\. L\. \d+-\d+|Executive Order \d+|\bDA \d+-\d+|\bFCC \d+-\d+"
                      r"|Docket No\. \d+-\d+|DoD .*sec\. 12\d\d|Treasury press release")


def test_shipped_actions_cite_an_official_document():
    events = load_events()
    for _, row in events[events["kind"] == "action"].iterrows():
        assert OFFICIAL.search(row["source"]), row["event_id"]


def test_shipped_catalog_covers_2018_to_2022_with_short_titles():
    events = load_events()
    years = {ts.year for ts in events["announced"]}
    assert len(events) >= 12 and {2018, 2019, 2020, 2021, 2022} <= years
    assert all(0 < len(t) <= SHORT_TITLE_MAX for t in events["short_title"])
    assert events["short_title"].is_unique
    for _, row in events[events["date_only"]].iterrows():  # no hour: the source says so
        assert "unknown" in (row["title"] + row["source"]).lower() or row["kind"] == "report", row["event_id"]


def test_shipped_event_firms_dates_and_confounders_load_against_the_catalog():
    events, uni = load_events(), load_universe()
    firms = load_event_firms(events=events["event_id"], symbols=uni["symbol"])
    named = firms[firms["relation"] == "named"].groupby("event_id")["symbol"].apply(set)
    assert named["entity_list_28_2019"] == {"002415.SZ", "002236.SZ", "002230.SZ", "300188.SZ"}
    assert named["ft_sdn_2022"] == {"002415.SZ"}
    # the Oct 2022 1260H update added Dahua and (as far as can be told) Sugon; Hikvision was on the
    # first 1260H list of June 2021, itself the continuation of the sec. 1237 list (issue 18)
    carried = firms[firms["carried_over"]]
    assert set(zip(carried["event_id"], carried["symbol"])) == {("dod_1260h_list_2022", "002415.SZ"),
                                                                ("dod_1260h_list_2021", "002415.SZ"),
                                                                ("bloomberg_five_2019", "002415.SZ"),
                                                                ("bloomberg_five_2019", "002236.SZ")}
    # the Bloomberg report of May 2019 named iFlytek and Meiya Pico; EO 14032 removed Sugon
    assert named["bloomberg_five_2019"] >= {"002230.SZ", "300188.SZ"}
    removed = firms[firms["relation"] == "removed"]
    assert set(zip(removed["event_id"], removed["symbol"])) == {("eo14032_2021", "603019.SS")}
    assert "huawei_entity_list_2019" not in named  # it named no firm of the universe ...
    assert "huawei_entity_list_2019" in set(firms["event_id"])  # ... and the file says so
    dates = load_event_dates(events=events).set_index(["event_id", "date_kind"])["announced_at"]
    assert dates[("far889_partb_rule_2020", "publication")] == "2020-07-14"
    assert dates[("ns_cmic_2021", "first_report")] == "2021-12-15"
    assert dates[("fcc_equipment_ban_2022", "first_report")] == "2022-10-13"
    assert dates[("huawei_entity_list_2019", "publication")] == "2019-05-21"
    assert dates[("entity_list_28_2019", "publication")] == "2019-10-09"
    conf = load_confounders(symbols=uni["symbol"])
    assert len(conf) and set(conf["symbol"]) - {""} <= set(uni["symbol"])


def test_every_seed_file_cited_exists_and_every_seed_is_used(shared_seeds):
    seeds = shared_seeds
    cited = set()
    for _, row in load_events().iterrows():
        files = re.findall(r"seeds/([\w.-]+\.txt)", row["source"])
        for name in files:
            assert (seeds / name).is_file(), f"{row['event_id']}: seeds/{name} not found"
        cited.update(files)
    assert cited == {p.name for p in seeds.glob("*.txt")}


def test_shipped_universe_roles_and_exchanges():
    uni = load_universe().set_index("symbol")
    targets = {"002415.SZ", "002236.SZ", "002230.SZ", "300188.SZ", "000063.SZ"}
    suppliers = {"AMBA", "INTC", "NVDA", "AMD", "XLNX", "WDC", "STX",  # and Huawei's, named by the press in May 2019
                 "QCOM", "AVGO", "MU", "QRVO", "SWKS", "LITE", "COHR", "TXN", "ADI", "MRVL", "FN", "AAOI", "SYNA",
                 "NPTN", "IPHI", "ACIA"}
    nyse = {"FN", "NPTN", "IPHI"}
    assert set(uni.index[uni["role"] == "target"]) == targets
    assert set(uni.index[uni["role"] == "supplier"]) == suppliers
    assert set(uni.index[uni["role"] == "peer"]) == {"603019.SS", "000977.SZ"}
    for symbol, row in uni.iterrows():
        china = {".SZ": "XSHE", ".SS": "XSHG"}.get(symbol[-3:])
        if china:
            assert (row["exchange"], row["benchmark"]) == (china, "000300.SS"), symbol
        else:
            assert (row["exchange"], row["benchmark"]) == ("XNYS" if symbol in nyse else "XNAS", "^GSPC"), symbol


@pytest.mark.shared_prices
def test_universe_symbols_and_benchmarks_have_recorded_prices(shared_prices):
    prices = shared_prices
    uni = load_universe()
    for symbol in set(uni["symbol"]) | set(uni["benchmark"]):
        path = prices / f"{symbol}.csv"
        assert path.is_file(), f"no recorded prices for {symbol}"
        frame = pd.read_csv(path)
        assert frame["adj_close"].notna().sum() > 250, symbol


# --- bad input -----------------------------------------------------------------------------------

EVENT_HEADER = ",".join(EVENT_COLUMNS)
GOOD_EVENT = "a_1,2019-05-15T18:00-04:00,A title,action,seeds/x.txt"
UNIVERSE_HEADER = ",".join(UNIVERSE_COLUMNS)
GOOD_SECURITY = "002415.SZ,Hikvision,target,XSHE,000300.SS"


def write(tmp_path, name, *lines) -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def expect_error(loader, path, row, field):
    with pytest.raises(UserError) as info:
        loader(path)
    msg = str(info.value)
    assert str(path) in msg
    assert f"row {row}," in msg
    assert f"field '{field}'" in msg
    return msg


def test_good_minimal_files_load(tmp_path):
    events = load_events(write(tmp_path, "e.csv", EVENT_HEADER, GOOD_EVENT))
    assert list(events.columns) == [*EVENT_COLUMNS, "short_title", "announced", "date_only"]
    assert events.loc[0, "short_title"] == "A title"  # no short_title column: the title
    assert events.loc[0, "announced"] == pd.Timestamp("2019-05-15 22:00", tz="UTC")
    uni = load_universe(write(tmp_path, "u.csv", UNIVERSE_HEADER, GOOD_SECURITY))
    assert list(uni.columns) == list(UNIVERSE_COLUMNS)
    assert uni.loc[0, "symbol"] == "002415.SZ"


def test_columns_in_any_order_with_quoted_commas(tmp_path):
    path = write(tmp_path, "e.csv", "kind,event_id,title,announced_at,source",
                 'report,b,"Title, with comma",2020-01-02,"src, x"')
    events = load_events(path)
    assert events.loc[0, "title"] == "Title, with comma"
    assert events.loc[0, "date_only"]


E, U = EVENT_HEADER, UNIVERSE_HEADER
EF, ED, CF = (",".join(c) for c in (EVENT_FIRM_COLUMNS, EVENT_DATE_COLUMNS, CONFOUNDER_COLUMNS))
#: the catalog and universe the files describing events are checked against
KNOWN_EVENTS = pd.DataFrame({"event_id": ["a_1", "b_2"],
                             "announced": [pd.Timestamp("2019-05-15 22:00", tz="UTC"), pd.Timestamp("2020-01-02")]})
KNOWN_SYMBOLS = ["002415.SZ", "AMBA"]


def firms_loader(path):
    return load_event_firms(path, events=KNOWN_EVENTS["event_id"], symbols=KNOWN_SYMBOLS)


def dates_loader(path):
    return load_event_dates(path, events=KNOWN_EVENTS)


def confounders_loader(path):
    return load_confounders(path, symbols=KNOWN_SYMBOLS)


# loader, header, rows, bad row, bad field, words the message must also hold
BAD_INPUT = {
    "events missing column": (load_events, "event_id,announced_at,title,kind", ["a,2019-05-15,t,action"],
                              0, "source", ["missing column"]),
    "events unknown column": (load_events, E + ",note", [GOOD_EVENT + ",x"], 0, "column 6", ["unknown column"]),
    "events empty field": (load_events, E, [GOOD_EVENT, "b,2019-05-16,,report,src"], 2, "title", ["empty"]),
    "events bad date": (load_events, E, ["a,2019-02-30,t,action,src"], 1, "announced_at", []),
    "events time without offset": (load_events, E, [GOOD_EVENT, "b,2019-05-21T20:00,t,report,src"], 2,
                                   "announced_at", ["offset"]),
    "events unknown kind": (load_events, E, ["a,2019-05-15,t,rumour,src"], 1, "kind", ["rumour"]),
    "events duplicate id": (load_events, E, [GOOD_EVENT, "x,2019-05-16,t,report,s", GOOD_EVENT], 3, "event_id",
                            ["duplicate", "row 1"]),
    "events bad id": (load_events, E, ["Bad Id,2019-05-15,t,action,src"], 1, "event_id", []),
    "universe missing column": (load_universe, "symbol,name,role,exchange", ["AMBA,Ambarella,supplier,XNAS"], 0,
                                "benchmark", ["missing column"]),
    "universe unknown column": (load_universe, U + ",sector", [GOOD_SECURITY + ",tech"], 0, "column 6",
                                ["unknown column"]),
    "universe empty field": (load_universe, U, ["AMBA,,supplier,XNAS,^GSPC"], 1, "name", []),
    "universe unknown role": (load_universe, U, [GOOD_SECURITY, "AMBA,Ambarella,customer,XNAS,^GSPC"], 2, "role",
                              ["customer"]),
    "universe unknown exchange": (load_universe, U, ["AMBA,Ambarella,supplier,NASDAQ,^GSPC"], 1, "exchange",
                                  ["NASDAQ"]),
    "universe duplicate symbol": (load_universe, U, [GOOD_SECURITY, GOOD_SECURITY], 2, "symbol", ["duplicate"]),
    "universe bad benchmark": (load_universe, U, ["AMBA,Ambarella,supplier,XNAS,S&P 500"], 1, "benchmark", []),
    # issue 13, case 6: a security that is its own benchmark (sigma ~ 1e-18, entered every test)
    "universe own benchmark": (load_universe, U, [GOOD_SECURITY, "^GSPC,S&P 500,supplier,XNAS,^GSPC"], 2,
                               "benchmark", ["is the security itself"]),
    # issue 13, case 9: Windows device names
    "universe device name": (load_universe, U, ["NUL,Null,supplier,XNAS,^GSPC"], 1, "symbol", ["Windows device"]),
    "events short title too long": (load_events, E + ",short_title", [GOOD_EVENT + "," + "x" * 41], 1, "short_title",
                                    ["41 characters", "40"]),
    "event_firms unknown event": (firms_loader, EF, ["a_1,AMBA,named,src", "zz_9,AMBA,named,src"], 2, "event_id",
                                  ["unknown event", "zz_9"]),
    "event_firms unknown symbol": (firms_loader, EF, ["a_1,NVDA,named,src"], 1, "symbol", ["unknown symbol", "NVDA"]),
    "event_firms bad symbol": (firms_loader, EF, ["a_1,../AMBA,named,src"], 1, "symbol", []),
    "event_firms bad relation": (firms_loader, EF, ["a_1,AMBA,supplies,src"], 1, "relation", ["supplies"]),
    "event_firms bad carried_over": (firms_loader, EF + ",carried_over", ["a_1,AMBA,named,src,maybe"], 1,
                                     "carried_over", ["maybe", "yes, no or empty"]),
    "event_firms carried_over not named": (firms_loader, EF + ",carried_over", ["a_1,AMBA,not_named,src,yes"], 1,
                                           "carried_over", ["only a named firm"]),
    "event_firms duplicate": (firms_loader, EF, ["a_1,AMBA,named,s", "a_1,AMBA,named,t"], 2, "symbol",
                              ["duplicate"]),
    "event_firms empty source": (firms_loader, EF, ["a_1,AMBA,named,"], 1, "source", ["empty"]),
    "event_dates unknown event": (dates_loader, ED, ["zz_9,publication,2019-05-21,src"], 1, "event_id",
                                  ["unknown event"]),
    "event_dates bad kind": (dates_loader, ED, ["a_1,rumour,2019-05-21,src"], 1, "date_kind", ["rumour"]),
    "event_dates bad date": (dates_loader, ED, ["a_1,publication,2019-02-30,src"], 1, "announced_at", []),
    "event_dates announcement differs": (dates_loader, ED, ["a_1,announcement,2019-05-16,src"], 1, "announced_at",
                                         ["catalog"]),
    "event_dates duplicate": (dates_loader, ED, ["b_2,effective,2020-02-01,s", "b_2,effective,2020-03-01,s"], 2,
                              "date_kind", ["duplicate"]),
    "confounders bad date": (confounders_loader, CF, ["2019-05-32,,US,minor,FOMC,src"], 1, "announced_at", []),
    "confounders time without offset": (confounders_loader, CF, ["2019-05-01T14:00,,US,minor,FOMC,src"], 1,
                                        "announced_at", ["offset"]),
    "confounders old date column": (confounders_loader, "date,symbol,what,source", ["2019-05-01,,FOMC,src"], 0,
                                    "column 1", ["unknown column"]),
    "confounders missing markets": (confounders_loader, "announced_at,symbol,severity,what,source",
                                    ["2019-05-01,,minor,FOMC,src"], 0, "markets", ["missing column"]),
    "confounders bad markets": (confounders_loader, CF, ["2019-05-01,,US,minor,FOMC,src",
                                                         "2019-05-02,,HK,minor,HSI,src"], 2, "markets",
                                ["'HK'", "US, CN, all"]),
    "confounders empty markets": (confounders_loader, CF, ["2019-05-01,,,minor,FOMC,src"], 1, "markets", ["empty"]),
    "confounders bad severity": (confounders_loader, CF, ["2019-05-01,,US,high,FOMC,src"], 1, "severity",
                                 ["'high'", "major, minor"]),
    "confounders severity case": (confounders_loader, CF, ["2019-05-01,,US,Major,FOMC,src"], 1, "severity",
                                  ["'Major'"]),
    "confounders empty severity": (confounders_loader, CF, ["2019-05-01,,US,,FOMC,src"], 1, "severity", ["empty"]),
    "confounders unknown symbol": (confounders_loader, CF, ["2019-05-01,,US,minor,FOMC,src",
                                                            "2019-05-02,NVDA,US,major,results,src"],
                                   2, "symbol", ["unknown symbol"]),
    "confounders empty what": (confounders_loader, CF, ["2019-05-01,AMBA,US,minor,,src"], 1, "what", ["empty"]),
}


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_names_the_file_row_and_field(tmp_path, case):
    loader, header, rows, row, field, words = BAD_INPUT[case]
    msg = expect_error(loader, write(tmp_path, "input.csv", header, *rows), row, field)
    for word in words:
        assert word in msg, (case, word, msg)


def test_event_files_good_rows_and_lenient_mode(tmp_path):
    firms = write(tmp_path, "f.csv", EF, "a_1,AMBA,named,src", "zz_9,AMBA,named,src", "a_1,NVDA,not_named,src")
    with pytest.raises(UserError):
        firms_loader(firms)
    got = load_event_firms(firms, events=KNOWN_EVENTS["event_id"], symbols=KNOWN_SYMBOLS, strict=False)
    assert list(got["event_id"]) == ["a_1"] and list(got["relation"]) == ["named"]  # others left out
    assert load_event_firms(write(tmp_path, "h.csv", EF)).empty  # header only: describes no event
    dates = dates_loader(write(tmp_path, "d.csv", ED, "a_1,announcement,2019-05-15T18:00-04:00,s",
                               "a_1,publication,2019-05-21,s"))
    assert list(dates["date_kind"]) == ["announcement", "publication"]
    assert dates.loc[1, "announced"] == pd.Timestamp("2019-05-21")
    conf = confounders_loader(write(tmp_path, "c.csv", CF, "2019-05-01T14:00-04:00,,US,minor,FOMC,src",
                                    "2019-05-02,AMBA,all,major,results,src"))
    assert list(conf["symbol"]) == ["", "AMBA"] and conf.loc[0, "day"] == pd.Timestamp("2019-05-01")
    assert conf.loc[0, "announced"] == pd.Timestamp("2019-05-01 18:00", tz="UTC")
    assert conf.loc[1, "announced"] == pd.Timestamp("2019-05-02")  # date only: naive midnight
    assert list(conf["markets"]) == ["US", "all"] and list(conf["severity"]) == ["minor", "major"]
    no_symbol_column = confounders_loader(write(tmp_path, "c2.csv", "announced_at,markets,severity,what,source",
                                                "2019-05-01,CN,minor,FOMC,src"))
    assert list(no_symbol_column["symbol"]) == [""]


def test_the_october_2022_export_controls_are_the_major_confounder():
    conf = load_confounders(strict=False)
    controls = conf[conf["announced_at"].str.startswith("2022-10-07") & conf["what"].str.contains("export controls")]
    assert len(controls) == 1 and controls["severity"].iat[0] == "major" and controls["markets"].iat[0] == "all"
    assert set(conf["severity"]) == {"major", "minor"}


def test_events_missing_file(tmp_path):
    path = tmp_path / "nope.csv"
    with pytest.raises(UserError, match="nope.csv"):
        load_events(path)


def test_universe_bad_symbol(tmp_path):
    path = write(tmp_path, "u.csv", UNIVERSE_HEADER, GOOD_SECURITY, "../AMBA,Ambarella,supplier,XNAS,^GSPC")
    assert "../AMBA" in expect_error(load_universe, path, 2, "symbol")


def test_universe_missing_file(tmp_path):
    with pytest.raises(UserError, match="nope.csv"):
        load_universe(tmp_path / "nope.csv")


# --- selection -------------------------------------------------------------------------------------

def test_select_events_and_universe():
    events = load_events(DEFAULT_EVENTS)
    picked = select_events(events, ["ft_sdn_2022", "nyt_hikvision_2019"])
    assert list(picked["event_id"]) == ["nyt_hikvision_2019", "ft_sdn_2022"]  # catalogue order
    assert len(select_events(events, None)) == len(events)
    with pytest.raises(UserError, match="no_such_event"):
        select_events(events, ["nyt_hikvision_2019", "no_such_event"])
    uni = load_universe(DEFAULT_UNIVERSE)
    assert list(select_universe(uni, ["AMBA"])["symbol"]) == ["AMBA"]
    with pytest.raises(UserError, match="ZZZZ"):
        select_universe(uni, ["AMBA", "ZZZZ"])


# --- announced_at -------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("2019-10-07T18:00-04:00", pd.Timestamp("2019-10-07 22:00", tz="UTC")),
    ("2022-05-04T12:00+01:00", pd.Timestamp("2022-05-04 11:00", tz="UTC")),
    ("2019-05-21T20:00:30Z", pd.Timestamp("2019-05-21 20:00:30", tz="UTC")),
    ("2019-05-15T23:30-04:00", pd.Timestamp("2019-05-16 03:30", tz="UTC")),
])
def test_parse_with_offset_gives_utc_instant(text, expected):
    ts = parse_announced_at(text)
    assert ts == expected
    assert str(ts.tz) == "UTC"


def test_parse_date_only_is_naive_midnight():
    ts = parse_announced_at(" 2019-08-07 ")
    assert ts == pd.Timestamp("2019-08-07") and ts.tzinfo is None


@pytest.mark.parametrize("text, reason", [
    ("2019-05-21T20:00", "offset"),
    ("2019-05-21 20:00-04:00", "expected"),
    ("21/05/2019", "expected"),
    ("2019-13-01", "valid"),
    ("2019-05-21T25:00+08:00", "valid"),
    ("", "expected"),
])
def test_parse_rejects(text, reason):
    with pytest.raises(ValueError, match=reason):
        parse_announced_at(text)


# --- issue 13: empty files, bad bytes, huge fields ------------------------------------------------

@pytest.mark.parametrize("loader, header", [(load_events, E), (load_universe, U)])
def test_case8_a_header_only_file_is_an_error(tmp_path, loader, header):
    """Issue 13, case 8: an events or universe file with only a header ran with empty outputs."""
    path = write(tmp_path, "only.csv", header, "")
    with pytest.raises(UserError) as info:
        loader(path)
    assert str(info.value) == f"{path}: no rows: the file has only a header ({header})"


@pytest.mark.parametrize("loader, header, good", [(load_events, E, GOOD_EVENT), (load_universe, U, GOOD_SECURITY)])
def test_case8_non_utf8_byte_names_the_row(tmp_path, loader, header, good):
    """Issue 13, case 8: a non-UTF-8 byte gave a message naming no row."""
    path = tmp_path / "bin.csv"
    path.write_bytes((header + "\n" + good + "\n").encode() + b"x,\xff\n")
    with pytest.raises(UserError) as info:
        loader(path)
    assert str(info.value).startswith(f"{path}: row 2: not UTF-8 text (byte 3 of the line")


@pytest.mark.parametrize("size", [20_000, 1_000_000])
def test_case8_a_huge_field_names_the_row(tmp_path, size):
    """Issue 13, case 8: a 1 MB field gave a message naming no row (and would be echoed)."""
    path = write(tmp_path, "e.csv", E, GOOD_EVENT, f"b,2019-05-16,{'t' * size},report,src")
    with pytest.raises(UserError) as info:
        load_events(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}: row 2: ") and "longer than 10000 characters" in msg and len(msg) < 300


def test_universe_records_its_file_and_rows(tmp_path):
    path = write(tmp_path, "u.csv", U, GOOD_SECURITY, "AMBA,Ambarella,supplier,XNAS,^GSPC")
    uni = load_universe(path)
    assert uni.attrs == {"path": str(path), "rows": {"002415.SZ": 1, "AMBA": 2}}


def test_shipped_texts_name_no_event_id():
    """Titles and sources are printed in the PDF: none may carry an event id of the catalog."""
    events, uni = load_events(), load_universe()
    ids = set(events["event_id"])
    texts = list(events["title"]) + list(events["source"]) + list(events["short_title"])
    texts += list(load_event_firms(events=events["event_id"], symbols=uni["symbol"])["source"])
    texts += list(load_confounders(symbols=uni["symbol"])["what"]) + list(load_confounders(symbols=uni["symbol"])["source"])
    texts += list(load_event_dates(events=events)["source"])
    leaks = sorted({i for t in texts for i in ids if i in str(t)})
    assert leaks == []


# --- issue 18: day 0s the sources time -------------------------------------------------------------

@pytest.mark.parametrize("event_id, us_day0, cn_day0", [
    ("dod_1237_list_2020", "2020-06-25", "2020-06-29"),  # reported after the US close of 24 Jun
    ("far889_partb_rule_2020", "2020-07-10", "2020-07-13"),  # released Fri 10 Jul, published 14 Jul
    ("fcc_equipment_ban_2022", "2022-11-28", "2022-11-28"),  # 14:54 ET, after the 13:00 half-day close
    ("bloomberg_five_2019", "2019-05-22", "2019-05-23"),
])
def test_shipped_day0s_follow_the_timed_announcements(event_id, us_day0, cn_day0):
    from analysis.data.calendars import day_zero

    announced = load_events().set_index("event_id").loc[event_id, "announced"]
    assert day_zero(announced, "XNAS") == pd.Timestamp(us_day0)
    assert day_zero(announced, "XSHE") == pd.Timestamp(cn_day0)
