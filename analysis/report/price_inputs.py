"""The prices of a report run: every universe symbol and benchmark loaded once (with provenance)."""
from __future__ import annotations

import sys
import time
from dataclasses import replace

from analysis.errors import UserError
from analysis.report import provenance as prov
from analysis.paths import cache_dir
from analysis.report.config import Config

DEFAULT_CACHE = cache_dir()  # the one cache of study and report (analysis.paths)


def load_prices(cfg: Config, refresh: bool, log):
    """Every universe symbol and benchmark, once: (source, frames, errors, provenance rows, note)."""
    from analysis.data import catalog
    from analysis.data import prices as prices_mod

    uni = catalog.load_universe()
    symbols = list(dict.fromkeys(list(uni["symbol"]) + list(uni["benchmark"])))
    source = prices_mod.get_source(str(cfg.prices) if cfg.prices else None, cache_dir=str(DEFAULT_CACHE),
                                   refresh=refresh)
    before = {}
    if cfg.prices is None:
        for sym in symbols:
            path = source.cache_path(sym)
            before[sym] = prov.sha256_file(path) if path.is_file() else None
    t0 = time.monotonic()
    frames, errors = prices_mod.load_prices(source, symbols, progress=sys.stderr.isatty())
    rows = prov.price_provenance(source, frames, errors, symbols)
    secs = time.monotonic() - t0
    if not frames:
        first = next(iter(errors.values()), "no symbols")
        raise UserError(f"no prices could be loaded ({len(errors)} symbols failed; first: {first})")
    if cfg.prices is None:
        after = {r["symbol"]: r.get("sha256") for r in rows}
        reused = sum(1 for s in symbols if before.get(s) and before[s] == after.get(s))
        fetched = sum(1 for s in symbols if s in frames) - reused
        note = (f"{len(frames)} of {len(symbols)} series from Yahoo Finance via the cache {DEFAULT_CACHE}: "
                f"{reused} reused unchanged, {fetched} downloaded or updated ({secs:.1f} s)")
    else:
        note = (f"{len(frames)} of {len(symbols)} series read from the recorded CSV folder {cfg.prices} "
                f"({secs:.1f} s), once for every notebook")
    if errors:
        note += f"; {len(errors)} could not be loaded: " + "; ".join(f"{s}: {e}" for s, e in errors.items())
    log(f"prices: {note}")
    return source, frames, errors, rows, note


def resolve_factors(cfg: Config, log) -> Config:
    """With no factor file configured, download French's daily 3 factors (cached) when a notebook
    runs a factor model; offline, point at the missing cache file so the PDF and the notebooks
    say the ff3 robustness is left out."""
    if cfg.factors is not None:
        return cfg
    wanted = [cfg.parameters] + [s.parameters for s in cfg.notebooks]
    models = {m for p in wanted for m in [p.get("model")] + list(p.get("robustness_models") or [])}
    from analysis.estimation.models import factor_models

    if not models & set(factor_models()):
        return cfg
    from analysis.data.factors import THREE_FACTORS, FrenchLibrary

    library = FrenchLibrary(cache_dir=DEFAULT_CACHE)
    try:
        path = library.fetch(THREE_FACTORS)
        log(f"factors: {path}")
    except UserError as exc:
        path = library.path(THREE_FACTORS)
        log(f"factors: {exc}; the factor-model robustness is left out")
    return replace(cfg, factors=path)
