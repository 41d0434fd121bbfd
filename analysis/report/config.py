"""The report pipeline's configuration (``analysis/report/pipeline.yml`` by default).

See that file for the format and ``docs/config.md`` for the schema (every key, its type, range
and default). :func:`load_config` parses it with PyYAML's safe loader (plain data: no Python tags),
checks every value against the schema (so only strings, numbers, true/false and lists of those
ever reach a notebook as parameters) and resolves paths (relative paths are relative to the
repository root); :func:`apply_overrides` applies the command line.
"""
from __future__ import annotations

import keyword
import math
import re
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path

from analysis.errors import UserError
from analysis.paths import PROJECT as REPO
from analysis.vocab import PRIMARY_TEST, PRIMARY_WINDOW, as_windows, format_window

DEFAULT_CONFIG = Path(__file__).resolve().parent / "pipeline.yml"

#: Parameters the pipeline sets itself; a configuration may not set them.
RESERVED = {"output_dir", "price_snapshot", "progress", "prices", "event_id", "run_folder"}
#: Largest configuration file read (bytes).
MAX_CONFIG_BYTES = 1024 * 1024
MAX_TEXT = 1000  # characters of a string value
MAX_LIST = 1000  # items of a list value

_EVENT_ID = re.compile(r"^[a-z0-9]+(?:_[a-z0-9]+)*$")
_SYMBOL = re.compile(r"^\^?[A-Za-z0-9][A-Za-z0-9.\-=]{0,19}$")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")  # a Python identifier (notebook parameter)
_SLUG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,59}$")  # a notebook's name in the run folder
_TEST = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


class _Bad(Exception):
    """A value that does not fit its key: (dotted key, why); load_config adds the file."""

    def __init__(self, key: str, why: str):
        super().__init__(why)
        self.key, self.why = key, why


def _kind(value) -> str:
    """What a YAML value is, in words (for messages; never the value itself)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a true/false value"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (bytes, bytearray)):
        return "binary data (!!binary)"
    if isinstance(value, (set, frozenset)):
        return "a set (!!set)"
    if isinstance(value, datetime):
        return "a date and time"
    if isinstance(value, date):
        return "a date"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    return f"a {type(value).__name__}"


# -- value checkers: each returns the clean value or raises _Bad(key, why) ---------------------


def _text(key, v, pattern=None, what="text", max_len=MAX_TEXT):
    if not isinstance(v, str):
        raise _Bad(key, f"expected {what} (a string), got {_kind(v)}")
    if len(v) > max_len:
        raise _Bad(key, f"longer than {max_len} characters")
    if "\x00" in v:
        raise _Bad(key, "contains a NUL character")
    if pattern is not None and not pattern.fullmatch(v):
        raise _Bad(key, f"not {what}")
    return v


def _path(key, v):
    return _text(key, v, what="a path", max_len=4096)


def _integer(key, v, low, high):
    if isinstance(v, bool) or not isinstance(v, int):
        raise _Bad(key, f"expected a whole number {low}..{high}, got {_kind(v)}")
    if not low <= v <= high:
        raise _Bad(key, f"{v} is outside {low}..{high}")
    return v


def _draws_or_all(key, v):
    """Calibration draws: a whole number 0..100000, or ``all`` (every available pseudo-date)."""
    if isinstance(v, str) and v.strip().lower() == "all":
        return "all"
    if isinstance(v, bool) or not isinstance(v, int):
        raise _Bad(key, f"expected a whole number 0..100000 or all, got {_kind(v)}")
    return _integer(key, v, 0, 100_000)


def _boolean(key, v):
    if not isinstance(v, bool):
        raise _Bad(key, f"expected true or false, got {_kind(v)}")
    return v


def _window(key, v):
    from analysis.vocab import MAX_RELATIVE_DAY, parse_window

    _text(key, v, what="a window such as -1:1 (quote it)", max_len=40)
    try:
        a, b = parse_window(v)
    except (ValueError, TypeError):
        raise _Bad(key, "not a window START:END with START <= END (sessions relative to day 0), e.g. -1:1") from None
    if max(abs(a), abs(b)) > MAX_RELATIVE_DAY:
        raise _Bad(key, f"window bounds must lie within -{MAX_RELATIVE_DAY}..{MAX_RELATIVE_DAY} sessions")
    return v


def _model(key, v):
    from analysis.estimation.models import MODEL_LABELS

    _text(key, v, what="a model name", max_len=40)
    if v not in MODEL_LABELS:
        raise _Bad(key, f"unknown model (choose from {', '.join(MODEL_LABELS)})")
    return v


def _role(key, v):
    from analysis.vocab import NAMED, ROLES

    _text(key, v, what="a group", max_len=40)
    if v not in (NAMED, *ROLES):
        raise _Bad(key, f"unknown group (choose from {', '.join((NAMED, *ROLES))})")
    return v


def _test(key, v):
    """A registered test statistic's name (:data:`analysis.inference.registry.REGISTRY`)."""
    from analysis.inference.battery import REGISTRY

    _text(key, v, _TEST, "a test name such as bmp_kp", 40)
    if v not in REGISTRY:
        raise _Bad(key, f"unknown test (choose from {', '.join(REGISTRY)})")
    return v


def _event_id(key, v):
    return _text(key, v, _EVENT_ID, "an event id (snake_case: a-z, 0-9, _)", max_len=100)


def _symbol(key, v):
    return _text(key, v, _SYMBOL, "a ticker symbol such as 002415.SZ, AMBA or ^GSPC", max_len=21)


def _list_of(check, min_items=0):
    def run(key, v):
        if not isinstance(v, list):
            raise _Bad(key, f"expected a list, got {_kind(v)}")
        if not min_items <= len(v) <= MAX_LIST:
            raise _Bad(key, f"expected {min_items}..{MAX_LIST} items, got {len(v)}")
        return [check(f"{key}[{i}]", x) for i, x in enumerate(v)]

    return run


def _scalar(key, v):
    """A notebook parameter value: str, int, float (finite) or bool; nothing else reaches papermill."""
    if isinstance(v, str):
        return _text(key, v)
    if isinstance(v, bool):
        return v
    if isinstance(v, int):
        if abs(v) > 10**15:
            raise _Bad(key, "number too large")
        return v
    if isinstance(v, float):
        if not math.isfinite(v):
            raise _Bad(key, "not a finite number")
        return v
    raise _Bad(key, f"a notebook parameter must be a string, number or true/false (or a list of those), "
                    f"got {_kind(v)}")


def _generic(key, v):
    if isinstance(v, list):
        return _list_of(_scalar)(key, v)
    return _scalar(key, v)


#: Notebook parameters the notebooks declare, with their type and range (others: :func:`_generic`).
PARAMETERS = {
    "model": (_model, "model name (analysis.estimation.models.MODELS): mean, market-adjusted, market, ..."),
    "estimation": (_window, "estimation window START:END, sessions relative to day 0, within +-5000"),
    "windows": (_list_of(_window, 1), "list of event windows START:END, within +-5000"),
    "window": (_window, "event window START:END, within +-5000"),
    "min_obs": (lambda k, v: _integer(k, v, 1, 10_000), "whole number 1..10000"),
    "placebo_draws": (lambda k, v: _integer(k, v, 0, 100_000), "whole number 0..100000"),
    "calibration_draws": (lambda k, v: _draws_or_all(k, v), "whole number 0..100000, or all"),
    "robustness_models": (_list_of(_model), "list of model names"),
    "robustness_windows": (_list_of(_window), "list of windows START:END, within +-5000"),
    "primary_window": (_window, "window START:END, within +-5000"),
    "primary_symbols": (_list_of(_symbol), "list of ticker symbols"),
    "symbols": (_list_of(_symbol, 1), "list of ticker symbols"),
    "groups": (_list_of(_role, 1), "list of groups as printed: named, target, peer, supplier"),
    "event_ids": (_list_of(_event_id, 1), "list of event ids (snake_case)"),
    "test": (_test, "test name such as bmp_kp"),
    "factors": (_path, "path of a daily factor file (French format)"),
}


def _parameters(key, v) -> dict:
    if v is None:
        return {}
    if not isinstance(v, dict):
        raise _Bad(key, f"expected a mapping of notebook parameters, got {_kind(v)}")
    out = {}
    for name, value in v.items():
        if not isinstance(name, str) or not _NAME.fullmatch(name) or keyword.iskeyword(name):
            raise _Bad(f"{key}.{str(name)[:40]}", "a parameter name must be a Python identifier")
        if name in RESERVED:
            raise _Bad(f"{key}.{name}", "set by the pipeline itself; remove it")
        check = PARAMETERS.get(name, (_generic, ""))[0]
        out[name] = check(f"{key}.{name}", value)
    return out


def _mapping(key, v, known) -> dict:
    if v is None:
        return {}
    if not isinstance(v, dict):
        raise _Bad(key, f"expected a mapping with keys {', '.join(known)}, got {_kind(v)}")
    for k in v:
        if k not in known:
            raise _Bad(f"{key}.{str(k)[:40]}" if key else str(k)[:40], f"unknown setting (known: {', '.join(known)})")
    return v


#: Top-level settings: key -> (checker, default, documentation). docs/config.md lists them all.
TOP = {
    "title": (lambda k, v: _text(k, v, what="a title", max_len=200), "Event study report",
              "string, at most 200 characters"),
    "reports_dir": (_path, "reports", "path (relative: to the repository root)"),
    "events": (None, "all", "'all' or a list of event ids (snake_case), 1..1000"),
    "prices": (lambda k, v: None if v is None else _path(k, v), None,
               "path of a folder of <SYMBOL>.csv, or null (Yahoo Finance with the cache)"),
    "factors": (lambda k, v: None if v is None else _path(k, v), None,
                "path of a daily factor file, or null (downloaded from Kenneth French's data library, cached)"),
    "workers": (lambda k, v: _integer(k, v, 1, 32), 2, "whole number 1..32"),
    "reuse": (_boolean, True, "true or false"),
    "timeout": (lambda k, v: _integer(k, v, 1, 86_400), 900, "whole number of seconds 1..86400"),
    "keep": (lambda k, v: _integer(k, v, 1, 10_000), 20, "whole number 1..10000"),
    "primary": (None, None, "mapping: symbol, name, window, test (the primary comparison)"),
    "headline": (None, None, "deprecated name of 'primary' (still read)"),
    "parameters": (_parameters, {}, "mapping of notebook parameters"),
    "notebooks": (None, None, "non-empty list of notebooks (name, path, per_event, parameters)"),
}
PRIMARY = {
    "symbol": (_symbol, "002415.SZ", "ticker symbol"),
    "name": (lambda k, v: _text(k, v, what="a name", max_len=100), "", "string, at most 100 characters "
             "(empty: the name in data/universe.csv)"),
    "window": (_window, PRIMARY_WINDOW, "window START:END, within +-5000 (the StudySpec's primary window)"),
    "test": (_test, PRIMARY_TEST, "registered test name (the StudySpec's primary test: portfolio, bmp_kp, ...)"),
}
#: The former name of :data:`PRIMARY` (a configuration may still say ``headline:``).
HEADLINE = PRIMARY
#: Notebook parameters that are settings of the run (:class:`~analysis.inference.spec.StudySpec`).
SPEC_PARAMETERS = ("model", "estimation", "windows", "min_obs", "placebo_draws", "calibration_draws")
NOTEBOOK = {
    "name": (lambda k, v: _text(k, v, _SLUG, "a name of letters, digits, '_' and '-'", 60), None,
             "letters, digits, '_', '-' (required, unique)"),
    "path": (_path, None, "path of the .ipynb (required; relative: to the repository root)"),
    "per_event": (_boolean, False, "true: one run per event, with parameter event_id"),
    "parameters": (_parameters, {}, "mapping of notebook parameters (win over the top-level ones)"),
}
MAX_NOTEBOOKS = 50


@dataclass(frozen=True)
class NotebookSpec:
    name: str
    path: Path
    per_event: bool = False
    parameters: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Config:
    path: Path
    title: str
    reports_dir: Path
    events: tuple | None  # None: every catalog event
    prices: Path | None  # None: Yahoo Finance
    factors: Path | None
    workers: int
    reuse: bool
    timeout: int
    primary: dict
    parameters: dict
    notebooks: tuple
    keep: int = 20  # run folders kept in reports_dir (the newest; never the one `latest` points to)
    spec: object = None  # the run's StudySpec (from `parameters` and `primary`), checked once

    @property
    def headline(self) -> dict:
        """Deprecated name of :attr:`primary`."""
        return self.primary


def _repo_path(value) -> Path:
    p = Path(str(value)).expanduser()
    return p if p.is_absolute() else (REPO / p)


def _read_yaml(path: Path):
    """The file through PyYAML's safe loader: plain data only (no Python tags); one-line errors.
    libyaml's ``CSafeLoader`` when PyYAML has it (same data; about 1.8 s of CPU less than the
    pure-Python loader on 5,000 nested brackets, which it refuses at its nesting limit rather than
    at Python's recursion limit)."""
    import yaml

    from analysis.data.textfile import read_bytes

    if not path.exists() and not path.is_symlink():
        raise UserError(f"pipeline configuration {path} not found")
    data = read_bytes(path, "a configuration", MAX_CONFIG_BYTES)  # a regular file: never /dev/zero
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{path}: not UTF-8 text") from None
    try:
        return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except RecursionError:
        raise UserError(f"{path}: not a readable YAML file (nested too deeply)") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise UserError(f"{path}: not a readable YAML file{where} ({' '.join(str(problem).split())[:200]})") from None


def _events(key, v):
    if v in (None, "all"):
        return None
    if isinstance(v, str):
        return (_event_id(key, v),)
    if not isinstance(v, list) or not v:
        raise _Bad(key, f"expected 'all' or a non-empty list of event ids, got {_kind(v)}")
    return tuple(_list_of(_event_id, 1)(key, v))


def load_config(path=None) -> Config:
    """Read and validate a pipeline configuration (YAML) against the schema (:data:`TOP`,
    :data:`PRIMARY`, :data:`NOTEBOOK`, :data:`PARAMETERS`): every key known, every value of its
    type and range. A bad one is a ``UserError`` naming the file and the key."""
    path = Path(path) if path else DEFAULT_CONFIG
    raw = _read_yaml(path)
    try:
        return _build(path, raw)
    except _Bad as bad:
        raise UserError(f"{path}: '{bad.key}': {bad.why}") from None


def _build(path: Path, raw) -> Config:
    if not isinstance(raw, dict):
        raise UserError(f"{path}: expected a mapping of settings at the top level")
    _mapping("", raw, list(TOP))
    value = {}
    for key, (check, default, _) in TOP.items():
        if check is not None:
            value[key] = check(key, raw[key]) if key in raw and raw[key] is not None else default
    events = _events("events", raw.get("events", "all"))
    if raw.get("primary") is not None and raw.get("headline") is not None:
        raise _Bad("headline", "the deprecated name of 'primary'; give one of them, not both")
    section = "primary" if raw.get("headline") is None else "headline"
    primary = {k: d for k, (_, d, _) in PRIMARY.items()}
    for k, v in _mapping(section, raw.get(section), list(PRIMARY)).items():
        primary[k] = PRIMARY[k][0](f"{section}.{k}", v)
    nbs = raw.get("notebooks")
    if not isinstance(nbs, list) or not nbs:
        raise _Bad("notebooks", f"expected a non-empty list of notebooks, got {_kind(nbs)}")
    if len(nbs) > MAX_NOTEBOOKS:
        raise _Bad("notebooks", f"at most {MAX_NOTEBOOKS} notebooks")
    specs, names = [], set()
    for i, nb in enumerate(nbs):
        where = f"notebooks[{i}]"
        if not isinstance(nb, dict):
            raise _Bad(where, f"expected a mapping with name, path, per_event, parameters, got {_kind(nb)}")
        _mapping(where, nb, list(NOTEBOOK))
        if not nb.get("name") or not nb.get("path"):
            raise _Bad(where, "needs a name and a path")
        name = NOTEBOOK["name"][0](f"{where}.name", nb["name"])
        if name in names:
            raise _Bad(f"{where}.name", f"duplicate notebook name '{name}'")
        names.add(name)
        nb_path = _repo_path(NOTEBOOK["path"][0](f"{where}.path", nb["path"]))
        per_event = NOTEBOOK["per_event"][0](f"{where}.per_event", nb["per_event"]) if "per_event" in nb else False
        nb_params = _parameters(f"{where}.parameters", nb.get("parameters"))
        if not nb_path.is_file():
            raise _Bad(f"{where}.path", f"notebook {nb_path} not found")
        specs.append(NotebookSpec(name, nb_path, per_event, nb_params))
        run_spec(path, {**value["parameters"], **nb_params}, primary, f"{where}.parameters")
    spec = run_spec(path, value["parameters"], primary, "parameters")
    prices, factors = value["prices"], value["factors"]
    return Config(
        path=path, title=value["title"] or "Event study report",
        reports_dir=_repo_path(value["reports_dir"] or "reports"), events=events,
        prices=_repo_path(prices) if prices else None, factors=_repo_path(factors) if factors else None,
        workers=value["workers"], reuse=value["reuse"], timeout=value["timeout"], primary=primary,
        parameters=value["parameters"], notebooks=tuple(specs), keep=value["keep"], spec=spec,
    )


def check_symbols(cfg: Config, known) -> None:
    """UserError naming the file and key when ``primary.symbol``, or a ``primary_symbols`` /
    ``symbols`` notebook parameter, names a symbol outside the universe ``known`` (its firm would
    have no row: the primary and the robustness tables would be empty without saying why)."""
    known = set(known)
    found = [("primary.symbol", cfg.primary.get("symbol"))]
    for where, params in [("parameters", cfg.parameters)] + [(f"notebooks[{i}].parameters", nb.parameters)
                                                             for i, nb in enumerate(cfg.notebooks)]:
        for name in ("primary_symbols", "symbols"):
            found += [(f"{where}.{name}[{j}]", s) for j, s in enumerate(params.get(name) or [])]
    for key, symbol in found:
        if symbol is not None and symbol not in known:
            raise UserError(f"{cfg.path}: '{key}': {symbol} is not in the universe (data/universe.csv)")
def run_spec(path: Path, parameters: dict, primary: dict, key: str = "parameters"):
    """The :class:`~analysis.inference.spec.StudySpec` of notebook ``parameters`` (the run's
    settings among them: :data:`SPEC_PARAMETERS`) and the ``primary`` section: every check of a
    run's settings is the spec's; a bad value is a ``UserError`` naming the file and the key."""
    from analysis.inference.spec import StudySpec

    given = {k: parameters[k] for k in SPEC_PARAMETERS if parameters.get(k) is not None}
    if "windows" in given:
        given["windows"] = tuple(given["windows"])
    if primary.get("test"):
        given["primary_test"] = primary["test"]
    try:
        windows = [format_window(w) for w in as_windows(given.get("windows") or StudySpec.windows)]
        if primary.get("window") in windows:
            given["primary_window"] = primary["window"]
        return StudySpec(**given)
    except UserError as exc:
        raise UserError(f"{path}: '{key}': {exc}") from None


def apply_overrides(cfg: Config, prices=None, events=None, reports_dir=None, refresh: bool = False,
                    factors=None) -> Config:
    """Command-line options win over the file: paths given on the command line are relative to
    the current directory."""
    changes = {}
    if factors:
        changes["factors"] = Path(factors).expanduser().resolve()
    if prices:
        changes["prices"] = Path(prices).expanduser().resolve()
    if events:
        changes["events"] = tuple(dict.fromkeys(events))
    if reports_dir:
        changes["reports_dir"] = Path(reports_dir).expanduser().resolve()
    if refresh:
        changes["reuse"] = False
    return replace(cfg, **changes) if changes else cfg
