"""The scale paths of the study (issue 22) give the numbers of the one-batch paths: the
date-sensitivity re-run in chunks of moved events, with its announcement rows from the main run."""
from __future__ import annotations

import pandas as pd
import pytest

from analysis import study as study_mod
from analysis.study import EventStudy


@pytest.mark.shared_prices
def test_sensitivity_in_chunks_and_from_the_main_run_equals_one_rerun(shared_prices, monkeypatch):
    kw = dict(prices=shared_prices, event_ids=["huawei_entity_list_2019", "ndaa889_law_2018"], placebo_draws=0)
    st = EventStudy(**kw)
    one = st.sensitivity()  # every date, the announcement too, in one re-run
    res = EventStudy(**kw).fit()
    pd.testing.assert_frame_equal(res.sensitivity, one, check_exact=True)
    assert set(one["date_kind"]) >= {"announcement", "first_report"}
    monkeypatch.setattr(study_mod, "SENSITIVITY_CHUNK", 10)  # about one moved event per chunk
    pd.testing.assert_frame_equal(EventStudy(**kw).fit().sensitivity, one, check_exact=True)
