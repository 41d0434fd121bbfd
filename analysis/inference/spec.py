"""``StudySpec``: one run's settings, every default and every check defined once.

The command line (``python -m analysis study``), the report's configuration
(:mod:`analysis.report.config`), the notebooks' parameters, the robustness runs
(``dataclasses.replace(spec, model="mean")``), the placebo draws, the calibration and the
tables all take one frozen ``StudySpec``. A value that does not fit is a ``UserError`` naming
the option (``--min-obs 3 ...``), raised when the spec is made, before any price is read.

Windows are (start, end) in trading days relative to day 0, inclusive; the estimation window
must end before the first event window starts and hold at least ``min_obs`` sessions.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from analysis.errors import UserError
from analysis.estimation.models import MODELS, ModelSpec, get_model
from analysis.vocab import (DEFAULT_CALIBRATION_DRAWS, DEFAULT_ESTIMATION, DEFAULT_EXCLUDE_DAYS, DEFAULT_MIN_OBS,
                            DEFAULT_MODEL, DEFAULT_WINDOWS, GROUPS, MAX_CALIBRATION_DRAWS, MAX_RELATIVE_DAY, PRIMARY_GROUPS, PRIMARY_TEST,
                            PRIMARY_WINDOW, Window, as_windows, format_window)

#: Upper bound of the pseudo-event draws (a typo must not ask for terabytes).
MAX_DRAWS = 100_000
#: Default pseudo-event dates per event for the placebo test (0 turns it and the calibration off).
DEFAULT_PLACEBO_DRAWS = 1000
#: Seed of the run's random streams (pseudo-event dates; each event adds its id).
DEFAULT_SEED = 20190521
#: Exchanges the factor models apply to (French's factors are US factors).
FACTOR_EXCHANGES = ("XNAS", "XNYS")
#: Families Holm's adjustment can run over: the events of this run, or the whole catalog's.
HOLM_SCOPES = ("run", "catalog")


@dataclass(frozen=True)
class StudySpec:
    """One run's settings (frozen; :func:`dataclasses.replace` makes a variant, checked again).

    model            normal-return model name (:data:`analysis.estimation.models.MODELS`)
    estimation       estimation window (a, b), sessions relative to day 0
    windows          event windows ((a, b), ...), sessions relative to day 0
    min_obs          fewest estimation returns a firm-event needs (fewer: skipped)
    exclude_event_days  sessions within K of another catalog event's day 0 left out of estimation
    primary_window   window of the primary family ('A:B'); None: 0:1 when it is requested
    primary_test     test of the primary family (a registered test)
    placebo_draws    pseudo-event dates per event (0: no placebo test, no calibration)
    calibration_draws  pseudo-event dates every test is re-run at (p_calibrated, size_5pct): the
                     placebo's first, then more of the same pool; 'all' (default): every available
                     date, at most MAX_CALIBRATION_DRAWS
    seed             seed of the pseudo-event draws
    groups           groups of the primary family (as printed: named, supplier, ...)
    holm_scope       'run': Holm over the run's events; 'catalog': over the full catalog's family
    factor_exchanges exchanges whose securities the factor models apply to
    """

    model: str = DEFAULT_MODEL
    estimation: Window = DEFAULT_ESTIMATION
    windows: tuple[Window, ...] = DEFAULT_WINDOWS
    min_obs: int = DEFAULT_MIN_OBS
    exclude_event_days: int = DEFAULT_EXCLUDE_DAYS
    primary_window: str | None = None
    primary_test: str = PRIMARY_TEST
    placebo_draws: int = DEFAULT_PLACEBO_DRAWS
    calibration_draws: int | str = DEFAULT_CALIBRATION_DRAWS
    seed: int = DEFAULT_SEED
    groups: tuple[str, ...] = PRIMARY_GROUPS
    holm_scope: str = "run"
    factor_exchanges: tuple[str, ...] = FACTOR_EXCHANGES

    def __post_init__(self):
        def put(name, value):
            object.__setattr__(self, name, value)

        model = self.model.name if isinstance(self.model, ModelSpec) else self.model
        put("model", get_model(str(model)).name)
        estimation = as_windows([self.estimation])[0]
        windows = as_windows([self.windows] if isinstance(self.windows, str) else list(self.windows))
        put("estimation", estimation)
        put("windows", tuple(windows))
        for option, wins in (("estimation", [estimation]), ("window", windows)):
            for w in wins:
                if max(abs(w[0]), abs(w[1])) > MAX_RELATIVE_DAY:
                    raise UserError(f"--{option} {format_window(w)}: bounds must lie within "
                                    f"-{MAX_RELATIVE_DAY}..{MAX_RELATIVE_DAY} sessions of day 0")
        first_window_day = min(w[0] for w in windows)
        if estimation[1] >= first_window_day:
            raise UserError(f"estimation window {format_window(estimation)} overlaps the event "
                            f"windows (they start on day {first_window_day}); end it before that day")
        if isinstance(self.calibration_draws, str) and self.calibration_draws.strip().lower() == "all":
            put("calibration_draws", MAX_CALIBRATION_DRAWS)  # every available pseudo-date, capped
        for name in ("min_obs", "exclude_event_days", "placebo_draws", "calibration_draws", "seed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int,)) and not str(value).lstrip("-").isdigit():
                raise UserError(f"--{name.replace('_', '-')}: expected a whole number, not '{str(value)[:40]}'")
            put(name, int(value))
        k = self.model_spec.k
        if self.min_obs < k + 2:
            raise UserError(f"--min-obs {self.min_obs} is too small for model '{self.model}' (needs at least {k + 2})")
        length = estimation[1] - estimation[0] + 1
        if length < self.min_obs:
            raise UserError(f"--estimation {format_window(estimation)} holds {length} sessions, fewer than "
                            f"--min-obs {self.min_obs}: no firm could be fitted; lengthen the window or lower --min-obs")
        for name in ("placebo_draws", "calibration_draws", "exclude_event_days"):
            if getattr(self, name) < 0:
                raise UserError(f"--{name.replace('_', '-')} must be 0 or more, not {getattr(self, name)}")
        for name in ("placebo_draws", "calibration_draws"):
            if getattr(self, name) > MAX_DRAWS:
                raise UserError(f"--{name.replace('_', '-')} {getattr(self, name)} is outside 0..{MAX_DRAWS:,}")
        if self.primary_window is not None:
            pw = format_window(as_windows([self.primary_window])[0])
            if pw not in [format_window(w) for w in windows]:
                raise UserError(f"primary window {pw} is not one of the event windows "
                                f"({', '.join(format_window(w) for w in windows)}); add it with --window {pw}")
            put("primary_window", pw)
        test_names = registered_tests()
        if self.primary_test not in test_names:
            raise UserError(f"unknown primary test '{self.primary_test}' (choose from {', '.join(test_names)})")
        groups = (self.groups,) if isinstance(self.groups, str) else tuple(self.groups)
        unknown = [g for g in groups if g not in GROUPS]
        if unknown or not groups:
            raise UserError(f"unknown group(s) {', '.join(unknown) or '(none)'}: choose from {', '.join(GROUPS)}")
        put("groups", groups)
        if self.holm_scope not in HOLM_SCOPES:
            raise UserError(f"--holm-scope {self.holm_scope}: choose from {', '.join(HOLM_SCOPES)}")
        put("factor_exchanges", tuple(self.factor_exchanges))

    # -- derived --------------------------------------------------------------------------
    @property
    def model_spec(self) -> ModelSpec:
        """The model's :class:`~analysis.estimation.models.ModelSpec`."""
        return MODELS[self.model]

    @property
    def primary(self) -> str:
        """The primary window as run ('A:B'): the one given, else :data:`~analysis.vocab.PRIMARY_WINDOW`."""
        return self.primary_window or PRIMARY_WINDOW

    @property
    def window_names(self) -> list[str]:
        """The event windows as 'A:B'."""
        return [format_window(w) for w in self.windows]

    def replace(self, **changes) -> "StudySpec":
        """A variant (checked again): ``spec.replace(model="mean")``."""
        return dataclasses.replace(self, **changes)

    def describe(self) -> dict:
        """The settings as plain values (JSON, notebook parameters, the PDF's front page)."""
        return {"model": self.model, "estimation": format_window(self.estimation),
                "windows": self.window_names, "min_obs": self.min_obs,
                "exclude_event_days": self.exclude_event_days, "primary_window": self.primary,
                "primary_test": self.primary_test, "placebo_draws": self.placebo_draws,
                "calibration_draws": self.calibration_draws, "seed": self.seed, "groups": list(self.groups),
                "holm_scope": self.holm_scope}


def registered_tests() -> list[str]:
    """Names of the registered test statistics (importing the battery registers them all)."""
    from analysis.inference import battery  # noqa: F401 - registers every test
    from analysis.inference.registry import REGISTRY

    return list(REGISTRY)
