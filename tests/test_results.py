"""Writing the CSV set (analysis.atomic.write_set): the whole set or nothing.

Issue 13, case 3: with a file-size limit hit mid-run, car.csv and tests.csv held the new run
while volume*.csv held the previous run's. Each file was atomic; the set was not.
"""
from __future__ import annotations

import errno

import pandas as pd
import pytest

from analysis.results import RESULT_FILES, write_set


def _set(tag: str) -> dict:
    return {name: pd.DataFrame({"run": [tag] * 3, "x": [1.5, 2.5, 3.5]}) for name in RESULT_FILES}


class _TooBig(pd.DataFrame):
    """A frame whose writing fails like ``ulimit -f`` does (EFBIG), after a partial file."""

    def to_csv(self, path, **kwargs):
        with open(path, "w") as fh:
            fh.write("run,x\nnew,")
        raise OSError(errno.EFBIG, "File too large", str(path))


def _runs(out):
    return {p.name: set(pd.read_csv(p)["run"]) for p in sorted(out.glob("*.csv"))}


def test_case3_a_failure_mid_set_leaves_the_previous_set_whole(tmp_path):
    out = tmp_path / "out"
    write_set(_set("old"), out)
    new = _set("new")
    new["volume.csv"] = _TooBig(new["volume.csv"])  # car.csv, tests.csv, ... are written before it
    with pytest.raises(OSError) as err:
        write_set(new, out)
    assert err.value.errno == errno.EFBIG
    assert _runs(out) == {name: {"old"} for name in RESULT_FILES}
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no temporary folder left beside it


def test_a_complete_set_replaces_the_old_one_and_keeps_other_files(tmp_path):
    out = tmp_path / "out"
    write_set(_set("old"), out)
    (out / "notes.txt").write_text("mine")
    (out / "nyt").mkdir()  # a nested run's folder (README: --out out/nyt)
    (out / "nyt" / "car.csv").write_text("run\nnested\n")
    new = {k: v for k, v in _set("new").items() if not k.startswith("volume")}
    written = write_set(new, out, owned=RESULT_FILES)
    assert [p.name for p in written] == list(new)
    assert _runs(out) == {name: {"new"} for name in new}  # the old volume files are gone: not of this set
    assert (out / "notes.txt").read_text() == "mine" and (out / "nyt" / "car.csv").read_text() == "run\nnested\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_files_a_set_does_not_own_are_carried_over(tmp_path):
    """Without ``owned``, a file of the folder that the new set does not write is someone else's
    and stays."""
    out = tmp_path / "out"
    write_set(_set("old"), out)
    write_set({"car.csv": _set("new")["car.csv"]}, out)
    assert _runs(out) == {name: {"new" if name == "car.csv" else "old"} for name in RESULT_FILES}


def test_write_set_refuses_a_file(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(NotADirectoryError):
        write_set(_set("new"), tmp_path / "f")
    assert (tmp_path / "f").read_text() == "x"


def test_fit_tests_gives_the_rows_of_a_full_fit(shared_prices):
    """The robustness runs' quick fit (CARs and chosen tests only) gives exactly the rows a full
    fit has for those tests and windows, under another model, a suspension included (Sugon,
    June 2019) and a firm left out (Xilinx after its delisting, FT report of May 2022)."""
    from analysis.study import EventStudy
    from analysis.tables import requested_windows

    kw = dict(prices=str(shared_prices), event_ids=["sugon_entity_list_2019", "ft_sdn_2022"], model="mean",
              windows=["0:1", "-2:2"], placebo_draws=0, event_dates=pd.DataFrame(
                  columns=["event_id", "date_kind", "announced_at", "source"]))
    full = EventStudy(**kw).fit()
    tests, car, skipped = EventStudy(**kw).fit_tests(["t_cs", "bmp_kp"])
    want = full.tests[full.tests["test"].isin(["t_cs", "bmp_kp"])].reset_index(drop=True)
    common = [c for c in tests.columns if c in want.columns]
    assert {"n", "mean_car", "statistic", "p_value"} <= set(common)
    pd.testing.assert_frame_equal(tests[common], want[common])
    cols = ["event_id", "symbol", "window", "car", "car_se", "car_t", "car_p"]
    pd.testing.assert_frame_equal(car, requested_windows(full.car)[cols].reset_index(drop=True))
    # Xilinx delisted; NeoPhotonics, Inphi and Acacia: the recorded prices end 2020-12-11
    assert list(skipped["symbol"]) == list(full.skipped["symbol"]) == ["XLNX", "NPTN", "IPHI", "ACIA"]
    assert len(tests) == 2 * 2 * tests.groupby(["event_id", "group"]).ngroups
