"""What the PDF is built from, typed: the run (:class:`RunContext`, from the pipeline) and what
its notebooks saved (:class:`EventOutputs`, :class:`CompareOutputs`), gathered in
:class:`ReportInputs` by :func:`analysis.report.pdf.collect` and handed to every section.

Tables are the saved artifacts (:mod:`analysis.report.artifacts`: returns in decimals); a
missing table is None; figure paths are relative to the run folder (typst reads them there).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pandas as pd

from analysis.report.config import Config
from analysis.report.jobs import Job


@dataclass(frozen=True)
class RunContext:
    """The run the pipeline made, as the PDF needs it."""

    run_id: str
    started: datetime  # UTC
    cfg: Config
    jobs: list[Job]
    catalog: pd.DataFrame  # data/events.csv
    event_ids: list[str]  # the events of the run, in catalog order
    price_rows: list[dict]  # provenance per symbol (source, path, sha256, first, last, rows, error)
    price_note: str  # how the prices were loaded (one sentence)
    price_errors: dict[str, str]  # symbol -> why its prices could not be loaded
    elapsed_before_pdf: float  # seconds since the start of the run
    notebooks_seconds: float  # seconds of notebook execution (wall)
    failed: list[str]  # one message per failed notebook (notebook, cell, error)


@dataclass(frozen=True)
class Headline:
    """What the summary talks about: one firm, one window, one group test."""

    symbol: str
    name: str
    window: str  # "-1:1"
    test: str  # a registered test name


@dataclass
class EventOutputs:
    """One event of the run: its catalog entry and what its notebook saved (None if it failed)."""

    info: dict  # event_id, title, short_title, kind, announced_at, date (Timestamp), date_text, source
    job: Job | None
    status: str  # ok | reused | failed | not run
    error: str | None = None  # why there are no results
    firms: pd.DataFrame | None = None  # artifacts.CAR_BY_FIRM
    tests: pd.DataFrame | None = None  # artifacts.GROUP_TESTS
    volume: pd.DataFrame | None = None  # artifacts.VOLUME_TESTS
    robust: pd.DataFrame | None = None  # artifacts.ROBUSTNESS
    robust_firms: pd.DataFrame | None = None  # artifacts.ROBUSTNESS_FIRMS
    meta: dict = field(default_factory=dict)  # artifacts.META
    figure: str | None = None  # artifacts.CAR_PATH
    price_figure: str | None = None  # artifacts.PRICE_PATH
    exposure_figure: str | None = None  # artifacts.EXPOSURE_SCATTER (events with an exposure fit)

    @property
    def has_results(self) -> bool:
        return self.error is None

    @property
    def event_id(self) -> str:
        return self.info["event_id"]


@dataclass
class CompareOutputs:
    """What the comparison notebook saved (tables None when it failed or did not save them)."""

    job: Job | None
    status: str
    error: str | None = None
    moved: pd.DataFrame | None = None  # artifacts.GROUP_BY_EVENT (date parsed)
    kinds: pd.DataFrame | None = None  # artifacts.KIND_COMPARISON
    years: pd.DataFrame | None = None  # artifacts.YEAR_COMPARISON
    tvs: pd.DataFrame | None = None  # artifacts.TARGETS_VS_SUPPLIERS
    figures: dict[str, str | None] = field(default_factory=dict)  # artifact name -> path


@dataclass
class ReportInputs:
    """Everything a PDF section may use."""

    run: RunContext
    root: Path  # the run folder
    headline: Headline
    main_model: str  # the normal-return model of the main results
    universe: pd.DataFrame  # data/universe.csv
    events: list[EventOutputs]
    compare: CompareOutputs

    @property
    def studied(self) -> list[EventOutputs]:
        """The events with results, in run order."""
        return [e for e in self.events if e.has_results]

    def concat(self, what: str) -> pd.DataFrame | None:
        """One table of every studied event (``what``: firms, tests, robust, robust_firms); None if none."""
        frames = [getattr(e, what) for e in self.studied if getattr(e, what) is not None]
        return pd.concat(frames, ignore_index=True) if frames else None
