"""``python -m analysis compile`` (run by make at install) leaves nothing for a real run to compile."""
from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

REAL_FIT = """
import json, sys
from analysis.study import EventStudy
from analysis import warmup
EventStudy(prices=sys.argv[1], event_ids=["ft_sdn_2022", "sugon_entity_list_2019"], placebo_draws=200,
           calibration_draws=400).fit()
print(json.dumps(warmup.cache_counts()))
"""


@pytest.fixture(scope="module")
def compiled():
    """``python -m analysis compile`` once for this module, in this process (``cli.main``, what the
    command runs; no second interpreter importing the package, ~5 s of CPU): (exit code, stderr,
    what :func:`analysis.warmup.compile_kernels` returned)."""
    from analysis import cli, warmup

    done, real = [], warmup.compile_kernels
    err = io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stderr(err):
        mp.setattr(warmup, "compile_kernels", lambda folder: done.append(real(folder)) or done[-1])
        rc = cli.main(["compile"])
    assert len(done) == 1
    return rc, err.getvalue(), done[0]


@pytest.mark.slow
def test_a_real_fit_after_compile_loads_every_kernel_from_the_cache(shared_prices, compiled):
    """After ``compile``, a new process fitting real events (a suspension included: Sugon,
    June 2019) compiles no kernel: every kernel it calls is a cache hit, so the synthetic study
    passed the same argument types as real data. (Calibration draws beyond the placebo's, as by
    default, but 400 rather than 5,000: the same kernels and types, 5 s of CPU less.)"""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    rc, stderr, _ = compiled
    assert rc == 0, stderr
    assert "kernels:" in stderr
    fit = subprocess.run([sys.executable, "-c", REAL_FIT, str(shared_prices)], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=600)
    assert fit.returncode == 0, fit.stderr[-2000:]
    counts = json.loads(fit.stdout.strip().splitlines()[-1])
    compiled = {name: miss for name, (miss, _) in counts.items() if miss}
    assert compiled == {}
    assert sum(hit for _, hit in counts.values()) >= 5  # the engine's and the rank tests' kernels were called


def test_the_synthetic_study_reaches_every_kernel(compiled):
    """Every kernel of the package is called by the synthetic study (directly or through another
    kernel), so a real run finds each in the cache."""
    from analysis import warmup

    done = compiled[2]
    called = {name for name, (miss, hit) in done["kernels"].items() if miss or hit}
    kernels = warmup.dispatchers()
    # a kernel called only from another kernel is compiled into its caller
    nested = {name for name, d in kernels.items()
              if any(name.rsplit(".", 1)[1] in other.py_func.__code__.co_names for other in kernels.values())}
    assert set(kernels) - called <= nested
    assert len(kernels) >= 10 and len(called) >= 8  # (the rank merge is one kernel, _merge_sorted)
