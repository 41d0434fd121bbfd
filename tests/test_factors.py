"""Fama-French factors (analysis.data.factors): Kenneth French's daily zip files, downloaded and
cached like prices, or a local file.

Issue 13, case 10: the factors came only from ``../shared/factors`` (named in pipeline.yml), so the
ff3 robustness silently dropped out for a user elsewhere. The download is patched here with the
files of ``../shared/factors`` (see ``fake_french`` in conftest.py); no test touches the network.
"""
from __future__ import annotations

import os
import time
import urllib.error

import pandas as pd
import pytest

from analysis.data import factors
from analysis.data.factors import FRENCH_URL, MOMENTUM, THREE_FACTORS, FrenchLibrary, load_factors
from analysis.errors import UserError


def test_the_default_downloader_is_a_real_http_request():
    lib = FrenchLibrary(cache_dir="/nonexistent")
    assert lib.downloader is None  # -> factors._download (urllib), looked up at call time
    assert FRENCH_URL.format(name=THREE_FACTORS) == (
        "https://mba.tuck.dartmouth.edu/pages/faculty/ken.french/ftp/F-F_Research_Data_Factors_daily_CSV.zip")


def test_case10_download_is_cached_and_read_like_the_local_file(fake_french, shared_factors, tmp_path):
    lib = FrenchLibrary(cache_dir=tmp_path)
    path = lib.fetch(THREE_FACTORS)
    assert path == tmp_path / "french" / f"{THREE_FACTORS}_CSV.zip" and path.is_file()
    assert fake_french == [FRENCH_URL.format(name=THREE_FACTORS)]
    pd.testing.assert_frame_equal(load_factors(path), load_factors(shared_factors / f"{THREE_FACTORS}.csv"))
    FrenchLibrary(cache_dir=tmp_path).fetch(THREE_FACTORS)  # fresh cache: no request
    assert len(fake_french) == 1
    FrenchLibrary(cache_dir=tmp_path, refresh=True).fetch(THREE_FACTORS)
    assert len(fake_french) == 2
    old = time.time() - 30 * 86400  # a month old: downloaded again
    os.utime(path, (old, old))
    FrenchLibrary(cache_dir=tmp_path).fetch(THREE_FACTORS)
    assert len(fake_french) == 3


def test_case10_carhart_study_downloads_both_files_and_matches_local_files(fake_french, shared_factors, tmp_path,
                                                                          shared_prices):
    from analysis.study import EventStudy

    kw = dict(prices=str(shared_prices), event_ids=["nyt_hikvision_2019"], symbols=["AMBA", "INTC"],
              model="carhart", windows=["-1:1"], placebo_draws=0)
    downloaded = EventStudy(cache_dir=tmp_path, **kw).fit()
    local = EventStudy(factors=[str(shared_factors / f"{THREE_FACTORS}.csv"), str(shared_factors / f"{MOMENTUM}.csv")],
                       **kw).fit()
    assert sorted(u.rsplit("/", 1)[-1] for u in fake_french) == [f"{MOMENTUM}_CSV.zip", f"{THREE_FACTORS}_CSV.zip"]
    pd.testing.assert_frame_equal(downloaded.car, local.car)
    assert len(downloaded.car) == 2


class DNSError(OSError):
    pass


def test_offline_is_one_line_after_the_retries(tmp_path, monkeypatch):
    slept = []
    monkeypatch.setattr(factors.time, "sleep", slept.append)

    def offline(url):
        raise urllib.error.URLError(DNSError(-2, "Name or service not known"))

    lib = FrenchLibrary(cache_dir=tmp_path, downloader=offline, retries=3, backoff=1.0)
    with pytest.raises(UserError) as err:
        lib.fetch(THREE_FACTORS)
    assert str(err.value) == (f"could not download {THREE_FACTORS} from Kenneth French's data library "
                              "(DNSError: Name or service not known); check the network or pass a local factor "
                              "file with --factors FILE (the report config's factors:)")
    assert slept == [1.0, 2.0, 4.0]
    with pytest.raises(UserError):  # fails fast for the next file
        lib.fetch(MOMENTUM)
    assert slept == [1.0, 2.0, 4.0]
    assert not (tmp_path / "french" / f"{THREE_FACTORS}_CSV.zip").exists()


def test_a_stale_cache_is_used_when_the_download_fails(fake_french, tmp_path):
    path = FrenchLibrary(cache_dir=tmp_path).fetch(THREE_FACTORS)
    old = time.time() - 30 * 86400
    os.utime(path, (old, old))

    def offline(url):
        raise OSError("Network is unreachable")

    with pytest.warns(UserWarning, match="using the cached file"):
        assert FrenchLibrary(cache_dir=tmp_path, downloader=offline, retries=0).fetch(THREE_FACTORS) == path


@pytest.mark.parametrize("answer, why", [(b"<html>Service unavailable</html>", "not a readable zip file"),
                                         (None, "no factor table found")])
def test_a_broken_answer_never_lands_in_the_cache(tmp_path, answer, why):
    from tests.conftest import french_zip

    if answer is None:
        (tmp_path / "junk.csv").write_text("hello\nworld\n")
        answer = french_zip(tmp_path / "junk.csv", THREE_FACTORS)
    lib = FrenchLibrary(cache_dir=tmp_path / "c", downloader=lambda url: answer, retries=0)
    with pytest.raises(UserError, match=why):
        lib.fetch(THREE_FACTORS)
    assert not (tmp_path / "c" / "french" / f"{THREE_FACTORS}_CSV.zip").exists()


def test_http_404_is_not_retried(tmp_path, monkeypatch):
    slept = []
    monkeypatch.setattr(factors.time, "sleep", slept.append)

    def missing(url):
        raise urllib.error.HTTPError(url, 404, "Not Found", {}, None)

    with pytest.raises(UserError, match=r"\(HTTP 404\)"):
        FrenchLibrary(cache_dir=tmp_path, downloader=missing).fetch(THREE_FACTORS)
    assert slept == []


def test_factor_file_errors_name_row_and_column_without_quoting(tmp_path):
    (tmp_path / "f.csv").write_text("date,mkt_rf,smb,hml,rf\n2019-01-02,1,2,3,0\n2019-01-03,1,s3cr3t,3,0\n")
    with pytest.raises(UserError) as err:
        load_factors(tmp_path / "f.csv")
    assert str(err.value) == f"{tmp_path / 'f.csv'}: row 2, field 'smb': not a finite number"
    (tmp_path / "d.csv").write_text("date,mkt_rf,smb,hml,rf\n2019-01-02,1,2,3,0\n2300-01-03,1,2,3,0\n")
    with pytest.raises(UserError, match=r"row 2, field 'date': not a date between 1900 and 2100"):
        load_factors(tmp_path / "d.csv")
