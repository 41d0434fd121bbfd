"""Shared fixtures: the recorded data folders, an independent reference implementation of the
event-study statistics (statsmodels OLS + explicit matrices, in tests/study_reference.py), and
cached study runs.

The reference code deliberately shares nothing with ``analysis``: it reads the CSV files
with pandas, takes a security's sessions from its benchmark index file (an index trades on every
session of its exchange), fits with statsmodels and builds Var(CAR) from explicit matrices.
This file imports no pandas, statsmodels or scipy at its top: the pytest-xdist controller loads
it and runs no test (the fixtures import what they use).
"""
from __future__ import annotations

import os
import sys
from types import SimpleNamespace
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"

# What the report pipeline does in its own process (analysis/report/pipeline.py): without the
# optional rfc3987_syntax package, importing nbformat (jsonschema) does not compile an RFC 3987
# grammar, 3-10 s of CPU in each pytest-xdist worker (a test module imports nbformat at
# collection). Notebook validation checks no IRI format.
sys.modules.setdefault("rfc3987_syntax", None)

# Bytecode files: the suite starts about 40 Python processes (the CLI and report runs, their
# notebook kernels, two pytest-xdist workers), each importing the package. With
# PYTHONDONTWRITEBYTECODE set (as some shells and sandboxes do) each of them compiled every module
# again and pytest re-rewrote every test module's asserts: about 4 s of CPU per worker's
# collection and 1 s per process. The suite writes the usual __pycache__ files (git ignores them)
# and the processes it starts read them; removed here, before pytest-xdist starts its workers.
if os.environ.pop("PYTHONDONTWRITEBYTECODE", None) is not None:
    sys.dont_write_bytecode = False

# ----------------------------------------------------------------------------- test order

#: The costliest test files (CPU seconds on a 2-core machine, measured per test), started first:
#: ``make test`` sends whole files to its pytest-xdist workers (``--dist loadfile``), so the
#: longest file, the end-to-end report (two pipeline runs, ~45 s), must not start last.
#: Every other file follows in collection order.
SLOWEST_FILES = ("test_report.py", "test_cli.py", "test_placebo.py", "test_simulation.py", "test_hardening2.py",
                 "test_scale_paths.py", "test_warmup.py", "test_engine.py", "test_design.py", "test_pipeline.py",
                 "test_plots.py", "test_inference.py")


def pytest_configure(config):
    """Hand files to the xdist workers in the order of :func:`pytest_collection_modifyitems`
    (by default xdist orders ``--dist loadfile`` by the number of tests in a file, not cost)."""
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False


def pytest_collection_modifyitems(config, items):
    """:data:`SLOWEST_FILES` first, in that order; the rest keep their order."""
    rank = {name: i for i, name in enumerate(SLOWEST_FILES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


def _shared_dir(name: str) -> Path:
    path = SHARED / name
    if not path.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"{path} is missing (CI is set, so tests that need it may not be skipped)")
        pytest.skip(f"{path} not present")
    return path


@pytest.fixture(scope="session")
def shared_prices() -> Path:
    """``<repo>/../shared/prices``; skipped when absent, a failure when the CI env var is set."""
    return _shared_dir("prices")


@pytest.fixture(scope="session")
def shared_seeds() -> Path:
    """``<repo>/../shared/seeds`` (the press articles); same skip/fail rule."""
    return _shared_dir("seeds")


@pytest.fixture(scope="session")
def shared_factors() -> Path:
    """``<repo>/../shared/factors``; same rule as :func:`shared_prices`."""
    return _shared_dir("factors")


# ----------------------------------------------------------------------------- reference


@pytest.fixture(scope="session")
def reference_model():
    """The :class:`study_reference.Reference` class (no data needed)."""
    from study_reference import Reference

    return Reference


@pytest.fixture(scope="session")
def ref(shared_prices):
    """Reference tools on the recorded data: ``ref.Model`` (:class:`Reference`), ``ref.adj(symbol)``
    (adj_close read with pandas), ``ref.sessions(index_symbol)`` (dates of an index file)."""
    from study_reference import Reference, read_adj_close, read_factors

    return SimpleNamespace(
        Model=Reference,
        adj=lambda sym: read_adj_close(str(shared_prices), sym),
        sessions=lambda sym: read_adj_close(str(shared_prices), sym).index,
        factors=lambda folder, mom=False: read_factors(str(folder), mom),
    )


# ----------------------------------------------------------------------------- study runs


@pytest.fixture(scope="session")
def run_study(shared_prices):
    """Cached ``EventStudy(...).fit()`` on the recorded prices (placebo off; every estimation
    session kept, ``exclude_event_days=0``, so fits compare with the plain reference fits)."""
    from analysis.study import EventStudy

    cache = {}

    def run(events=None, symbols=None, model="market", windows=("0:0", "-1:1", "-5:5"), factors=None,
            estimation=(-250, -11), exclude_event_days=0):
        key = (tuple(events or ()), tuple(symbols or ()), model, tuple(windows), tuple(factors or ()), estimation,
               exclude_event_days)
        if key not in cache:
            cache[key] = EventStudy(prices=str(shared_prices), event_ids=events, symbols=symbols, model=model,
                                    windows=list(windows), factors=list(factors) if factors else None,
                                    estimation=estimation, placebo_draws=0,
                                    exclude_event_days=exclude_event_days).fit()
        return cache[key]

    return run


def once_per_run(name: str, make, tmp_path_factory):
    """``make()``, computed once per pytest run: under pytest-xdist the first worker to ask pickles
    it into the run's shared temporary folder (under a file lock) and the other workers load
    that copy; without xdist, ``make()`` itself."""
    import fcntl
    import pickle

    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return make()
    root = tmp_path_factory.getbasetemp().parent  # <basetemp>/popen-gwN -> this run's <basetemp>
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        path = root / f"{name}.pickle"
        if path.is_file():
            return pickle.loads(path.read_bytes())
        value = make()
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
        tmp.replace(path)
        return value


@pytest.fixture(scope="session")
def full_catalog(shared_prices, tmp_path_factory):
    """The whole catalog fitted once on the recorded prices (defaults, placebo off), shared by
    the test modules that check results on it (one fit per run: :func:`once_per_run`)."""
    from analysis.study import EventStudy

    return once_per_run("full_catalog", lambda: EventStudy(prices=shared_prices, placebo_draws=0).fit(),
                        tmp_path_factory)


@pytest.fixture
def synthetic_study(tmp_path):
    """Run ``EventStudy`` on synthetic prices.

    securities: {symbol: (exchange, benchmark, role)}; prices: {symbol: adj_close Series by date}
    (benchmarks included); events: {event_id: announced_at string}. Extra keywords go to
    ``EventStudy`` (placebo off and every estimation session kept unless given).
    """
    import numpy as np
    import pandas as pd

    from analysis.study import EventStudy

    def run(securities, prices, events, **kwargs):
        uni = tmp_path / "universe.csv"
        uni.write_text("symbol,name,role,exchange,benchmark\n" + "".join(
            f"{s},{s} Corp,{role},{mic},{bench}\n" for s, (mic, bench, role) in securities.items()))
        ev = tmp_path / "events.csv"
        ev.write_text("event_id,announced_at,title,kind,source\n" + "".join(
            f"{e},{when},synthetic {e},action,test\n" for e, when in events.items()))
        frames = {}
        for sym, px in prices.items():
            px = px.dropna()
            idx = pd.DatetimeIndex(px.index, name="date")
            frames[sym] = pd.DataFrame({"open": np.nan, "high": np.nan, "low": np.nan, "close": px.to_numpy(),
                                        "adj_close": px.to_numpy(), "volume": 1e6}, index=idx)
        kwargs.setdefault("placebo_draws", 0)
        kwargs.setdefault("exclude_event_days", 0)
        return EventStudy(events=ev, universe=uni, prices=frames, **kwargs).fit()

    return run


@pytest.fixture(scope="session")
def make_prices():
    """:func:`study_reference.prices_from_returns`."""
    from study_reference import prices_from_returns

    return prices_from_returns


# ----------------------------------------------------------------------------- factor downloads


def french_zip(csv_path: Path, name: str) -> bytes:
    """A zip like Kenneth French's (``<name>_CSV.zip`` holding ``<name>.CSV``) around a local file."""
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"{name}.CSV", Path(csv_path).read_bytes())
    return buf.getvalue()


@pytest.fixture
def fake_french(shared_factors, monkeypatch):
    """Patch the download of :mod:`analysis.data.factors` to serve ``../shared/factors`` as French's
    zip files (no network); returns the list of URLs asked for."""
    from analysis.data import factors

    calls = []

    def download(url, timeout=60.0):
        calls.append(url)
        name = url.rsplit("/", 1)[-1].removesuffix("_CSV.zip")
        return french_zip(shared_factors / f"{name}.csv", name)

    monkeypatch.setattr(factors, "_download", download)
    monkeypatch.setattr(factors.time, "sleep", lambda s: None)
    return calls


@pytest.fixture
def portfolio_holds(monkeypatch):
    """The stored verdicts minus the portfolio, sample-quantile and Corrado tests (which hold in
    every design without event-induced variance): these tests check the star and table rules,
    whichever tests the stored design table finds oversized."""
    from analysis.inference import design

    held = design.oversized_here() - {"portfolio", "sq", "corrado"}
    monkeypatch.setattr(design, "oversized_here", lambda: held)
    return held
