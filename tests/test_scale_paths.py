"""The scale paths of the study (issue 22) give the numbers of the one-batch paths: the
date-sensitivity re-run in chunks of moved events, with its announcement rows from the main run."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis import study as study_mod
from analysis.study import EventStudy


#: Two events whose announcement dates move (date sensitivity), placebo off.
TWO_EVENTS = dict(event_ids=["huawei_entity_list_2019", "ndaa889_law_2018"], placebo_draws=0)


@pytest.fixture(scope="module")
def two_events_fit(shared_prices):
    """:data:`TWO_EVENTS` fitted with the default chunks, the reference of the two tests below."""
    return EventStudy(prices=shared_prices, **TWO_EVENTS).fit()


@pytest.fixture(scope="module")
def small_chunks_fit(shared_prices):
    """:data:`TWO_EVENTS` fitted in small chunks: the date sensitivity in chunks of 10 firm-events
    (about one moved event per chunk), the abnormal volume in chunks of 7 on two threads. One fit
    for the two tests below (each compares its own frames with :func:`two_events_fit`'s; a fit
    costs ~3 s of CPU)."""
    from analysis.inference import volume

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(study_mod, "SENSITIVITY_CHUNK", 10)
        mp.setattr(volume, "VOLUME_CHUNK", 7)
        mp.setattr("analysis.estimation.kernels.thread_count", lambda threads=None: threads or 2)
        return EventStudy(prices=shared_prices, **TWO_EVENTS).fit()


@pytest.mark.shared_prices
def test_sensitivity_in_chunks_and_from_the_main_run_equals_one_rerun(shared_prices, two_events_fit,
                                                                      small_chunks_fit):
    kw = dict(prices=shared_prices, **TWO_EVENTS)
    st = EventStudy(**kw)
    one = st.sensitivity()  # every date, the announcement too, in one re-run
    res = two_events_fit
    pd.testing.assert_frame_equal(res.sensitivity, one, check_exact=True)
    assert set(one["date_kind"]) >= {"announcement", "first_report"}
    pd.testing.assert_frame_equal(small_chunks_fit.sensitivity, one, check_exact=True)


@pytest.mark.shared_prices
def test_a_pseudo_event_larger_than_a_chunk_is_a_chunk_of_its_own_with_the_same_numbers(shared_prices, monkeypatch):
    """A pseudo-event of these two events (about 28 firm-events) is more than a chunk of 20:
    each chunk holds one pseudo-event, and tests.csv (placebo, calibration) is exactly that of
    the default chunks."""
    from analysis.inference import placebo

    kw = dict(prices=shared_prices, event_ids=["entity_list_28_2019", "huawei_entity_list_2019"],
              windows=["0:0", "-1:1"], placebo_draws=20, calibration_draws=30)
    whole = EventStudy(**kw).fit().tests
    seen = []
    fit = placebo.PseudoRun._fit

    def spy(self, part):
        seen.append(len(np.unique(self.event[part] * self.requested + self.draw[part])))
        return fit(self, part)

    monkeypatch.setattr(placebo, "CHUNK_FIRM_EVENTS", 20)
    monkeypatch.setattr(placebo.PseudoRun, "_fit", spy)
    alone = EventStudy(**kw).fit().tests
    assert set(seen) == {1} and len(seen) >= 2 * 30  # one pseudo-event per chunk
    pd.testing.assert_frame_equal(whole, alone, check_exact=True)


@pytest.mark.shared_prices
def test_volume_in_chunks_of_firm_events_gives_the_same_frames(two_events_fit, small_chunks_fit):
    one, small = two_events_fit, small_chunks_fit  # chunks of 7 firm-events, on two threads
    pd.testing.assert_frame_equal(one.volume, small.volume, check_exact=True)
    pd.testing.assert_frame_equal(one.volume_tests, small.volume_tests, check_exact=True)


def test_abnormal_returns_without_limit_days_equal_the_merged_frame(monkeypatch):
    """No day at a price limit (synthetic XNYS firms): the limit column is built without the
    merge; a states frame holding only a row that matches no firm-day takes the merge path:
    the same frame."""
    import sys
    from pathlib import Path

    import numpy as np

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    import bench_scale
    from analysis.data.catalog import load_events
    from analysis.inference import limits

    events = load_events()
    universe, frames = bench_scale.synthetic(12, 5, events)
    kw = dict(events=events, universe=universe, prices=frames, placebo_draws=0, event_ids=list(events["event_id"][:3]))
    plain = EventStudy(**kw).fit().abnormal_returns
    real = limits.day_states_frame

    def one_stray_row(panel, out):
        st = real(panel, out)
        assert st.empty
        return pd.DataFrame({"event_id": ["nowhere"], "symbol": ["nobody"], "day": np.array([0]),
                             "limit": np.array(["up"])})

    monkeypatch.setattr(limits, "day_states_frame", one_stray_row)
    merged = EventStudy(**kw).fit().abnormal_returns
    assert (merged["limit"] == "").all() and len(merged) == len(plain) > 0
    pd.testing.assert_frame_equal(plain, merged, check_exact=True, check_dtype=False)
