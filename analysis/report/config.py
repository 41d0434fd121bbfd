"""The report pipeline's configuration (``analysis/report/pipeline.yml`` by default).

See that file for the format. :func:`load_config` validates it and resolves paths (relative
paths are relative to the repository root); :func:`apply_overrides` applies the command line.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from analysis.errors import UserError
from analysis.paths import PROJECT as REPO

DEFAULT_CONFIG = Path(__file__).resolve().parent / "pipeline.yml"

_TOP_KEYS = {"title", "reports_dir", "events", "prices", "factors", "workers", "reuse", "timeout", "headline",
             "parameters", "notebooks"}
_NB_KEYS = {"name", "path", "per_event", "parameters"}
_HEADLINE_KEYS = {"symbol", "name", "window", "test"}
#: Parameters the pipeline sets itself; a configuration may not set them.
RESERVED = {"output_dir", "price_snapshot", "progress", "prices", "event_id"}


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
    headline: dict
    parameters: dict
    notebooks: tuple


def _repo_path(value) -> Path:
    p = Path(str(value)).expanduser()
    return p if p.is_absolute() else (REPO / p)


def load_config(path=None) -> Config:
    """Read and validate a pipeline configuration (YAML); errors name the file and the key."""
    import yaml

    path = Path(path) if path else DEFAULT_CONFIG
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"pipeline configuration {path} not found") from None
    except (OSError, yaml.YAMLError) as exc:
        raise UserError(f"{path}: not a readable YAML file ({' '.join(str(exc).split())})") from None
    if not isinstance(raw, dict):
        raise UserError(f"{path}: expected a mapping of settings at the top level")

    def bad(key, why):
        return UserError(f"{path}: '{key}': {why}")

    unknown = sorted(set(raw) - _TOP_KEYS)
    if unknown:
        raise bad(unknown[0], f"unknown setting (known: {', '.join(sorted(_TOP_KEYS))})")
    events = raw.get("events", "all")
    if events in (None, "all"):
        events = None
    elif isinstance(events, str):
        events = (events,)
    elif isinstance(events, list) and events and all(isinstance(e, str) for e in events):
        events = tuple(events)
    else:
        raise bad("events", "expected 'all' or a non-empty list of event ids")
    try:
        workers = int(raw.get("workers", 2))
        timeout = int(raw.get("timeout", 900))
    except (TypeError, ValueError):
        raise bad("workers/timeout", "expected whole numbers") from None
    if workers < 1:
        raise bad("workers", "must be at least 1")
    headline = {"symbol": "002415.SZ", "name": "", "window": "-1:1", "test": "bmp_kp"}
    h = raw.get("headline") or {}
    if not isinstance(h, dict) or set(h) - _HEADLINE_KEYS:
        raise bad("headline", f"expected a mapping with keys {', '.join(sorted(_HEADLINE_KEYS))}")
    headline.update({k: str(v) for k, v in h.items()})
    params = raw.get("parameters") or {}
    if not isinstance(params, dict):
        raise bad("parameters", "expected a mapping of notebook parameters")
    reserved = sorted(set(params) & RESERVED)
    if reserved:
        raise bad(f"parameters.{reserved[0]}", "set by the pipeline itself; remove it")
    nbs = raw.get("notebooks")
    if not isinstance(nbs, list) or not nbs:
        raise bad("notebooks", "expected a non-empty list of notebooks")
    specs, names = [], set()
    for i, nb in enumerate(nbs):
        where = f"notebooks[{i}]"
        if not isinstance(nb, dict):
            raise bad(where, "expected a mapping with name, path, per_event, parameters")
        unknown = sorted(set(nb) - _NB_KEYS)
        if unknown:
            raise bad(f"{where}.{unknown[0]}", f"unknown setting (known: {', '.join(sorted(_NB_KEYS))})")
        if not nb.get("name") or not nb.get("path"):
            raise bad(where, "needs a name and a path")
        name = str(nb["name"])
        if name in names:
            raise bad(f"{where}.name", f"duplicate notebook name '{name}'")
        names.add(name)
        nb_params = nb.get("parameters") or {}
        if not isinstance(nb_params, dict):
            raise bad(f"{where}.parameters", "expected a mapping")
        reserved = sorted(set(nb_params) & RESERVED)
        if reserved:
            raise bad(f"{where}.parameters.{reserved[0]}", "set by the pipeline itself; remove it")
        nb_path = _repo_path(nb["path"])
        if not nb_path.is_file():
            raise bad(f"{where}.path", f"notebook {nb_path} not found")
        specs.append(NotebookSpec(name, nb_path, bool(nb.get("per_event", False)), dict(nb_params)))
    prices = raw.get("prices")
    factors = raw.get("factors")
    return Config(
        path=path, title=str(raw.get("title") or "Event study report"),
        reports_dir=_repo_path(raw.get("reports_dir") or "reports"), events=events,
        prices=_repo_path(prices) if prices else None, factors=_repo_path(factors) if factors else None,
        workers=workers, reuse=bool(raw.get("reuse", True)), timeout=timeout, headline=headline,
        parameters=dict(params), notebooks=tuple(specs),
    )


def apply_overrides(cfg: Config, prices=None, events=None, reports_dir=None, refresh: bool = False) -> Config:
    """Command-line options win over the file: paths given on the command line are relative to
    the current directory."""
    changes = {}
    if prices:
        changes["prices"] = Path(prices).expanduser().resolve()
    if events:
        changes["events"] = tuple(dict.fromkeys(events))
    if reports_dir:
        changes["reports_dir"] = Path(reports_dir).expanduser().resolve()
    if refresh:
        changes["reuse"] = False
    return replace(cfg, **changes) if changes else cfg
