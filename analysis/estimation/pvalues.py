"""Two-sided p-values of the Student t and standard normal distributions, vectorized.

Used by the engine (per-firm car_p) and by every test statistic; long arrays are split over
threads (the scipy ufuncs release the GIL).
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
