"""The Kolari-Pynnönen cross-correlation's linear form (cells above 200 members) against the
exact pairwise mean and against numpy worked independently (np.corrcoef, dense sums)."""
import numpy as np
import pytest

from analysis.inference.kp_kernel import cell_correlations


def layout(n, D, rng, missing=0.0, ragged=False):
    """n firm-events of one event side by side in one calendar series, AR_i = y_i - beta_i x
    with a common factor in y (true pairwise correlation about 0.5)."""
    f = rng.normal(0, 0.01, D)
    Tc = n * D + D
    yc, xc = np.zeros(Tc), np.zeros(Tc)
    wc = np.zeros(Tc)
    theta = np.zeros((n, 2))
    theta[:, 1] = rng.uniform(0.5, 1.5, n)
    for i in range(n):
        x = rng.normal(0, 0.01, D)
        y = theta[i, 1] * x + f + rng.normal(0, 0.01, D) * rng.uniform(0.5, 2)
        w = (rng.random(D) >= missing).astype(float)
        sl = slice(i * D, (i + 1) * D)
        yc[sl], xc[sl], wc[sl] = y * w, x * w, w
    lo = rng.integers(0, D // 4, n) if ragged else np.zeros(n, np.int64)
    hi = D - 1 - (rng.integers(0, D // 4, n) if ragged else np.zeros(n, np.int64))
    return yc, wc, np.vstack([wc, xc]), theta, np.arange(n) * D, lo.astype(np.int64), hi.astype(np.int64)


def run(lay, D, cells, pairwise_max, min_shared=30):
    yc, wc, Xc, theta, gstart, lo, hi = lay
    n = len(gstart)
    slots = np.concatenate(cells)
    mbnd = np.concatenate([[0], np.cumsum([len(c) for c in cells])])
    out = np.full(len(cells), -9.0)
    cell_correlations(0, 1, np.arange(n), np.array([0, n]), yc, wc, Xc, np.array([False, True]), gstart, lo, hi,
                      theta, D, min_shared, np.array([0, len(cells)]), mbnd, slots, pairwise_max, out)
    return out


def ars(lay, D):
    """(n, D) ARs and used-day masks, computed directly."""
    yc, wc, Xc, theta, gstart, lo, hi = lay
    days = np.arange(D)
    Z, U = [], []
    for i, g in enumerate(gstart):
        sl = slice(g, g + D)
        Z.append(yc[sl] - theta[i, 1] * Xc[1, sl])
        U.append((wc[sl] > 0) & (days >= lo[i]) & (days <= hi[i]))
    return np.array(Z), np.array(U)


def test_linear_equals_pairwise_and_corrcoef_when_members_share_their_dates():
    rng = np.random.default_rng(11)
    D, n = 120, 260
    lay = layout(n, D, rng)
    cells = [np.arange(n), np.arange(0, n, 2), np.arange(50)]  # 260 and 130 members, 50
    lin = run(lay, D, cells, pairwise_max=100)  # the first two linear
    pair = run(lay, D, cells, pairwise_max=1000)  # all pairwise
    Z, _ = ars(lay, D)
    want = []
    for c in cells:
        R = np.corrcoef(Z[c])
        want.append(R[~np.eye(len(c), dtype=bool)].mean())
    np.testing.assert_allclose(pair, want, rtol=0, atol=1e-12)
    np.testing.assert_allclose(lin, want, rtol=0, atol=1e-12)
    assert 0.3 < want[0] < 0.7


def test_linear_form_with_ragged_dates_is_the_shared_date_weighted_mean():
    rng = np.random.default_rng(12)
    D, n = 150, 230
    lay = layout(n, D, rng, missing=0.05, ragged=True)
    Z, U = ars(lay, D)
    cell = np.arange(n)
    lin = run(lay, D, [cell], pairwise_max=200)[0]
    pair = run(lay, D, [cell], pairwise_max=1000)[0]
    # independent: z standardized over each firm's own used days (population sd), products summed
    # over the days a pair shares, divided by the shared days summed over pairs
    z = np.zeros_like(Z)
    for i in range(n):
        v = Z[i, U[i]]
        z[i, U[i]] = (v - v.mean()) / v.std()
    u = U.astype(float)
    num = (z @ z.T)[~np.eye(n, dtype=bool)].sum()
    den = (u @ u.T)[~np.eye(n, dtype=bool)].sum()
    assert lin == pytest.approx(num / den, abs=1e-12)
    # the exact pairwise mean (pairwise-complete moments) differs, but little
    common = u @ u.T
    ok = (common >= 30) & ~np.eye(n, dtype=bool)
    R = np.full((n, n), np.nan)
    for i in range(n):
        for j in range(i + 1, n):
            both = U[i] & U[j]
            R[i, j] = R[j, i] = np.corrcoef(Z[i, both], Z[j, both])[0, 1]
    assert pair == pytest.approx(R[ok].mean(), abs=1e-12)
    assert abs(lin - pair) < 0.01


def test_small_cells_of_a_large_event_are_exact_pairwise():
    rng = np.random.default_rng(13)
    D, n = 80, 240
    lay = layout(n, D, rng, missing=0.1, ragged=True)
    cells = [np.arange(0, 40), np.arange(0, 40), np.arange(100, 240), np.arange(n)]
    got = run(lay, D, cells, pairwise_max=150)  # event of 240 > 150: per-cell pairs; last cell linear
    ref = run(lay, D, cells, pairwise_max=1000)  # whole-event pair matrix
    np.testing.assert_allclose(got[:3], ref[:3], rtol=0, atol=1e-12)
    assert got[0] == got[1]
    assert abs(got[3] - ref[3]) < 0.02


def test_an_event_of_linear_cells_leaves_no_trace_in_the_next_events_pairs():
    """An event whose cells are all linear skips the pair sums (holes, prefix sums); the rows it
    leaves in the kernel's buffers must not reach the next event's pairs: two events in one
    call equal each event alone (fresh buffers), and the small event equals np.corrcoef."""
    rng = np.random.default_rng(17)
    D = 100
    big = layout(230, D, rng, missing=0.05, ragged=True)
    small = layout(30, D, rng, missing=0.1, ragged=True)
    yc = np.concatenate([big[0], small[0]])
    wc = np.concatenate([big[1], small[1]])
    Xc = np.hstack([big[2], small[2]])
    theta = np.vstack([big[3], small[3]])
    gstart = np.concatenate([big[4], small[4] + len(big[0])])
    lo, hi = np.concatenate([big[5], small[5]]), np.concatenate([big[6], small[6]])
    cells = [np.arange(230), np.arange(20, 230), np.arange(30), np.arange(0, 30, 2)]  # slots; both big cells linear
    out = np.full(4, -9.0)
    cell_correlations(0, 2, np.arange(260), np.array([0, 230, 260]), yc, wc, Xc, np.array([False, True]), gstart,
                      lo, hi, theta, D, 30, np.array([0, 2, 4]), np.concatenate([[0], np.cumsum([len(c) for c in cells])]),
                      np.concatenate(cells), 200, out)
    alone_big = run(big, D, cells[:2], pairwise_max=200)
    alone_small = run(small, D, cells[2:], pairwise_max=200)
    np.testing.assert_array_equal(out, np.concatenate([alone_big, alone_small]))
    Z, U = ars(small, D)
    for got, c in zip(out[2:], cells[2:]):
        R = [np.corrcoef(Z[i, U[i] & U[j]], Z[j, U[i] & U[j]])[0, 1] for i in c for j in c if i < j]
        assert got == pytest.approx(np.mean(R), abs=1e-12)


def test_an_event_of_linear_cells_equals_its_cells_taken_through_the_row_arrays_bit_for_bit():
    """An event whose cells are all linear goes row by row (each row's ARs standardized once in a
    buffer and added to every cell it is in: kp_kernel._linear_event); with one 2-member cell
    added, the same event goes through the (rows, D) arrays cell by cell. Every linear cell must
    get the same bits both ways: duplicated cells, a row in several cells, rows left out (too few
    dates, no variance), a row in no linear cell, ragged dates and holes, a 1-member cell (NaN).
    The two paths share their row helpers (_fill_ars, _standardize), so the independent check is
    the last one: numpy's shared-date-weighted mean of the pairs."""
    rng = np.random.default_rng(21)
    D, n = 70, 40
    yc, wc, Xc, theta, gstart, lo, hi = layout(n, D, rng, missing=0.1, ragged=True)
    hi, yc, theta = hi.copy(), yc.copy(), theta.copy()
    hi[3] = lo[3] + 10  # 11 dates < min_shared: left out
    yc[gstart[5]:gstart[5] + D] = 0.0  # AR = 0: no variance
    theta[5, 1] = 0.0
    lay = (yc, wc, Xc, theta, gstart, lo, hi)
    # row 0 is in no linear cell (only in the 1-member one): the row-by-row pass skips it
    big = [np.arange(1, n), np.arange(1, n), np.arange(1, n, 2), np.arange(2, 30), np.array([0])]
    row_by_row = run(lay, D, big, pairwise_max=8)
    through_rows = run(lay, D, big + [np.array([0, 1])], pairwise_max=8)  # a pair cell: the (rows, D) path
    np.testing.assert_array_equal(row_by_row, through_rows[:-1])
    assert row_by_row[0] == row_by_row[1] and np.isnan(row_by_row[4])
    assert np.isfinite(row_by_row[:4]).all() and len(set(row_by_row[[0, 2, 3]])) == 3
    # and both are the shared-date-weighted mean of the pairs worked out with numpy
    Z, U = ars(lay, D)
    for got, c in zip(row_by_row[:4], big[:4]):
        keep = [i for i in c if i not in (3, 5)]
        zs = {}
        for i in keep:
            x = Z[i, U[i]]
            zs[i] = np.where(U[i], (Z[i] - x.mean()) / x.std(), 0.0)
        num = sum(zs[i] @ zs[j] for i in keep for j in keep if i != j)
        den = sum((U[i] & U[j]).sum() for i in keep for j in keep if i != j)
        assert got == pytest.approx(num / den, abs=1e-12)


def test_a_linear_cell_whose_members_are_not_in_slot_order_keeps_its_member_order():
    """The row-by-row pass adds rows in slot order, so an event with a cell whose members come in
    another order goes through the (rows, D) arrays (kp_kernel._needs_rows), which add them in
    member order: a reversed cell gets the bits of the (rows, D) path, which here differ from
    the in-order cell's (same value to 1e-12, other rounding)."""
    rng = np.random.default_rng(0)
    D, n = 60, 300
    lay = layout(n, D, rng, missing=0.05, ragged=True)
    forward, backward = np.arange(n), np.arange(n)[::-1]
    in_order = run(lay, D, [forward], pairwise_max=200)[0]
    reversed_ = run(lay, D, [backward], pairwise_max=200)[0]
    through_rows = run(lay, D, [backward, np.array([0, 1])], pairwise_max=200)[0]  # a pair cell: (rows, D)
    assert reversed_ == through_rows
    assert in_order != reversed_  # the check above can tell the two orders apart
    assert reversed_ == pytest.approx(in_order, abs=1e-12)


def test_members_with_too_few_dates_or_no_variance_are_left_out():
    rng = np.random.default_rng(14)
    D, n = 90, 210
    lay = layout(n, D, rng)
    yc, wc, Xc, theta, gstart, lo, hi = lay
    lo, hi = lo.copy(), hi.copy()
    hi[0] = 20  # 21 dates < 30
    yc, theta = yc.copy(), theta.copy()
    yc[gstart[1]:gstart[1] + D] = 0.0  # AR = 0: no variance
    theta[1, 1] = 0.0
    lay = (yc, wc, Xc, theta, gstart, lo, hi)
    Z, _ = ars(lay, D)
    R = np.corrcoef(Z[2:])
    want = R[~np.eye(n - 2, dtype=bool)].mean()
    assert run(lay, D, [np.arange(n)], pairwise_max=200)[0] == pytest.approx(want, abs=1e-12)


# the case the removed pairwise kernel (kernels.event_pair_correlations) was tested on, kept for this kernel
def test_pairwise_path_matches_corrcoef_on_shared_days():
    rng = np.random.default_rng(3)
    D = 60
    # three firm-events of one event, side by side in one calendar series (gstart apart)
    yc = rng.normal(0, 0.02, 3 * D + D)
    xc = rng.normal(0, 0.01, 3 * D + D)
    wc = (rng.random(3 * D + D) > 0.1).astype(float)
    yc *= wc
    xc *= wc
    Xc = np.vstack([wc, xc])
    theta = np.array([[0.001, 0.8], [0.0, 1.2], [-0.002, 0.5]])
    gstart = np.array([0, D, 2 * D])
    lo_rel, hi_rel = np.array([0, 5, 0]), np.array([D - 1, D - 1, 40])
    order, bnd = np.arange(3), np.array([0, 3])
    # cells: {0, 1, 2}, {0, 1}, {2}
    cell_bnd = np.array([0, 3])
    member_cell_bnd = np.array([0, 3, 5, 6])
    member_slot = np.array([0, 1, 2, 0, 1, 2])
    for min_shared in (25, 30, 40):
        out = np.full(3, -9.0)
        cell_correlations(0, 1, order, bnd, yc, wc, Xc, np.array([False, True]), gstart, lo_rel,
                          hi_rel, theta, D, min_shared, cell_bnd, member_cell_bnd, member_slot, 200, out)
        z, used = [], []
        for r in range(3):
            sl = slice(gstart[r], gstart[r] + D)
            days = np.arange(D)
            used.append((wc[sl] > 0) & (days >= lo_rel[r]) & (days <= hi_rel[r]))
            z.append(yc[sl] - theta[r, 1] * xc[sl])
        pairs = {}
        for a in range(3):
            for b in range(a + 1, 3):
                both = used[a] & used[b]
                if both.sum() >= min_shared:
                    pairs[(a, b)] = np.corrcoef(z[a][both], z[b][both])[0, 1]
        # shared days: 41 (0, 1), 31 (0, 2), 27 (1, 2)
        assert len(pairs) == {25: 3, 30: 2, 40: 1}[min_shared]
        np.testing.assert_allclose(out[0], np.mean(list(pairs.values())), rtol=1e-12)
        np.testing.assert_allclose(out[1], pairs[(0, 1)], rtol=1e-12)
        assert np.isnan(out[2])  # one member: no pair


def test_members_by_cell_is_the_stable_sort_by_cell():
    from analysis.inference.kp_kernel import members_by_cell

    rng = np.random.default_rng(8)
    K, C, R = 5000, 300, 800
    cells = rng.integers(0, C - 1, K)  # the last cell has no member
    rows = rng.integers(0, R, K)
    slot = rng.integers(0, 50, R)
    order = np.argsort(cells, kind="stable")
    got_slot, got_bnd = members_by_cell(cells, rows, slot, C)
    np.testing.assert_array_equal(got_slot, slot[rows[order]])
    np.testing.assert_array_equal(got_bnd, np.searchsorted(cells[order], np.arange(C + 1)))
    # members of cells below 150, then of the others: two runs that share no cell, two threads
    by_half = np.argsort(cells >= 150, kind="stable")
    cells, rows = cells[by_half], rows[by_half]
    cut = int((cells < 150).sum())
    order = np.argsort(cells, kind="stable")
    got_slot, got_bnd = members_by_cell(cells, rows, slot, C, runs=[(0, cut), (cut, K)])
    np.testing.assert_array_equal(got_slot, slot[rows[order]])
    np.testing.assert_array_equal(got_bnd, np.searchsorted(cells[order], np.arange(C + 1)))


def test_pairwise_path_with_exchange_holidays_shared_by_firms_matches_corrcoef():
    """Firms of one exchange share its holidays (the days their range holds without an AR):
    the kernel sums those holes once per set of equal holes (kp_kernel._same_holes) and reads
    each pair's range sums from sums up to the event's boundary days (_boundary_sums). Three
    exchanges with their own holidays, firms with the same holes but different ranges, a firm
    with an extra suspension, cells of every firm, of one exchange and mixed: each cell's r is
    the mean np.corrcoef over its pairs' shared used days (at least min_shared)."""
    rng = np.random.default_rng(21)
    D, n = 80, 12
    exchange = np.array([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2])
    holidays = [np.array([10, 11, 40, 70]), np.array([5, 33, 34, 60]), np.array([20, 50])]
    f = rng.normal(0, 0.01, D)  # a common factor: correlations about 0.5
    Tc = n * D + D
    yc, xc, wc = np.zeros(Tc), np.zeros(Tc), np.zeros(Tc)
    theta = np.column_stack([rng.normal(0, 0.001, n), rng.uniform(0.5, 1.5, n)])
    for i in range(n):
        w = np.ones(D)
        w[holidays[exchange[i]]] = 0.0
        if i == 6:
            w[44:47] = 0.0  # a suspension of its own: holes unlike its exchange's
        x = rng.normal(0, 0.01, D)
        y = theta[i, 0] + theta[i, 1] * x + f + rng.normal(0, 0.01, D)
        sl = slice(i * D, (i + 1) * D)
        yc[sl], xc[sl], wc[sl] = y * w, x * w, w
    gstart = np.arange(n) * D
    # same holes, different ranges: firms 1 and 2 start or end between their exchange's holidays
    lo = np.array([0, 2, 0, 12, 0, 0, 3, 0, 0, 0, 21, 0])
    hi = np.array([D - 1, D - 1, 65, D - 1, D - 1, 58, D - 1, D - 1, D - 1, 49, D - 1, D - 1])
    cells = [np.arange(n), np.arange(4), np.arange(4, 8), np.array([0, 4, 8, 1, 5, 9]), np.array([6, 7]),
             np.array([3])]
    slots = np.concatenate(cells)
    mbnd = np.concatenate([[0], np.cumsum([len(c) for c in cells])])
    days = np.arange(D)
    z = [yc[g:g + D] - theta[i, 1] * xc[g:g + D] for i, g in enumerate(gstart)]
    used = [(wc[g:g + D] > 0) & (days >= lo[i]) & (days <= hi[i]) for i, g in enumerate(gstart)]
    for min_shared in (30, 50):
        out = np.full(len(cells), -9.0)
        cell_correlations(0, 1, np.arange(n), np.array([0, n]), yc, wc, np.vstack([wc, xc]),
                          np.array([False, True]), gstart, lo, hi, theta, D, min_shared, np.array([0, len(cells)]),
                          mbnd, slots, 200, out)
        for c, members in enumerate(cells):
            rs = []
            for u, a in enumerate(members):
                for b in members[u + 1:]:
                    both = used[a] & used[b]
                    if both.sum() >= min_shared:
                        rs.append(np.corrcoef(z[a][both], z[b][both])[0, 1])
            if rs:
                np.testing.assert_allclose(out[c], np.mean(rs), rtol=0, atol=1e-12, err_msg=f"cell {c}")
            else:
                assert np.isnan(out[c]), c
    assert np.isnan(out[-1])  # one member: no pair
