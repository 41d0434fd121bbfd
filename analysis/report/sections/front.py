"""The PDF's front matter: title, the run (title page, footer, appendix), the data range and the
study's settings (title page, summary, Methods) (template blocks ``data.title``, ``data.run``,
``data.data_range``, ``data.settings``)."""
from __future__ import annotations

from datetime import datetime, timezone

import pandas as pd

from analysis import fmt
from analysis.inference.battery import describe
from analysis.report import provenance as prov
from analysis.report.context import ReportInputs
from analysis.estimation.models import MODEL_LABELS
from analysis.vocab import PRIMARY_WINDOW, DEFAULT_ESTIMATION, DEFAULT_MIN_OBS, benchmark_name, exchange_label, format_window


def title(inputs: ReportInputs) -> str:
    return inputs.run.cfg.title


def run(inputs: ReportInputs) -> dict:
    """Run id, start, status, failures, git commit, times."""
    ctx = inputs.run
    return {"id": ctx.run_id, "date": ctx.started.strftime("%-d %B %Y, %H:%M UTC"),
            "status": "complete" if not ctx.failed else "INCOMPLETE",
            "failures": ctx.failed, "git": prov.git_state()["describe"],
            "seconds": f"{ctx.elapsed_before_pdf:.1f}", "notebooks_seconds": f"{ctx.notebooks_seconds:.1f}",
            "built": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")}


def data_range(inputs: ReportInputs) -> dict:
    """First and last price date, number of series, price source, the events' date range."""
    ctx, cfg = inputs.run, inputs.run.cfg
    used = [r for r in ctx.price_rows if r.get("first")]
    dates = sorted(pd.Timestamp(r["announced_at"][:10]) for r in ctx.catalog.to_dict("records")
                   if r["event_id"] in set(ctx.event_ids))
    return {"first": min((r["first"] for r in used), default="—"),
            "last": max((r["last"] for r in used), default="—"), "series": len(used),
            "source": f"recorded CSV files in {prov.display_path(cfg.prices)}" if cfg.prices else "Yahoo Finance (cached)",
            "events_first": fmt.date_text(dates[0]) if dates else "—",
            "events_last": fmt.date_text(dates[-1]) if dates else "—", "events": len(ctx.event_ids)}


def settings(inputs: ReportInputs) -> dict:
    """Model, windows, estimation window, headline and benchmarks, as the notebooks ran them."""
    params = inputs.run.cfg.parameters
    main_model, headline, uni = inputs.main_model, inputs.headline, inputs.universe
    meta0 = next((e.meta for e in inputs.studied if e.meta), {})
    return {"model": MODEL_LABELS.get(main_model, main_model).lower(), "model_id": main_model,
            "estimation": fmt.window_label(str(meta0.get("estimation",
                                                         params.get("estimation", format_window(DEFAULT_ESTIMATION))))),
            "windows": ", ".join(fmt.window_label(w) for w in meta0.get("windows", params.get("windows", []))),
            "min_obs": str(meta0.get("min_obs", params.get("min_obs", DEFAULT_MIN_OBS))),
            "placebo_draws": str(meta0.get("placebo_draws", params.get("placebo_draws", 0))),
            "headline_window": fmt.window_label(headline.window), "headline_test": describe(headline.test, "description"),
            "headline_firm": f"{headline.name} ({headline.symbol})",
            "benchmarks": "; ".join(f"{exchange_label(e)}: {benchmark_name(b)} ({b})" for e, b in
                                    uni.drop_duplicates("exchange")[["exchange", "benchmark"]].itertuples(index=False)),
            "firms": str(len(uni)), "primary_window": fmt.window_label(PRIMARY_WINDOW)}
