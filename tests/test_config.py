"""The report configuration schema (analysis.report.config): every key typed and ranged, unknown
keys refused, nothing but plain strings, numbers, booleans and lists of those reaching papermill.

Issue 13, case 1 (code execution from a config) and case 8 (config values of the wrong type).
"""
from __future__ import annotations

import base64
import textwrap
from pathlib import Path

import pytest

from analysis.errors import UserError
from analysis.report.config import HEADLINE, NOTEBOOK, PARAMETERS, TOP, load_config

REPO = Path(__file__).resolve().parents[1]
NB = "notebooks/event_study.ipynb"


def _cfg(tmp_path, body: str, name="c.yml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


def _payload(marker: Path) -> str:
    """Python that creates ``marker`` once papermill pastes it into the parameters cell unescaped."""
    return f'";open(r"{marker}","w").close();x="'


def _injections(marker: Path) -> dict[str, str]:
    code = _payload(marker)
    return {
        "binary": f"!!binary {base64.b64encode(code.encode()).decode()}",
        "set": "!!set {? " + "'" + code + "'" + "}",
    }


@pytest.mark.parametrize("tag", ["binary", "set"])
def test_case1_injected_code_reaches_papermill_unescaped_without_the_schema(tmp_path, tag):
    """Reproduces the hole: what yaml.safe_load makes of the value, papermill writes as code."""
    import papermill.translators as tr
    import yaml

    marker = tmp_path / "marker"
    raw = yaml.safe_load(f"model: {_injections(marker)[tag]}\n")["model"]
    assert isinstance(raw, (bytes, set))
    cell = tr.PythonTranslator.codify({"model": raw})
    exec(compile(cell, "parameters", "exec"), {})  # what the notebook kernel would run
    assert marker.exists()


@pytest.mark.parametrize("tag, kind", [("binary", r"binary data \(!!binary\)"), ("set", r"a set \(!!set\)")])
@pytest.mark.parametrize("where", ["top", "notebook"])
def test_case1_injection_is_refused_before_anything_runs(tmp_path, tag, kind, where, capsys):
    from analysis.cli import main

    marker = tmp_path / "marker"
    value = _injections(marker)[tag]
    if where == "top":
        body = f"parameters:\n  model: {value}\nnotebooks:\n  - name: e\n    path: {NB}\n    per_event: true\n"
        key = "parameters.model"
    else:
        body = (f"notebooks:\n  - name: e\n    path: {NB}\n    per_event: true\n    parameters:\n"
                f"      robustness_models: [{value}]\n")
        key = r"notebooks\[0\].parameters.robustness_models\[0\]"
    cfg = _cfg(tmp_path, body)
    with pytest.raises(UserError, match=rf"c.yml: '{key}': .*got {kind}"):
        load_config(cfg)
    reports = tmp_path / "reports"
    rc = main(["report", "--config", str(cfg), "--reports-dir", str(reports), "--prices", str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "c.yml" in err[0] and "model" in err[0]
    assert not marker.exists()  # the injected code never ran
    assert not reports.exists()  # nothing was started


def test_python_tags_are_not_even_constructed(tmp_path):
    marker = tmp_path / "marker"
    cfg = _cfg(tmp_path, f"""
        title: !!python/object/apply:os.system ["touch {marker}"]
        notebooks: [{{name: e, path: {NB}}}]
    """)
    with pytest.raises(UserError, match=r"c.yml: not a readable YAML file at line 2 \(could not determine a "
                                        r"constructor"):
        load_config(cfg)
    assert not marker.exists()


@pytest.mark.parametrize("body, key, why", [
    ("parameters: {estimation: 2019-01-01}", "parameters.estimation", "got a date"),
    ("parameters: {estimation: '-5000000:-11'}", "parameters.estimation", "within -5000..5000"),
    ("parameters: {estimation: '3:1'}", "parameters.estimation", "not a window"),
    ("parameters: {min_obs: '120'}", "parameters.min_obs", "expected a whole number 1..10000, got a string"),
    ("parameters: {min_obs: true}", "parameters.min_obs", "got a true/false value"),
    ("parameters: {placebo_draws: 1000000000}", "parameters.placebo_draws", "is outside 0..100000"),
    ("parameters: {calibration_draws: some}", "parameters.calibration_draws", "whole number 0..100000 or all, got a string"),
    ("parameters: {calibration_draws: -1}", "parameters.calibration_draws", "is outside 0..100000"),
    ("parameters: {model: capm}", "parameters.model", "unknown model"),
    ("parameters: {model: [market]}", "parameters.model", "got a list"),
    ("parameters: {my_value: .nan}", "parameters.my_value", "not a finite number"),
    ("parameters: {my_value: {a: 1}}", "parameters.my_value", "got a mapping"),
    ("parameters: {my_value: [[1]]}", r"parameters.my_value\[0\]", "got a list"),
    ("parameters: {my_value: null}", "parameters.my_value", "got null"),
    ("parameters: {'x = 1; import os': 1}", "parameters.x = 1; import os", "must be a Python identifier"),
    ("parameters: {class: 1}", "parameters.class", "must be a Python identifier"),
    ("parameters: {output_dir: /tmp}", "parameters.output_dir", "set by the pipeline itself"),
    ("parameters: {symbols: ['../../etc/passwd']}", r"parameters.symbols\[0\]", "not a ticker symbol"),
    ("parameters: {event_ids: ['Bad Id']}", r"parameters.event_ids\[0\]", "not an event id"),
    ("parameters: {groups: [targets]}", r"parameters.groups\[0\]", "unknown group"),
    ("events: [nyt_hikvision_2019, 'x\"; rm']", r"events\[1\]", "not an event id"),
    ("events: 5", "events", "got a number"),
    ("workers: 0", "workers", "0 is outside 1..32"),
    ("workers: 2.5", "workers", "got a number"),
    ("timeout: 100000", "timeout", "outside 1..86400"),
    ("reuse: 'no'", "reuse", "expected true or false, got a string"),
    ("title: [a]", "title", "got a list"),
    ("prices: 12", "prices", "expected a path"),
    ("colour: blue", "colour", "unknown setting"),
    ("headline: {symbol: 'A B'}", "headline.symbol", "not a ticker symbol"),
    ("headline: {window: 2019-01-01}", "headline.window", "got a date"),
    ("headline: {font: x}", "headline.font", "unknown setting"),
    ("headline: [1]", "headline", "expected a mapping"),
])
def test_case8_wrong_types_and_ranges_name_file_and_key(tmp_path, body, key, why):
    """Issue 13, case 8: ``estimation: 2019-01-01`` was "date is not JSON serializable", exit 1."""
    cfg = _cfg(tmp_path, body + f"\nnotebooks: [{{name: e, path: {NB}}}]\n")
    with pytest.raises(UserError) as err:
        load_config(cfg)
    msg = str(err.value)
    assert msg.startswith(f"{cfg}: '") and "\n" not in msg, msg
    import re

    assert re.match(rf"{re.escape(str(cfg))}: '{key}': ", msg), msg
    assert why in msg, msg


@pytest.mark.parametrize("body, key, why", [
    ("notebooks: []", "notebooks", "non-empty list"),
    ("notebooks: [x]", r"notebooks\[0\]", "got a string"),
    (f"notebooks: [{{name: e, path: {NB}, colour: red}}]", r"notebooks\[0\].colour", "unknown setting"),
    (f"notebooks: [{{name: 'a/b', path: {NB}}}]", r"notebooks\[0\].name", "not a name"),
    (f"notebooks: [{{name: e, path: {NB}, per_event: 1}}]", r"notebooks\[0\].per_event", "expected true or false"),
    (f"notebooks: [{{name: e, path: {NB}}}, {{name: e, path: {NB}}}]", r"notebooks\[1\].name", "duplicate"),
    (f"notebooks: [{{name: e, path: {NB}, parameters: {{window: 1}}}}]", r"notebooks\[0\].parameters.window",
     "got a number"),
])
def test_notebook_entries_are_typed(tmp_path, body, key, why):
    cfg = _cfg(tmp_path, body)
    with pytest.raises(UserError, match=rf"'{key}': .*{why}"):
        load_config(cfg)


def test_good_values_keep_their_types(tmp_path):
    cfg = load_config(_cfg(tmp_path, f"""
        title: T
        events: [nyt_hikvision_2019]
        workers: 1
        reuse: no
        timeout: 60
        headline: {{symbol: AMBA, window: "0:0"}}
        parameters: {{model: market, estimation: "-120:-11", min_obs: 60, custom: [1, 2.5, "x", true]}}
        notebooks: [{{name: e, path: {NB}, per_event: true, parameters: {{robustness_windows: ["0:1"]}}}}]
    """))
    assert cfg.events == ("nyt_hikvision_2019",) and cfg.workers == 1 and cfg.reuse is False
    assert cfg.primary == {"symbol": "AMBA", "name": "", "window": "0:0", "test": "portfolio"}
    assert cfg.headline == cfg.primary  # `headline:` is the deprecated name of `primary:`
    assert cfg.spec.estimation == (-120, -11) and cfg.spec.min_obs == 60 and cfg.spec.primary == "0:0"
    assert cfg.parameters == {"model": "market", "estimation": "-120:-11", "min_obs": 60, "custom": [1, 2.5, "x", True]}
    assert cfg.notebooks[0].parameters == {"robustness_windows": ["0:1"]}
    assert cfg.factors is None  # default: downloaded


def test_the_default_config_names_nothing_outside_the_repository():
    """Issue 13, case 10: pipeline.yml pointed factors at ../shared/factors."""
    text = (REPO / "analysis" / "report" / "pipeline.yml").read_text()
    assert "../shared" not in text and "shared/" not in text
    cfg = load_config()
    assert cfg.factors is None and cfg.prices is None


def test_a_config_file_that_is_not_utf8_or_too_big(tmp_path):
    bad = tmp_path / "b.yml"
    bad.write_bytes(b"title: \xff\n")
    with pytest.raises(UserError, match="b.yml: not UTF-8 text"):
        load_config(bad)
    big = tmp_path / "big.yml"
    big.write_text("title: " + "x" * (2 * 1024 * 1024))
    with pytest.raises(UserError, match="more than the 1 MiB accepted"):
        load_config(big)


def test_docs_list_every_key_of_the_schema():
    doc = (REPO / "docs" / "config.md").read_text()
    for key in list(TOP) + [f"primary.{k}" for k in HEADLINE] + list(NOTEBOOK) + list(PARAMETERS):
        assert f"`{key}`" in doc, key


def test_calibration_draws_all_or_a_number_reach_the_run_spec(tmp_path):
    """``calibration_draws`` in the configuration's parameters is the run's StudySpec's: ``all``
    is every available pseudo-date (capped at MAX_CALIBRATION_DRAWS), a number is that number."""
    from analysis.report.config import run_spec
    from analysis.vocab import MAX_CALIBRATION_DRAWS

    for given, want in (("all", MAX_CALIBRATION_DRAWS), (120, 120), (0, 0)):
        cfg = load_config(_cfg(tmp_path, f"""
            parameters: {{calibration_draws: {given}}}
            notebooks: [{{name: e, path: {NB}}}]
        """))
        assert run_spec(cfg.path, cfg.parameters, {}).calibration_draws == want


def test_the_libyaml_loader_reads_the_shipped_and_the_test_configs_as_the_python_loader_does():
    """:func:`load_config` parses with libyaml's ``CSafeLoader``: every YAML file of the project and
    the test report's configuration give the same data as PyYAML's pure-Python ``SafeLoader``."""
    import yaml

    from test_report import COMPARE_NOTEBOOK, SMALL_CONFIG

    assert yaml.__with_libyaml__, "PyYAML without libyaml: the pure-Python loader is used"
    texts = [p.read_text(encoding="utf-8") for p in (REPO / "analysis" / "report" / "pipeline.yml",
                                                      REPO / "environment.yml",
                                                      REPO / ".github" / "workflows" / "report.yml")]
    texts.append(textwrap.dedent(SMALL_CONFIG.format(events="a, b", factors="f.csv", before="",
                                                     after=COMPARE_NOTEBOOK)))
    for text in texts:
        data = yaml.load(text, Loader=yaml.CSafeLoader)
        assert data and data == yaml.load(text, Loader=yaml.SafeLoader)
