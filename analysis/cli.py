"""Command line: ``python -m analysis study ...``, ``python -m analysis report ...``,
``python -m analysis compile`` (fill the compiled kernels' cache; ``make`` runs it at install) and
``python -m analysis events-doc`` (write ``docs/events.md`` from the data files).

Exit codes: 0 success (skipped firms included), 2 user error (one line on stderr, never a
traceback), 3 a study run whose every firm-event was skipped (the CSV files are written, the
reasons in skipped.csv; one line on stderr), 1 a failure of the machine (disk full, file too
large: one line) or an unexpected one.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from analysis.errors import SystemFailure, UserError, os_error
from analysis.estimation.models import MODEL_LABELS
from analysis.inference.spec import HOLM_SCOPES, MAX_DRAWS as MAX_PLACEBO_DRAWS, StudySpec
from analysis.safe_text import terminal_text
from analysis.vocab import DEFAULT_CALIBRATION_DRAWS, MAX_CALIBRATION_DRAWS, MAX_RELATIVE_DAY, format_window

#: Exit code of a study run in which no firm-event could be fitted.
EXIT_NOTHING_FITTED = 3
#: The defaults shown by --help are the run specification's (one place: StudySpec).
DEFAULTS = StudySpec()


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2, like every other user error
        raise UserError(f"{self.prog}: {message}")


def _window(text: str) -> str:
    from analysis.vocab import parse_window

    shown = text if len(text) <= 40 else text[:37] + "..."
    try:
        a, b = parse_window(text)
    except (ValueError, TypeError):
        raise argparse.ArgumentTypeError(f"bad window '{shown}': expected START:END with START <= END "
                                         "(trading days relative to day 0), e.g. -1:1")
    if max(abs(a), abs(b)) > MAX_RELATIVE_DAY:
        raise argparse.ArgumentTypeError(f"bad window '{shown}': bounds must lie within "
                                         f"-{MAX_RELATIVE_DAY}..{MAX_RELATIVE_DAY} sessions of day 0")
    return text


def _path(text: str) -> str:
    """A path option: never empty (an empty path would fall back to the default silently)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a path, got an empty string")
    return text


def _input_file(text: str) -> str:
    """An input file option: a non-empty path; when it exists, a regular file (not /dev/zero, a
    pipe or a folder: those are refused before anything is read)."""
    import stat

    _path(text)
    try:
        mode = Path(text).stat().st_mode
    except OSError:
        return text  # missing or unreadable: the loader's one-line error names it
    if stat.S_ISDIR(mode):
        raise argparse.ArgumentTypeError(f"{text}: is a folder, not a file")
    if not stat.S_ISREG(mode):
        raise argparse.ArgumentTypeError(f"{text}: not a regular file (a device or a pipe)")
    return text


def _count(low: int, high: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, not '{text[:40]}'") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is outside {low}..{high:,}")
        return value

    return parse


def _count_or_all(low: int, high: int):
    """A whole number in low..high, or 'all' (kept as the text)."""
    number = _count(low, high)

    def parse(text: str):
        return "all" if text.strip().lower() == "all" else number(text)

    return parse


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m analysis", description="Event studies of sanctions news.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    s = sub.add_parser("study", help="run the event study and write the CSV files")
    s.add_argument("--prices", metavar="DIR", type=_path, help="folder of <SYMBOL>.csv recorded prices (default: Yahoo + cache)")
    s.add_argument("--events", metavar="FILE", type=_input_file, help="event catalog (default data/events.csv)")
    s.add_argument("--universe", metavar="FILE", type=_input_file, help="securities (default data/universe.csv)")
    s.add_argument("--event", action="append", metavar="ID", help="only this event (repeatable)")
    s.add_argument("--symbol", action="append", metavar="SYM", help="only this security (repeatable)")
    s.add_argument("--model", default=DEFAULTS.model, help=" | ".join(MODEL_LABELS))
    s.add_argument("--estimation", default=format_window(DEFAULTS.estimation), type=_window, metavar="A:B",
                   help=f"estimation window, sessions relative to day 0 (default {format_window(DEFAULTS.estimation)})")
    s.add_argument("--window", action="append", type=_window, metavar="A:B",
                   help=f"event window (repeatable; default {' '.join(DEFAULTS.window_names)})")
    s.add_argument("--min-obs", type=int, default=DEFAULTS.min_obs,
                   help=f"minimum estimation returns (default {DEFAULTS.min_obs})")
    s.add_argument("--factors", action="append", metavar="FILE", type=_input_file,
                   help="daily factor file(s), French format, percent (repeatable: 3-factor + momentum; "
                        "default: downloaded from Kenneth French's data library and cached)")
    s.add_argument("--placebo-draws", type=_count(0, MAX_PLACEBO_DRAWS), default=DEFAULTS.placebo_draws,
                   help=f"pseudo-event dates per event (0: off; default {DEFAULTS.placebo_draws})")
    s.add_argument("--calibration-draws", type=_count_or_all(0, MAX_PLACEBO_DRAWS), default=DEFAULT_CALIBRATION_DRAWS,
                   help=f"pseudo-event dates per event every test is re-run at for p_calibrated and size_5pct "
                        f"(the placebo's first, then more; 'all': every available date, at most "
                        f"{MAX_CALIBRATION_DRAWS:,}; default {DEFAULT_CALIBRATION_DRAWS})")
    s.add_argument("--allow-extreme-returns", action="store_true",
                   help="keep securities with a daily return outside -80%%..+400%% (default: a data error, skipped)")
    s.add_argument("--event-firms", metavar="FILE", type=_input_file,
                   help="who each event named (default data/event_firms.csv; a header-only file: groups by role)")
    s.add_argument("--event-dates", metavar="FILE", type=_input_file, help="alternative event dates (default data/event_dates.csv)")
    s.add_argument("--confounders", metavar="FILE", type=_input_file, help="known other news (default data/confounders.csv)")
    s.add_argument("--event-customers", metavar="FILE", type=_input_file,
                   help="unlisted firms each event named, e.g. Huawei (default data/event_customers.csv)")
    s.add_argument("--supply-links", metavar="FILE", type=_input_file,
                   help="who supplies whom (default data/supply_links.csv; a header-only file: one supplier group)")
    s.add_argument("--exposure", metavar="FILE", type=_input_file, help="suppliers' revenue exposure (default data/exposure.csv)")
    s.add_argument("--merger-periods", metavar="FILE", type=_input_file,
                   help="periods in which a firm trades on a merger offer (default data/merger_periods.csv)")
    s.add_argument("--exclude-event-days", type=int, default=DEFAULTS.exclude_event_days, metavar="K",
                   help=f"leave sessions within K sessions of a catalog event's day 0 out of the estimation "
                        f"windows (default {DEFAULTS.exclude_event_days}; 0 keeps every session)")
    s.add_argument("--primary-window", type=_window, metavar="A:B", default=None,
                   help=f"window of the primary family (Holm-adjusted {DEFAULTS.primary_test} tests; "
                        f"default {DEFAULTS.primary})")
    s.add_argument("--holm-scope", choices=HOLM_SCOPES, default=DEFAULTS.holm_scope,
                   help="the events Holm's adjustment of the primary family runs over: those of this run "
                        "(default), or every event of the catalog (a subset's p_holm then matches the full run's)")
    s.add_argument("--refresh", action="store_true", help="re-download prices even if cached")
    s.add_argument("--out", required=True, metavar="DIR", help="output folder")
    s.add_argument("--quiet", action="store_true", help="do not print the summary")

    sub.add_parser("compile", help="compile the numba kernels into their on-disk cache (make runs it at "
                                   "install, so no run pays the ~15 s compilation)")

    d = sub.add_parser("events-doc", help="write docs/events.md, the event record, from the data files")
    d.add_argument("--out", metavar="FILE", help="where to write it (default docs/events.md)")
    d.add_argument("--check", action="store_true", help="write nothing; exit 2 when the file is not current")
    r = sub.add_parser("report", help="run the notebooks with papermill and build the PDF")
    r.add_argument("--prices", metavar="DIR", type=_path, help="folder of <SYMBOL>.csv recorded prices (default: Yahoo + cache)")
    r.add_argument("--config", metavar="FILE", type=_input_file, help="pipeline configuration (default reports config in the repo)")
    r.add_argument("--run-id", metavar="ID", help="name of the run folder under reports/")
    r.add_argument("--reports-dir", metavar="DIR", default=None, type=_path, help="where runs go (default reports/)")
    r.add_argument("--event", action="append", metavar="ID", help="only these events (repeatable)")
    r.add_argument("--factors", metavar="FILE", type=_input_file,
                   help="daily factor file for the ff3 robustness (default: the config's, else downloaded)")
    r.add_argument("--refresh", action="store_true", help="re-download prices even if cached")
    return p


def _check_out(out: str) -> Path:
    """``--out`` must name a folder (existing or not), never '' or a file."""
    if not out or not out.strip():
        raise UserError("--out: expected a folder name, got an empty string")
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise UserError(f"--out {out}: is a file, not a folder")
    return path


def cmd_study(args) -> int:
    from analysis.study import EventStudy

    out = _check_out(args.out)
    spec = StudySpec(model=args.model, estimation=args.estimation, windows=tuple(args.window or DEFAULTS.windows),
                     min_obs=args.min_obs, placebo_draws=args.placebo_draws, calibration_draws=args.calibration_draws,
                     exclude_event_days=args.exclude_event_days, primary_window=args.primary_window,
                     holm_scope=args.holm_scope)
    study = EventStudy(
        events=args.events, universe=args.universe, prices=args.prices, spec=spec,
        factors=args.factors, event_ids=args.event, symbols=args.symbol,
        progress=sys.stderr.isatty(), refresh=args.refresh,
        allow_extreme_returns=args.allow_extreme_returns,
        event_firms=args.event_firms, event_dates=args.event_dates, confounders=args.confounders,
        event_customers=args.event_customers, supply_links=args.supply_links, exposure=args.exposure,
        merger_periods=args.merger_periods,
    )
    res = study.fit()
    try:
        written = res.to_csv(out)
    except OSError as exc:
        raise os_error(exc, f"cannot write the results to {args.out}") from None
    if not args.quiet and len(res.estimation):
        print(terminal_text(str(res.summary())))  # titles and names are the user's: no escape codes
    print(f"wrote {', '.join(p.name for p in written)} to {args.out}", file=sys.stderr)
    if not len(res.estimation):  # nothing was fitted: not a success, whatever the files say
        first = res.skipped.iloc[0] if len(res.skipped) else None
        why = f"; first: {first['event_id']} {first['symbol']}: {first['reason']}" if first is not None else ""
        print(f"error: every firm-event was skipped ({len(res.skipped)}; see skipped.csv){why}", file=sys.stderr)
        return EXIT_NOTHING_FITTED
    return 0


def cmd_compile(args) -> int:
    import tempfile

    from analysis.warmup import compile_kernels

    with tempfile.TemporaryDirectory(prefix="analysis-compile-") as tmp:
        done = compile_kernels(Path(tmp))
    compiled = sum(1 for miss, _ in done["kernels"].values() if miss)
    cached = sum(1 for miss, hit in done["kernels"].values() if hit and not miss)
    print(f"kernels: {compiled} compiled, {cached} already in the cache ({done['seconds']:.1f} s)", file=sys.stderr)
    return 0


def cmd_report(args) -> int:
    from analysis.report.pipeline import run_pipeline

    try:
        return run_pipeline(prices=args.prices, config=args.config, run_id=args.run_id,
                            reports_dir=args.reports_dir, events=args.event, refresh=args.refresh,
                            factors=args.factors)
    except OSError as exc:  # the reports folder: read-only, full, not a folder
        raise os_error(exc, "cannot write the report") from None


_NEGATIVE_VALUE_OPTIONS = ("--window", "--estimation", "--primary-window")


def _join_negative_values(argv: list[str]) -> list[str]:
    """Let ``--window -1:1`` mean ``--window=-1:1`` (argparse would read -1:1 as an option)."""
    out, i = [], 0
    while i < len(argv):
        if argv[i] in _NEGATIVE_VALUE_OPTIONS and i + 1 < len(argv) and argv[i + 1].startswith("-") \
                and ":" in argv[i + 1]:
            out.append(f"{argv[i]}={argv[i + 1]}")
            i += 2
        else:
            out.append(argv[i])
            i += 1
    return out


def cmd_events_doc(args) -> int:
    """Write (or, with --check, compare) the event record page."""
    from analysis.report import event_record

    path = Path(args.out) if args.out else event_record.EVENTS_DOC
    if args.check:
        current = path.read_text(encoding="utf-8") if path.is_file() else None
        if current != event_record.events_doc_text():
            raise UserError(f"{path} is not current: run {event_record.COMMAND}")
        print(f"{path} is current")
        return 0
    print(event_record.write_events_doc(path))
    return 0


def main(argv=None) -> int:
    argv = _join_negative_values(list(sys.argv[1:] if argv is None else argv))
    try:
        args = build_parser().parse_args(argv)
        return {"study": cmd_study, "report": cmd_report, "compile": cmd_compile,
                "events-doc": cmd_events_doc}[args.command](args)
    except UserError as exc:
        print(f"error: {terminal_text(exc)}", file=sys.stderr)
        return 2
    except SystemFailure as exc:
        print(f"error: {terminal_text(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
