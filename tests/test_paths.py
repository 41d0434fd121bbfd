"""One cache location (analysis.paths.cache_dir) for study, report and notebooks.

Issue 13, case 9: ``study`` run from another folder cached into ``./data/cache`` while ``report``
used the project's.
"""
from __future__ import annotations

from pathlib import Path

import platformdirs

from analysis import paths

REPO = Path(__file__).resolve().parents[1]


def test_inside_the_project_the_cache_is_its_data_cache():
    assert paths.in_project()
    assert paths.cache_dir() == REPO / "data" / "cache"


def test_outside_a_project_the_cache_is_the_platform_user_cache(monkeypatch):
    monkeypatch.setattr(paths, "in_project", lambda: False)
    assert paths.cache_dir() == Path(platformdirs.user_cache_dir("sanctions-event-study", appauthor=False))


def test_case9_study_and_report_share_the_cache_whatever_the_current_folder(tmp_path, monkeypatch):
    from analysis.data.factors import FrenchLibrary
    from analysis.data.prices import YahooSource, get_source
    from analysis.report import event, price_inputs
    from analysis.study import EventStudy

    monkeypatch.chdir(tmp_path)  # "study run from another folder"
    expected = REPO / "data" / "cache"
    assert YahooSource(downloader=lambda *a, **k: None).cache_dir == expected
    assert get_source().cache_dir == expected
    assert EventStudy(placebo_draws=0)._source().cache_dir == expected
    assert FrenchLibrary().cache_dir == expected / "french"
    assert price_inputs.DEFAULT_CACHE == expected and event.DEFAULT_CACHE == expected
    assert not (tmp_path / "data").exists()
