"""Two-sided p-values of the Student t and standard normal distributions, and Student-t
quantiles, vectorized.

Used by the engine (per-firm car_p), by every test statistic and by the intervals; long arrays
are split over threads (the scipy ufuncs release the GIL). Everything here calls
``scipy.special`` (the functions behind ``scipy.stats.t`` and ``scipy.stats.norm``), never
``scipy.stats``, whose import costs a process about 1-1.4 s of CPU.
"""
from __future__ import annotations


import numpy as np

from analysis.estimation.kernels import map_on_threads, parts, thread_count

#: Arrays at least this long are split over threads by :func:`t_p_value`.
_THREADED_P = 16_384


def t_p_value(stat, dof, threads: int | None = None) -> np.ndarray:
    """Two-sided Student-t p-value 2 P(T_dof > |stat|) (``scipy.special.stdtr``, the CDF
    behind ``scipy.stats.t``); NaN where stat is NaN or dof <= 0. Long arrays are split
    over ``threads`` (default up to 2; the ufunc releases the GIL)."""
    from scipy import special  # deferred (here and below): keeps `import analysis.study` light

    stat, dof = np.broadcast_arrays(np.asarray(stat, dtype=float), np.asarray(dof, dtype=float))
    threads = thread_count(threads)
    x = -np.abs(stat.ravel())
    d = dof.ravel()
    if threads < 2 or x.size < _THREADED_P:
        return (2.0 * special.stdtr(d, x)).reshape(stat.shape)
    out = np.empty(x.size)

    def part(s: slice) -> None:
        out[s] = 2.0 * special.stdtr(d[s], x[s])

    map_on_threads(part, parts(x.size, threads), threads)
    return out.reshape(stat.shape)


def normal_p_value(stat) -> np.ndarray:
    """Two-sided standard-normal p-value 2 P(Z > |stat|) (``scipy.special.ndtr``)."""
    from scipy import special

    return 2.0 * special.ndtr(-np.abs(np.asarray(stat, dtype=float)))


def t_quantile(q, dof) -> np.ndarray:
    """Student-t quantile t_dof^-1(q) (``scipy.special.stdtrit``, which ``scipy.stats.t.ppf``
    calls for 0 < q < 1 and dof > 0, the same bits); NaN where dof <= 0 or is NaN, or q is
    outside (0, 1)."""
    from scipy import special

    q, dof = np.broadcast_arrays(np.asarray(q, dtype=float), np.asarray(dof, dtype=float))
    good = (dof > 0) & (q > 0) & (q < 1)
    with np.errstate(invalid="ignore"):
        out = special.stdtrit(np.where(good, dof, 1.0), np.where(good, q, 0.5))
    return np.where(good, out, np.nan)
