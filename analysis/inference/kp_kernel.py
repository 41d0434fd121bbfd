"""Compiled loop for the Kolari-Pynnönen mean cross-correlation of every cell, linear in firms.

r of a cell (Kolari & Pynnönen 2010, eq. 13) is the mean Pearson correlation over the pairs
i != j of its members' estimation-window abnormal returns. Two ways, by cell size n:

- n <= ``PAIRWISE_MAX`` (200): exact pairwise. Each pair is correlated over the calendar dates
  both firm-events use (pairwise-complete moments), pairs sharing fewer than ``min_shared``
  dates (or with a zero variance) are left out, r is the mean over the remaining pairs.
  When the event has at most ``PAIRWISE_MAX`` firm-events, every pair of the event is
  correlated once and shared by its cells (the cost is O(n_event^2 D) then, bounded).
- n > ``PAIRWISE_MAX``: from the cell's covariance sums, O(n D). Each member's ARs are
  standardized over its own used dates, z_i = (AR_i - mean_i) / sd_i (population sd, so
  sum_t z_i,t^2 = M_i), and 0 on the dates it does not use; with S_t = sum_i z_i,t and
  W_t = sum_i w_i,t (w = 1 on used dates),

      r = (sum_t S_t^2 - sum_i M_i) / (sum_t W_t^2 - sum_i M_i)
        = sum_{i != j} sum_{t shared} z_i,t z_j,t / sum_{i != j} M_ij,

  the pair correlations weighted by their shared dates M_ij. Members using fewer than
  ``min_shared`` dates, or with zero variance, are left out. Where the members use the same
  dates (M_ij = M) this is exactly the pairwise mean above (same pairs, same moments); where
  they do not, each firm's mean and sd come from its own dates rather than the pair's common
  ones, a pair weighs by the dates it shares, and no pair is dropped for sharing fewer than
  ``min_shared`` dates (it weighs little). ``tests/test_kp_linear.py`` compares both on
  synthetic cells. An event whose cells are all linear is taken row by row
  (:func:`_linear_event`): each row's ARs are standardized once in a buffer and added to the
  sums of every cell it is in, in the cells' member order, so the sums are the same bits as
  cell by cell over (rows, D) arrays, with each row read once instead of once per cell.
"""
from __future__ import annotations

import math

import numpy as np

from analysis.estimation.kernels import FASTMATH, _compiled, map_on_threads

#: Cells with at most this many members get the exact pairwise mean; larger ones the linear form.
PAIRWISE_MAX = 200


def members_by_cell(member_cells, member_rows, slot, n_cells, runs=None):
    """Members grouped by cell, in member order within each cell (a stable counting sort):
    (member_slot (K,) the slot of each member's firm-event, slot[member_rows], cell by cell;
    bnd (n_cells + 1,) cell c's members at bnd[c]:bnd[c + 1]). ``runs``: consecutive runs
    (k0, k1) of members that share no cell (:func:`analysis.inference.cell_kernels.member_runs`),
    placed on a thread each; default one run."""
    K = member_cells.shape[0]
    bnd = _cell_bounds(member_cells, n_cells)
    at = bnd[:n_cells].copy()
    member_slot = np.empty(K, np.int64)
    runs = runs or [(0, K)]

    def place(r):
        _place_members(r[0], r[1], member_cells, member_rows, slot, at, member_slot)

    map_on_threads(place, runs, len(runs))
    return member_slot, bnd


@_compiled()
def _cell_bounds(member_cells, n_cells):
    """(n_cells + 1,) cumulative member counts of the cells (:func:`members_by_cell`)."""
    bnd = np.zeros(n_cells + 1, np.int64)
    for k in range(member_cells.shape[0]):
        bnd[member_cells[k] + 1] += 1
    for c in range(n_cells):
        bnd[c + 1] += bnd[c]
    return bnd


@_compiled()
def _place_members(k0, k1, member_cells, member_rows, slot, at, member_slot):
    """Members k0 .. k1 - 1 placed at their cell's next position at[c] (:func:`members_by_cell`)."""
    for k in range(k0, k1):
        c = member_cells[k]
        member_slot[at[c]] = slot[member_rows[k]]
        at[c] += 1


@_compiled(fastmath=FASTMATH)
def _pair(Z, PZ, PZ2, PM, d0, d1, a, b, hz_b, hq_b, hm_b, hz_a, hq_a):
    """(correlation, shared dates) of rows a, b of Z over the dates both use, in their common
    range [d0, d1).

    Z is 0 where a row has no AR, so the cross moment is the plain dot product over [d0, d1)
    (:func:`_dot`); the other moments come from each row's prefix sums over that range (PZ,
    PZ2, PM: sums of Z, Z^2 and the used-day mask Mk before day d) less what falls on the days
    the other row does not use there (its holes: the days of its range with Mk = 0, usually a
    few): hz_b, hq_b, hm_b = sums of Z_a, Z_a^2, Mk_a over b's holes in [d0, d1); hz_a, hq_a =
    sums of Z_b, Z_b^2 over a's holes. E.g. sum_t Z_a,t Mk_b,t = PZ_a[d1] - PZ_a[d0] - hz_b."""
    if d1 <= d0:
        return np.nan, 0.0
    return _correlation(_dot(Z, a, b, d0, d1), PM[a, d1] - PM[a, d0] - hm_b, PZ[a, d1] - PZ[a, d0] - hz_b,
                        PZ2[a, d1] - PZ2[a, d0] - hq_b, PZ[b, d1] - PZ[b, d0] - hz_a, PZ2[b, d1] - PZ2[b, d0] - hq_a)


@_compiled(fastmath=FASTMATH, inline="always")
def _dot(Z, a, b, d0, d1):
    """sum_t Z_a,t Z_b,t over days d0 .. d1 - 1."""
    za = Z[a, d0:d1]
    zb = Z[b, d0:d1]
    sab = 0.0
    for d in range(d1 - d0):
        sab += za[d] * zb[d]
    return sab


@_compiled(inline="always")
def _correlation(sab, cnt, sa, saa, sb, sbb):
    """(Pearson correlation, cnt) of a pair from its sums over cnt shared days: sab = sum x y,
    sa = sum x, saa = sum x^2, sb = sum y, sbb = sum y^2 (NaN without variance)."""
    den = (cnt * saa - sa * sa) * (cnt * sbb - sb * sb)
    c = (cnt * sab - sa * sb) / math.sqrt(den) if den > 0.0 else np.nan
    return c, cnt


@_compiled(fastmath=FASTMATH)
def _boundary_sums(Z, Mk, n, first, last, at, bounds, QZ, QZ2, QM):
    """Sums of each row a < n of Z, Z^2 and Mk from first[a] up to each boundary of the event:
    the boundaries are the days first[b] and last[b] + 1 of its rows, sorted (bounds[:k], k
    returned), at[day] = j for the j-th (the days a pair's common range [d0, d1) starts and ends
    on); QZ[a, j] = sum of Z_a over [first[a], bounds[j]) within a's range [first[a], last[a]],
    likewise QZ2 and QM. Each row's range is summed segment by segment between boundaries (sums,
    not running sums: they vectorize), so sum over [d0, d1) = Q[a, at[d1]] - Q[a, at[d0]]."""
    for a in range(n):
        at[first[a]] = 1
        at[last[a] + 1] = 1
    k = 0
    for a in range(n):  # the boundary days in order: a pass over the event's marks, then cleared
        for d in (first[a], last[a] + 1):
            if at[d] == 1:
                at[d] = -2  # listed
                bounds[k] = d
                k += 1
    bounds[:k].sort()
    for j in range(k):
        at[bounds[j]] = j
    for a in range(n):
        lo = first[a]
        hi = last[a] + 1
        sz = 0.0
        sq = 0.0
        sm = 0.0
        for j in range(k):
            d0 = min(max(bounds[j - 1], lo), hi) if j > 0 else lo
            d1 = min(max(bounds[j], lo), hi)
            z = Z[a, d0:d1]
            m = Mk[a, d0:d1]
            t = 0.0
            for d in range(d1 - d0):
                t += z[d]
            sz += t
            t = 0.0
            for d in range(d1 - d0):
                t += z[d] * z[d]
            sq += t
            t = 0.0
            for d in range(d1 - d0):
                t += m[d]
            sm += t
            QZ[a, j] = sz
            QZ2[a, j] = sq
            QM[a, j] = sm
    return k


@_compiled(fastmath=FASTMATH)
def _hole_sums(Z, Mk, PM, holes, first, d0, d1, a, b):
    """Sums of Z_a, Z_a^2, Mk_a over b's holes in [d0, d1) (b's holes are sorted; those before
    day d number d - first_b - PM_b[d])."""
    sz = 0.0
    sq = 0.0
    sm = 0.0
    if d1 > d0:
        for u in range(int(d0 - first[b] - PM[b, d0]), int(d1 - first[b] - PM[b, d1])):
            h = holes[b, u]
            x = Z[a, h]
            sz += x
            sq += x * x
            sm += Mk[a, h]
    return sz, sq, sm


@_compiled(inline="always")
def _same_holes(holes, n_holes, hole_set, n_sets, b):
    """An earlier row among hole_set[:n_sets] whose holes are the days of row b's, else -1."""
    nb = n_holes[b]
    for q in range(n_sets):
        a = hole_set[q]
        if n_holes[a] != nb:
            continue
        same = True
        for u in range(nb):
            if holes[a, u] != holes[b, u]:
                same = False
                break
        if same:
            return a
    return -1


@_compiled(fastmath=FASTMATH, inline="always")
def _fill_ars(za, ma, yc, wc, Xc, use_k, theta, r, g):
    """za, ma (L,) get firm-event r's ARs y - sum_k theta[r, k] x_k (regressors with use_k) and
    used-day flags on the calendar-aligned positions g .. g + L - 1 of yc, wc, Xc."""
    L = za.shape[0]
    ya = yc[g:g + L]
    wa = wc[g:g + L]
    for d in range(L):
        za[d] = ya[d]
        ma[d] = wa[d]
    for k in range(Xc.shape[0]):
        if use_k[k]:
            c = theta[r, k]
            xa = Xc[k, g:g + L]
            for d in range(L):
                za[d] -= c * xa[d]


@_compiled(fastmath=FASTMATH, inline="always")
def _standardize(Z, Mk, a, d0, d1, min_shared, Zs, s):
    """Row a of Z over days d0 .. d1 - 1 (its used days: Mk[a] = 1) standardized into row s of
    Zs, z = (AR - mean) / sd with the population sd, 0 on unused days: (ok, sum z^2, used days);
    not ok (Zs untouched) with fewer than ``min_shared`` used days or no variance."""
    cnt = 0.0
    s1 = 0.0
    for d in range(d0, d1):
        cnt += Mk[a, d]
        s1 += Z[a, d]
    if not cnt >= min_shared:
        return False, 0.0, cnt
    mean = s1 / cnt
    ss = 0.0
    for d in range(d0, d1):
        x = (Z[a, d] - mean) * Mk[a, d]
        ss += x * x
    if not ss > 0.0:
        return False, 0.0, cnt
    scale = 1.0 / math.sqrt(ss / cnt)
    zz = 0.0
    for d in range(d0, d1):
        z = (Z[a, d] - mean) * Mk[a, d] * scale
        Zs[s, d] = z
        zz += z * z
    return True, zz, cnt


@_compiled(inline="always")
def _same_members(member_cell_bnd, member_slot, prev, c):
    """Whether cells prev (-1: none) and c have the same members in the same order (windows
    of one group usually hold the same firms)."""
    if prev < 0:
        return False
    m0, m1 = member_cell_bnd[c], member_cell_bnd[c + 1]
    q0 = member_cell_bnd[prev]
    if member_cell_bnd[prev + 1] - q0 != m1 - m0:
        return False
    for u in range(m1 - m0):
        if member_slot[q0 + u] != member_slot[m0 + u]:
            return False
    return True


@_compiled(inline="always")
def _cell_days(member_cell_bnd, member_slot, first, last, c, D):
    """(first, last) day any member of cell c uses (D, -1 when it has none)."""
    d_lo = D
    d_hi = -1
    for u in range(member_cell_bnd[c], member_cell_bnd[c + 1]):
        a = member_slot[u]
        d_lo = min(d_lo, first[a])
        d_hi = max(d_hi, last[a])
    return d_lo, d_hi


@_compiled()
def _needs_rows(e, n, cell_bnd, member_cell_bnd, member_slot, pairwise_max):
    """Whether event e (n firm-events) goes through the (rows, D) arrays of
    :func:`cell_correlations` rather than :func:`_linear_event`: it has a cell correlated pair
    by pair (the whole event, n <= pairwise_max, or a cell of 2 to pairwise_max members: they
    need the rows' holes and prefix sums), or a cell whose members are not in slot order
    (the row-by-row sums would add its terms in another order)."""
    if n <= pairwise_max:
        return True
    for c in range(cell_bnd[e], cell_bnd[e + 1]):
        m0, m1 = member_cell_bnd[c], member_cell_bnd[c + 1]
        if 2 <= m1 - m0 <= pairwise_max:
            return True
        for u in range(m0 + 1, m1):
            if member_slot[u] <= member_slot[u - 1]:
                return True
    return False


@_compiled(fastmath=FASTMATH)
def _linear_event(e, n, order, bnd, yc, wc, Xc, use_k, gstart, lo_rel, hi_rel, theta, D, min_shared, cell_bnd,
                  member_cell_bnd, member_slot, pairwise_max, out, first, last, rep, dcell, n_in, Sc, Wc):
    """The cells of an event none of whose cells is correlated pair by pair (module doc, linear
    form; :func:`cell_correlations` for the arguments). A cell with the same members as the
    last distinct cell before it takes its value. Each row's ARs are built once in a buffer,
    standardized there and added to the sums S, W of every distinct cell it is in: rows are
    taken in slot order, which is each cell's member order, so every sum adds the same terms
    in the same order as cell by cell over (rows, D) arrays (the form this replaces: the same
    bits, a row's D values read once instead of once per cell and with no (rows, D) arrays).
    Uses first, last (rows' ranges), rep, dcell (cells), n_in (rows + 1), Sc, Wc (cells, D)
    as scratch."""
    c0, c1 = cell_bnd[e], cell_bnd[e + 1]
    # distinct cells: dcell[j] is the j-th; rep[c - c0] the distinct cell of c
    nd = 0
    prev = -1
    for c in range(c0, c1):
        if _same_members(member_cell_bnd, member_slot, prev, c):
            rep[c - c0] = nd - 1
            continue
        prev = c
        dcell[nd] = c
        rep[c - c0] = nd
        nd += 1
    # the distinct linear cells each row is in, in cell order (CSR: at n_in[a] .. n_in[a + 1])
    for a in range(n + 1):
        n_in[a] = 0
    for j in range(nd):
        c = dcell[j]
        if member_cell_bnd[c + 1] - member_cell_bnd[c] > pairwise_max:
            for u in range(member_cell_bnd[c], member_cell_bnd[c + 1]):
                n_in[member_slot[u] + 1] += 1
    for a in range(n):
        n_in[a + 1] += n_in[a]
    into = np.empty(n_in[n], np.int64)
    at = n_in[:n].copy()
    for j in range(nd):
        c = dcell[j]
        if member_cell_bnd[c + 1] - member_cell_bnd[c] > pairwise_max:
            for u in range(member_cell_bnd[c], member_cell_bnd[c + 1]):
                a = member_slot[u]
                into[at[a]] = j
                at[a] += 1
        for d in range(D):
            Sc[j, d] = 0.0
            Wc[j, d] = 0.0
    diag = np.zeros(nd)
    diag_w = np.zeros(nd)
    Zs = np.zeros((1, D))
    Zr = np.zeros((1, D))  # the row's ARs at their days (laid out as the rows of cell_correlations)
    Mr = np.zeros((1, D))
    for a in range(n):
        r = order[bnd[e] + a]
        lo = max(lo_rel[r], 0)
        hi = min(hi_rel[r], D - 1)
        first[a] = lo
        last[a] = max(hi, lo - 1)
        if n_in[a + 1] == n_in[a]:
            continue
        L = last[a] - lo + 1
        ma = Mr[0, lo:lo + L]
        _fill_ars(Zr[0, lo:lo + L], ma, yc, wc, Xc, use_k, theta, r, gstart[r] + lo)
        ok, zz, cnt = _standardize(Zr, Mr, 0, first[a], last[a] + 1, min_shared, Zs, 0)
        if not ok:
            continue
        zs = Zs[0, lo:lo + L]  # 1-D views: the loop below vectorizes
        for q in range(n_in[a], n_in[a + 1]):
            j = into[q]
            S = Sc[j, lo:lo + L]
            W = Wc[j, lo:lo + L]
            for d in range(L):
                S[d] += zs[d]
                W[d] += ma[d]
            diag[j] += zz
            diag_w[j] += cnt
    for j in range(nd):
        c = dcell[j]
        m0, m1 = member_cell_bnd[c], member_cell_bnd[c + 1]
        if m1 - m0 <= pairwise_max:  # 0 or 1 member: no pair
            out[c] = np.nan
            continue
        d_lo, d_hi = _cell_days(member_cell_bnd, member_slot, first, last, c, D)
        s2 = 0.0
        w2 = 0.0
        for d in range(max(d_lo, 0), d_hi + 1):
            s2 += Sc[j, d] * Sc[j, d]
            w2 += Wc[j, d] * Wc[j, d]
        den = w2 - diag_w[j]
        out[c] = (s2 - diag[j]) / den if den > 0.0 else np.nan
    for c in range(c0, c1):
        out[c] = out[dcell[rep[c - c0]]]


@_compiled(fastmath=FASTMATH)
def cell_correlations(ev_lo, ev_hi, order, bnd, yc, wc, Xc, use_k, gstart, lo_rel, hi_rel, theta,
                      D, min_shared, cell_bnd, member_cell_bnd, member_slot, pairwise_max, out):
    """Mean AR cross-correlation of every cell of events ev_lo .. ev_hi - 1 (module doc).

    Event e's firm-events are order[bnd[e]:bnd[e + 1]]; firm-event r reads the calendar-aligned
    series yc, wc, Xc (p, Tc) (wc = 1 on usable days, yc and Xc zeroed elsewhere) at
    gstart[r] + d, d = 0 .. D - 1, and uses day d when lo_rel[r] <= d <= hi_rel[r] and wc is
    set: AR = y - sum_k theta[r, k] x_k over the regressors with use_k (a constant shifts
    every AR of a firm alike: correlations ignore it).
    Cells of event e: cell_bnd[e] .. cell_bnd[e + 1]; cell c's members are the slots
    (positions within the event) member_slot[member_cell_bnd[c]:member_cell_bnd[c + 1]].
    Writes out[c] (NaN when no pair is usable).
    """
    nmax = 0  # largest event
    nz = 0  # largest event through the (rows, D) arrays (:func:`_needs_rows`): they are sized by it
    cmax = 0  # most cells in an event
    rows_path = np.zeros(max(ev_hi - ev_lo, 0), np.bool_)  # each event's path, decided once
    for e in range(ev_lo, ev_hi):
        n = bnd[e + 1] - bnd[e]
        nmax = max(nmax, n)
        cmax = max(cmax, cell_bnd[e + 1] - cell_bnd[e])
        rows_path[e - ev_lo] = _needs_rows(e, n, cell_bnd, member_cell_bnd, member_slot, pairwise_max)
        if rows_path[e - ev_lo]:
            nz = max(nz, n)
    first = np.zeros(nmax, np.int64)
    last = np.zeros(nmax, np.int64)
    # events whose cells are all linear: each row's ARs built and standardized in a row buffer
    # and added to every (distinct) cell it is in (:func:`_linear_event`), no (rows, D) arrays
    rep = np.zeros(cmax, np.int64)
    dcell = np.zeros(cmax, np.int64)
    n_in = np.zeros(nmax + 1, np.int64)
    Sc = np.zeros((cmax, D))
    Wc = np.zeros((cmax, D))
    nmax = nz
    Z = np.zeros((nmax, D))
    Mk = np.zeros((nmax, D))
    PZ = np.zeros((nmax, D + 1))
    PZ2 = np.zeros((nmax, D + 1))
    PM = np.zeros((nmax, D + 1))
    holes = np.zeros((nmax, D), np.int64)
    n_holes = np.zeros(nmax, np.int64)
    pm = min(nmax, pairwise_max)
    corr = np.zeros((pm, pm))
    QZ = np.zeros((pm, 2 * pm))  # sums up to the event's boundary days (whole events; _boundary_sums)
    QZ2 = np.zeros((pm, 2 * pm))
    QM = np.zeros((pm, 2 * pm))
    bounds = np.zeros(2 * pm, np.int64)
    at = np.zeros(D + 1, np.int64)
    ZT = np.zeros((D, pm))  # an event's rows laid out by day (whole events)
    MT = np.zeros((D, pm))
    hole_set = np.zeros(8, np.int64)  # rows whose holes later rows are compared with (_same_holes)
    HZ = np.zeros((pm, pm))  # hole sums of every pair (whole events; _pair)
    HQ = np.zeros((pm, pm))
    HM = np.zeros((pm, pm))
    ok = np.zeros((pm, pm), np.bool_)
    laid = np.full(D, -1, np.int64)  # the event whose hole days ZT, MT hold at that day
    S = np.zeros(D)
    W = np.zeros(D)
    Zs = np.zeros((nmax, D))  # standardized ARs (linear cells), filled on first use per event
    zstate = np.zeros(nmax, np.int64)  # 0 not yet, 1 standardized, -1 left out
    zsq = np.zeros(nmax)
    zcnt = np.zeros(nmax)
    for e in range(ev_lo, ev_hi):
        n = bnd[e + 1] - bnd[e]
        whole = n <= pairwise_max
        if not rows_path[e - ev_lo]:
            _linear_event(e, n, order, bnd, yc, wc, Xc, use_k, gstart, lo_rel, hi_rel, theta, D, min_shared,
                          cell_bnd, member_cell_bnd, member_slot, pairwise_max, out, first, last, rep, dcell, n_in,
                          Sc, Wc)
            continue
        for a in range(n):
            r = order[bnd[e] + a]
            g = gstart[r]
            lo = max(lo_rel[r], 0)
            hi = min(hi_rel[r], D - 1)
            first[a] = lo
            last[a] = max(hi, lo - 1)
            L = last[a] - lo + 1
            ma = Mk[a, lo:lo + L]  # 1-D views: the loops vectorize
            _fill_ars(Z[a, lo:lo + L], ma, yc, wc, Xc, use_k, theta, r, g + lo)
            nh = 0
            for d in range(L):
                if ma[d] == 0.0:
                    holes[a, nh] = lo + d
                    nh += 1
            n_holes[a] = nh
        if not whole:
            # prefix sums over each row's range, for _pair: four rows side by side (independent
            # chains; each row's sums in day order). A row reads 0 outside its range there.
            for a0 in range(0, n, 4):
                a1 = min(a0 + 4, n)
                d_lo = D
                d_hi = 0
                for a in range(a0, a1):
                    d_lo = min(d_lo, first[a])
                    d_hi = max(d_hi, last[a] + 1)
                for a in range(a0, a1):
                    for d in range(d_lo, first[a]):
                        Z[a, d] = 0.0
                        Mk[a, d] = 0.0
                    for d in range(last[a] + 1, d_hi):
                        Z[a, d] = 0.0
                        Mk[a, d] = 0.0
                if a1 - a0 == 4:
                    z0 = 0.0
                    z1 = 0.0
                    z2 = 0.0
                    z3 = 0.0
                    q0 = 0.0
                    q1 = 0.0
                    q2 = 0.0
                    q3 = 0.0
                    m0 = 0.0
                    m1 = 0.0
                    m2 = 0.0
                    m3 = 0.0
                    for a in range(a0, a1):
                        PZ[a, d_lo] = 0.0
                        PZ2[a, d_lo] = 0.0
                        PM[a, d_lo] = 0.0
                    for d in range(d_lo, d_hi):
                        x = Z[a0, d]
                        z0 += x
                        q0 += x * x
                        m0 += Mk[a0, d]
                        x = Z[a0 + 1, d]
                        z1 += x
                        q1 += x * x
                        m1 += Mk[a0 + 1, d]
                        x = Z[a0 + 2, d]
                        z2 += x
                        q2 += x * x
                        m2 += Mk[a0 + 2, d]
                        x = Z[a0 + 3, d]
                        z3 += x
                        q3 += x * x
                        m3 += Mk[a0 + 3, d]
                        PZ[a0, d + 1] = z0
                        PZ2[a0, d + 1] = q0
                        PM[a0, d + 1] = m0
                        PZ[a0 + 1, d + 1] = z1
                        PZ2[a0 + 1, d + 1] = q1
                        PM[a0 + 1, d + 1] = m1
                        PZ[a0 + 2, d + 1] = z2
                        PZ2[a0 + 2, d + 1] = q2
                        PM[a0 + 2, d + 1] = m2
                        PZ[a0 + 3, d + 1] = z3
                        PZ2[a0 + 3, d + 1] = q3
                        PM[a0 + 3, d + 1] = m3
                else:
                    for a in range(a0, a1):
                        sz = 0.0
                        sq = 0.0
                        sm = 0.0
                        PZ[a, first[a]] = 0.0
                        PZ2[a, first[a]] = 0.0
                        PM[a, first[a]] = 0.0
                        for d in range(first[a], last[a] + 1):
                            x = Z[a, d]
                            sz += x
                            sq += x * x
                            sm += Mk[a, d]
                            PZ[a, d + 1] = sz
                            PZ2[a, d + 1] = sq
                            PM[a, d + 1] = sm
        for a in range(n):
            zstate[a] = 0
        if whole:  # every pair of the event once, shared by its cells
            _boundary_sums(Z, Mk, n, first, last, at, bounds, QZ, QZ2, QM)
            # hole sums of every pair at once: HZ[b, a] = sum of Z_a over b's holes, etc. (from
            # the rows laid out by day at the holes' days, 0 outside each row's range, so only
            # common days count)
            for b in range(n):
                for u in range(n_holes[b]):
                    h = holes[b, u]
                    if laid[h] != e:  # each hole day laid out once per event
                        laid[h] = e
                        for a in range(n):
                            inside = first[a] <= h and h <= last[a]
                            ZT[h, a] = Z[a, h] if inside else 0.0
                            MT[h, a] = Mk[a, h] if inside else 0.0
            n_sets = 0  # rows with distinct holes so far (firms of one exchange share theirs)
            for b in range(n):
                hz = HZ[b, :n]  # 1-D views: the loops below vectorize
                hq = HQ[b, :n]
                hm = HM[b, :n]
                same = _same_holes(holes, n_holes, hole_set, n_sets, b)
                if same >= 0:  # the same days: the same sums
                    for a in range(n):
                        hz[a] = HZ[same, a]
                        hq[a] = HQ[same, a]
                        hm[a] = HM[same, a]
                    continue
                if n_sets < hole_set.shape[0]:
                    hole_set[n_sets] = b
                    n_sets += 1
                for a in range(n):
                    hz[a] = 0.0
                    hq[a] = 0.0
                    hm[a] = 0.0
                for u in range(n_holes[b]):
                    h = holes[b, u]
                    zt = ZT[h, :n]
                    mt = MT[h, :n]
                    for a in range(n):
                        x = zt[a]
                        hz[a] += x
                        hq[a] += x * x
                        hm[a] += mt[a]
            for a in range(n):
                ok[a, a] = False
                for b in range(a + 1, n):
                    d0 = max(first[a], first[b])
                    d1 = min(last[a], last[b]) + 1
                    if d1 <= d0:
                        c, cnt = np.nan, 0.0
                    else:
                        j0, j1 = at[d0], at[d1]
                        c, cnt = _correlation(_dot(Z, a, b, d0, d1), QM[a, j1] - QM[a, j0] - HM[b, a],
                                              QZ[a, j1] - QZ[a, j0] - HZ[b, a], QZ2[a, j1] - QZ2[a, j0] - HQ[b, a],
                                              QZ[b, j1] - QZ[b, j0] - HZ[a, b], QZ2[b, j1] - QZ2[b, j0] - HQ[a, b])
                    good = cnt >= min_shared and math.isfinite(c)
                    ok[a, b] = good
                    ok[b, a] = good
                    corr[a, b] = c
                    corr[b, a] = c
        prev = -1
        for c in range(cell_bnd[e], cell_bnd[e + 1]):
            if _same_members(member_cell_bnd, member_slot, prev, c):
                out[c] = out[prev]
                continue
            m0, m1 = member_cell_bnd[c], member_cell_bnd[c + 1]
            prev = c
            num = 0.0
            npairs = 0
            if whole:
                for u in range(m0, m1):
                    su = member_slot[u]
                    for v in range(m0, m1):
                        sv = member_slot[v]
                        if su != sv and ok[su, sv]:
                            num += corr[su, sv]
                            npairs += 1
                out[c] = num / npairs if npairs > 0 else np.nan
            elif m1 - m0 <= pairwise_max:
                for u in range(m0, m1):
                    for v in range(u + 1, m1):
                        a, b = member_slot[u], member_slot[v]
                        d0 = max(first[a], first[b])
                        d1 = min(last[a], last[b]) + 1
                        hz_b, hq_b, hm_b = _hole_sums(Z, Mk, PM, holes, first, d0, d1, a, b)
                        hz_a, hq_a, _ = _hole_sums(Z, Mk, PM, holes, first, d0, d1, b, a)
                        cc, cnt = _pair(Z, PZ, PZ2, PM, d0, d1, a, b, hz_b, hq_b, hm_b, hz_a, hq_a)
                        if cnt >= min_shared and math.isfinite(cc):
                            num += cc
                            npairs += 1
                out[c] = num / npairs if npairs > 0 else np.nan
            else:  # linear: covariance sums of standardized ARs (module doc)
                d_lo, d_hi = _cell_days(member_cell_bnd, member_slot, first, last, c, D)
                for d in range(D):
                    S[d] = 0.0
                    W[d] = 0.0
                diag = 0.0
                diag_w = 0.0
                for u in range(m0, m1):
                    a = member_slot[u]
                    if zstate[a] == 0:  # standardize once per event, on first use
                        usable, zz, cnt = _standardize(Z, Mk, a, first[a], last[a] + 1, min_shared, Zs, a)
                        zstate[a] = 1 if usable else -1
                        zsq[a] = zz
                        zcnt[a] = cnt
                    if zstate[a] < 0:
                        continue
                    for d in range(first[a], last[a] + 1):
                        S[d] += Zs[a, d]
                        W[d] += Mk[a, d]
                    diag += zsq[a]
                    diag_w += zcnt[a]
                s2 = 0.0
                w2 = 0.0
                for d in range(max(d_lo, 0), d_hi + 1):
                    s2 += S[d] * S[d]
                    w2 += W[d] * W[d]
                den = w2 - diag_w
                out[c] = (s2 - diag) / den if den > 0.0 else np.nan
