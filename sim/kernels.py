"""Compiled kernels (numba) for the simulator's per-row hot loops.

Numpy spends most of a run's counter-based draws on temporaries: the splitmix64 finaliser is
ten array passes, and the ranker's tree descent draws `depth` uniforms per slot before it
reads one of them. These kernels do the same integer arithmetic one row at a time, so every
result is bit-identical to the numpy reference in sim/rng.py and sim/ranker.py (wrapping
uint64 arithmetic, uint64 -> float64 conversions of values below 2**53, and multiplications by
powers of two are exact). Transcendental functions (exp, log) stay in numpy: numba's may
differ in the last bit.

Importing this module imports numba (about half a second), so it is imported only when a
simulation draws (sim/rng.py imports it lazily); compiled code is cached next to the module.
"""

from __future__ import annotations

import sys

import numpy as np

# numba probes for scipy's BLAS when its numpy support loads (for np.linalg in compiled code,
# which these kernels do not use); the probe imports all of scipy.linalg, about 0.4 CPU-s of
# every run. The probe is answered "not installed" while numba loads, then forgotten, so
# scipy.linalg still imports normally later.
_BLAS_PROBE = "scipy.linalg.cython_blas"
_skip_probe = _BLAS_PROBE not in sys.modules
if _skip_probe:
    sys.modules[_BLAS_PROBE] = None  # type: ignore[assignment]
try:
    import numba.np.arraymath  # noqa: F401 - the probe runs here
    from numba import njit
finally:
    if _skip_probe and sys.modules.get(_BLAS_PROBE, 0) is None:
        del sys.modules[_BLAS_PROBE]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_LOW32 = np.uint64(0xFFFFFFFF)
_S11 = np.uint64(11)
_S16 = np.uint64(16)
_S27 = np.uint64(27)
_S30 = np.uint64(30)
_S31 = np.uint64(31)
_S32 = np.uint64(32)
_SCALE53 = 1.0 / (1 << 53)
_SCALE32 = 1.0 / (1 << 32)
_LANES = 32  # slots descended together


@njit(cache=True, inline="always")
def _splitmix64(x: np.uint64) -> np.uint64:
    z = x + _GOLDEN
    z = (z ^ (z >> _S30)) * _MIX1
    z = (z ^ (z >> _S27)) * _MIX2
    return z ^ (z >> _S31)


@njit(cache=True, inline="always")
def _hash(counter: np.uint64, salt: np.uint64) -> np.uint64:
    return _splitmix64((counter ^ salt) * _GOLDEN)


@njit(cache=True)
def bits(counters: np.ndarray, salt: np.uint64) -> np.ndarray:
    """64 random bits per counter (uint64, 1-D)."""
    out = np.empty(counters.shape[0], np.uint64)
    for j in range(counters.shape[0]):
        out[j] = _hash(counters[j], salt)
    return out


@njit(cache=True)
def uniform(counters: np.ndarray, salt: np.uint64) -> np.ndarray:
    """A 53-bit uniform in [0, 1) per counter."""
    out = np.empty(counters.shape[0], np.float64)
    for j in range(counters.shape[0]):
        out[j] = np.float64(_hash(counters[j], salt) >> _S11) * _SCALE53
    return out


@njit(cache=True)
def uniform_pair(counters: np.ndarray, salt: np.uint64) -> tuple[np.ndarray, np.ndarray]:
    """Two 32-bit uniforms per counter from one hash: the low and the high half."""
    n = counters.shape[0]
    low = np.empty(n, np.float64)
    high = np.empty(n, np.float64)
    for j in range(n):
        b = _hash(counters[j], salt)
        low[j] = np.float64(b & _LOW32) * _SCALE32
        high[j] = np.float64(b >> _S32) * _SCALE32
    return low, high


@njit(cache=True)
def uniform_rows(counters: np.ndarray, salts: np.ndarray, k: int) -> np.ndarray:
    """`k` 32-bit uniforms per counter, shape (k, n): row 2i and 2i+1 from salt i."""
    n = counters.shape[0]
    out = np.empty((k, n), np.float64)
    for j in range(n):
        b = np.uint64(0)
        for i in range(k):
            if i % 2 == 0:
                b = _hash(counters[j], salts[i // 2])
                out[i, j] = np.float64(b & _LOW32) * _SCALE32
            else:
                out[i, j] = np.float64(b >> _S32) * _SCALE32
    return out


@njit(cache=True)
def _by_category(category: np.ndarray, cats: int) -> np.ndarray:
    """Slot indices grouped by category (a counting sort, stable)."""
    start = np.zeros(cats + 1, np.int64)
    for j in range(category.shape[0]):
        start[category[j] + 1] += 1
    for c in range(cats):
        start[c + 1] += start[c]
    order = np.empty(category.shape[0], np.int64)
    for j in range(category.shape[0]):
        c = category[j]
        order[start[c]] = j
        start[c] += 1
    return order


@njit(cache=True)
def tree_sample(
    p_left: np.ndarray,
    leaves: int,
    depth: int,
    category: np.ndarray,
    counters: np.ndarray,
    salts: np.ndarray,
) -> np.ndarray:
    """The ranker's sum-tree descent with its keyed uniforms drawn on the way down: the same
    items as `Pools.sample(category, uniform_rows(...))` without the (depth, n) array.

    A descent is a chain of dependent loads; slots go down in blocks of `_LANES`, level by
    level, so the CPU overlaps their loads, one category after another so its tree stays in
    cache (the result of a slot does not depend on the order). A block's hashes (one per pair
    of levels) are drawn before its descent, in a loop the compiler vectorizes."""
    n = category.shape[0]
    out = np.empty(n, np.int32)
    order = _by_category(category, p_left.shape[0] // leaves)
    node = np.empty(_LANES, np.int64)
    base = np.empty(_LANES, np.int64)
    counter = np.zeros(_LANES, np.uint64)
    pairs = (depth + 1) // 2
    b = np.empty((pairs, _LANES), np.uint64)
    for first in range(0, n, _LANES):
        lanes = min(_LANES, n - first)
        for lane in range(lanes):
            j = order[first + lane]
            base[lane] = category[j] * leaves
            counter[lane] = counters[j]
            node[lane] = 1
        for pair in range(pairs):  # (a short last block hashes stale lanes, never read)
            salt = salts[pair]
            for lane in range(_LANES):
                b[pair, lane] = _hash(counter[lane], salt)
        for level in range(depth):
            pair = level // 2
            shift = _S32 if level % 2 else np.uint64(0)
            for lane in range(lanes):
                u = np.float64((b[pair, lane] >> shift) & _LOW32) * _SCALE32
                nd = node[lane]
                node[lane] = 2 * nd + (1 if u >= p_left[base[lane] + nd] else 0)
        for lane in range(lanes):
            out[order[first + lane]] = node[lane] - leaves
    return out


@njit(cache=True)
def sum_tree(weights: np.ndarray) -> np.ndarray:
    """Heap-ordered sums over leaf weights (a power-of-two count), summed pairwise as
    sim/ranker.py's numpy reference does (each node = left + right)."""
    leaves = weights.shape[0]
    tree = np.zeros(2 * leaves)
    tree[leaves:] = weights
    for node in range(leaves - 1, 0, -1):
        tree[node] = tree[2 * node] + tree[2 * node + 1]
    return tree


@njit(cache=True)
def p_left(tree: np.ndarray) -> np.ndarray:
    """Per category and inner node, the chance of going left (left child / node; 0.5 under a
    node of zero weight), shape (N_CAT, leaves)."""
    cats, width = tree.shape
    leaves = width // 2
    out = np.empty((cats, leaves))
    for c in range(cats):
        for node in range(leaves):
            total = tree[c, node]
            out[c, node] = tree[c, 2 * node] / total if total > 0 else 0.5
    return out


@njit(cache=True)
def fill_tree(tree: np.ndarray, members: np.ndarray, weights: np.ndarray) -> None:
    """Into a zeroed tree row: `weights` at the leaves of `members`, then the sums above them
    (the same sums as `sum_tree` of the full leaf array)."""
    leaves = tree.shape[0] // 2
    for i in range(members.shape[0]):
        tree[leaves + members[i]] = weights[i]
    for node in range(leaves - 1, 0, -1):
        tree[node] = tree[2 * node] + tree[2 * node + 1]


@njit(cache=True)
def fill_p_left(
    tree: np.ndarray, members: np.ndarray, weights: np.ndarray, out: np.ndarray
) -> float:
    """One category's `p_left` row without keeping its tree: each node's chance of going left
    over the sums `fill_tree` forms (left + right), as `p_left` divides them out. Returns the
    root's sum. A category's members are a few of the tree's leaves, so with ascending
    members only their ancestors are summed, level by level (every other node sums zeros:
    0.5); otherwise `tree` (a scratch row of 2 * leaves) is zeroed and summed in full."""
    m = members.shape[0]
    ascending = m > 0
    for i in range(1, m):
        if members[i] <= members[i - 1]:
            ascending = False
            break
    if not ascending:
        return _fill_p_left_dense(tree, members, weights, out)
    leaves = tree.shape[0] // 2
    out[:] = 0.5  # node 0 is unused; a node of zero weight goes left half the time
    nodes = np.empty(m, np.int64)  # one level's nonzero nodes, ascending, and their sums
    sums = np.empty(m, np.float64)
    for i in range(m):
        nodes[i] = leaves + members[i]
        sums[i] = weights[i]
    count = m
    while nodes[0] > 1:
        i = 0
        k = 0
        while i < count:
            node = nodes[i]
            left = 0.0
            right = 0.0
            if node % 2 == 0:
                left = sums[i]
                if i + 1 < count and nodes[i + 1] == node + 1:
                    right = sums[i + 1]
                    i += 1
            else:
                right = sums[i]
            i += 1
            total = left + right
            parent = node // 2
            out[parent] = left / total if total > 0 else 0.5
            nodes[k] = parent
            sums[k] = total
            k += 1
        count = k
    return sums[0]


@njit(cache=True)
def _fill_p_left_dense(
    tree: np.ndarray, members: np.ndarray, weights: np.ndarray, out: np.ndarray
) -> float:
    leaves = tree.shape[0] // 2
    tree[:] = 0.0
    for i in range(members.shape[0]):
        tree[leaves + members[i]] = weights[i]
    for node in range(leaves - 1, 0, -1):  # the sums and, in the same pass, the chances
        total = tree[2 * node] + tree[2 * node + 1]
        tree[node] = total
        out[node] = tree[2 * node] / total if total > 0 else 0.5
    out[0] = 0.5  # node 0 is unused (zero weight)
    return tree[1]


@njit(cache=True)
def feed_slots(
    rendered: np.ndarray,
    keys: np.ndarray,
    users: np.ndarray,
    slots: np.ndarray,
    salt: np.uint64,
    page_size: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The slots of the rendered pages (session by session, page by page) and each slot's
    category: a draw `salt` picks one of its user's category slots. See ranker.feed_slots."""
    n, pages = rendered.shape
    count = 0
    for s in range(n):
        for p in range(pages):
            if rendered[s, p]:
                count += 1
    m = count * page_size
    imp_s = np.empty(m, np.int64)
    imp_pg = np.empty(m, np.int64)
    imp_pos = np.empty(m, np.int16)
    counters = np.empty(m, np.uint64)
    imp_user = np.empty(m, np.int64)
    category = np.empty(m, np.int64)
    k = slots.shape[1]
    # Each session's user's slots, gathered first: these loads (a cache miss per session)
    # overlap here, where in the draw loop each one waited behind the hashes before it.
    own = np.empty((n, k), slots.dtype)
    for s in range(n):
        own[s] = slots[users[s]]
    j = 0
    for s in range(n):
        user = users[s]
        for p in range(pages):
            if not rendered[s, p]:
                continue
            for slot in range(page_size):
                pos = p * page_size + slot
                counter = (keys[s] << _S16) | np.uint64(pos)
                u = np.float64(_hash(counter, salt) >> _S11) * _SCALE53
                imp_s[j] = s
                imp_pg[j] = p
                imp_pos[j] = pos
                counters[j] = counter
                imp_user[j] = user
                category[j] = np.int64(own[s, np.int64(u * k)])
                j += 1
    return imp_s, imp_pg, imp_pos, counters, imp_user, category


@njit(cache=True)
def _cumulative_rate(
    activity: np.ndarray, signup: np.ndarray, today: np.int64, scale: np.float64
) -> np.ndarray:
    out = np.empty(activity.shape[0], np.float64)
    total = 0.0
    for i in range(activity.shape[0]):
        active = np.float32(1.0) if signup[i] <= today else np.float32(0.0)
        total += np.float64(activity[i] * active) * scale
        out[i] = total
    return out


def cumulative_rate(
    activity: np.ndarray, signup: np.ndarray, today: int, scale: np.float64
) -> np.ndarray | None:
    """sim/engine.py's cumulative session rate over users, `np.cumsum(activity * (signup <=
    today) * scale, dtype=np.float64)` for float32 activity and a float64 scale: the float32
    product with the 0/1 flag, then float64 products summed in order (numpy's cumsum is
    sequential). None for other types (numpy computes it then)."""
    if activity.dtype != np.float32 or signup.dtype.kind not in "iu":
        return None
    if type(scale) is not np.float64:  # numpy multiplies by a Python float in float32
        return None
    return _cumulative_rate(
        np.ascontiguousarray(activity), np.ascontiguousarray(signup), np.int64(today),
        np.float64(scale),
    )  # fmt: skip


@njit(cache=True)
def _item_counts(
    item: np.ndarray, p_click: np.ndarray, expected: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    count = np.zeros(n, np.int64)
    clicks = np.zeros(n, np.float64)
    orders = np.zeros(n, np.float64)
    for i in range(item.shape[0]):
        it = item[i]
        if it < 0 or it >= n:
            return count, clicks, orders, False
        count[it] += 1
        clicks[it] += np.float64(p_click[i])
        orders[it] += np.float64(expected[i])
    return count, clicks, orders, True


def item_counts(
    item: np.ndarray, p_click: np.ndarray, expected: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Per item, in one pass: `np.bincount(item, minlength=n)` and the bincounts weighted by
    `p_click` and by `expected` (numpy's weighted bincount adds the weights, as float64, in
    order). None for weights other than float32 or an item outside [0, n) (numpy then)."""
    if p_click.dtype != np.float32 or expected.dtype != np.float32 or item.dtype.kind not in "iu":
        return None
    count, clicks, orders, ok = _item_counts(
        np.ascontiguousarray(item), np.ascontiguousarray(p_click),
        np.ascontiguousarray(expected), n,
    )  # fmt: skip
    return (count, clicks, orders) if ok else None


_PW_BLOCK = 128  # numpy's PW_BLOCKSIZE


@njit(cache=True)
def _pairwise_block(a: np.ndarray, start: int, n: int) -> float:
    if n < 8:
        res = 0.0
        for i in range(n):
            res += a[start + i]
        return res
    r0, r1, r2, r3 = a[start], a[start + 1], a[start + 2], a[start + 3]
    r4, r5, r6, r7 = a[start + 4], a[start + 5], a[start + 6], a[start + 7]
    i = 8
    while i < n - (n % 8):
        j = start + i
        r0 += a[j]
        r1 += a[j + 1]
        r2 += a[j + 2]
        r3 += a[j + 3]
        r4 += a[j + 4]
        r5 += a[j + 5]
        r6 += a[j + 6]
        r7 += a[j + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += a[start + i]
        i += 1
    return res


@njit(cache=True)
def pairwise_sum(a: np.ndarray, start: int, n: int) -> float:
    """`a[start:start + n].sum()` as numpy adds a contiguous float64 array: its pairwise
    summation (blocks of up to 128 in eight accumulators; above that, the two halves' sums
    added, a half's length a multiple of 8), from zero. The halving runs on an explicit stack
    (numba's cache cannot link a recursive function into its callers)."""
    if n <= _PW_BLOCK:
        return 0.0 + _pairwise_block(a, start, n)
    frame_start = np.empty(64, np.int64)  # the split tree's pending nodes, depth first
    frame_n = np.empty(64, np.int64)
    frame_stage = np.empty(64, np.int64)  # 0: split next, 1: right half next, 2: add
    sums = np.empty(64, np.float64)  # finished halves' sums, in order
    top, done = 0, 0
    frame_start[0], frame_n[0], frame_stage[0] = start, n, 0
    while top >= 0:
        s, m = frame_start[top], frame_n[top]
        if m <= _PW_BLOCK:
            sums[done] = _pairwise_block(a, s, m)
            done += 1
            top -= 1
            continue
        half = m // 2
        half -= half % 8
        stage = frame_stage[top]
        frame_stage[top] = stage + 1
        if stage == 0:
            top += 1
            frame_start[top], frame_n[top], frame_stage[top] = s, half, 0
        elif stage == 1:
            top += 1
            frame_start[top], frame_n[top], frame_stage[top] = s + half, m - half, 0
        else:
            done -= 1
            sums[done - 1] = sums[done - 1] + sums[done]
            top -= 1
    return 0.0 + sums[0]


@njit(cache=True)
def _cap_shares(w: np.ndarray, cap: float, scratch: np.ndarray, over: np.ndarray) -> bool:
    """sim/ranker.py's `_cap_shares` on `w` in place (True when it normalised `w`; False when
    it left it as it was): the same divisions, clips and pairwise sums, in the same order."""
    n = w.shape[0]
    total = pairwise_sum(w, 0, n)
    nonzero = 0
    for i in range(n):
        if w[i] != 0:
            nonzero += 1
    if total <= 0 or cap * nonzero <= 1:
        return False
    for i in range(n):
        w[i] = w[i] / total
    for _ in range(6):
        k = 0
        for i in range(n):
            if w[i] > cap:
                scratch[k] = w[i] - cap
                k += 1
        if k == 0:
            break
        excess = pairwise_sum(scratch, 0, k)
        k = 0
        for i in range(n):  # the clip, then the free items (positive, not clipped)
            over[i] = w[i] > cap
            if over[i]:
                w[i] = cap
            elif w[i] > 0:
                scratch[k] = w[i]
                k += 1
        free_total = pairwise_sum(scratch, 0, k)
        for i in range(n):
            if not over[i] and w[i] > 0:
                w[i] += excess * w[i] / free_total
    return True


@njit(cache=True)
def pool_weights(
    w: np.ndarray, available: np.ndarray, bounds: np.ndarray, cap: float, exploration: float
) -> np.ndarray:
    """sim/ranker.py's per-category serving weights after the softmax's exp, every category
    at once in grouped order (`bounds`): each category's shares capped (`_cap_shares`), then
    mixed with exploration in proportion to availability; bit-identical to the numpy loop."""
    out = np.empty(w.shape[0], np.float64)
    scratch = np.empty(w.shape[0], np.float64)
    over = np.empty(w.shape[0], np.bool_)
    mix = 1 - exploration
    for c in range(bounds.shape[0] - 1):
        lo, hi = bounds[c], bounds[c + 1]
        if hi <= lo:
            continue
        g = w[lo:hi].copy()
        _cap_shares(g, cap, scratch, over)
        g_total = pairwise_sum(g, 0, hi - lo)
        a = available[lo:hi]
        a_total = pairwise_sum(a, 0, hi - lo)
        for i in range(hi - lo):
            out[lo + i] = mix * g[i] / g_total + exploration * (a[i] / a_total)
    return out


@njit(cache=True)
def scale_rows(x: np.ndarray, factor: np.ndarray, out: np.ndarray) -> None:
    """`out[:] = x * factor[:, None]` for a C-ordered 2-D `x` (numpy's broadcast runs an
    inner loop per row, as short as the row)."""
    for i in range(x.shape[0]):
        f = factor[i]
        for j in range(x.shape[1]):
            out[i, j] = x[i, j] * f


@njit(cache=True)
def order_ties(sorted_values: np.ndarray, order: np.ndarray) -> None:
    """Within each run of equal `sorted_values` (an array sorted as numpy sorts, NaNs last),
    sort the matching stretch of `order` ascending: an unstable argsort made stable."""
    n = sorted_values.shape[0]
    i = 0
    while i < n:
        v = sorted_values[i]
        j = i + 1
        if v != v:  # NaN: the rest are NaNs too
            j = n
        else:
            while j < n and sorted_values[j] == v:
                j += 1
        if j - i > 32:
            order[i:j] = np.sort(order[i:j])
        else:
            for k in range(i + 1, j):  # insertion sort: runs are mostly short
                x = order[k]
                m = k - 1
                while m >= i and order[m] > x:
                    order[m + 1] = order[m]
                    m -= 1
                order[m + 1] = x
        i = j


@njit(cache=True)
def latency_odds(keys: np.ndarray, pages: int, salt_server: np.uint64, salt_client: np.uint64):
    """sim/latency.py's `_standard_logistic` up to its log, for the "latency.server" and
    "latency.client" draws of every (session, page) counter: u / (1 - u) of the clipped
    53-bit uniform, float64, shape (2, n * pages) (row 0 server, row 1 client)."""
    n = keys.shape[0]
    out = np.empty((2, n * pages), np.float64)
    for s in range(n):
        for p in range(pages):
            j = s * pages + p
            counter = (keys[s] << _S16) | np.uint64(p)
            for row in range(2):
                salt = salt_server if row == 0 else salt_client
                u = np.float64(_hash(counter, salt) >> _S11) * _SCALE53
                u = min(max(u, 1e-7), 1 - 1e-7)
                out[row, j] = u / (1.0 - u)
    return out


@njit(cache=True)
def latency_exp_args(
    logs: np.ndarray, unit: np.float32, server_scale: np.float32, client_scale: np.float32
) -> np.ndarray:
    """From the odds' logs: the float32 logistic draw (log x unit in float64, rounded to
    float32) times each row's scale in float32, the arguments of the latency's exp."""
    m = logs.shape[1]
    out = np.empty((2, m), np.float32)
    unit64 = np.float64(unit)
    for j in range(m):
        out[0, j] = server_scale * np.float32(logs[0, j] * unit64)
        out[1, j] = client_scale * np.float32(logs[1, j] * unit64)
    return out


@njit(cache=True)
def page_latency(
    exps: np.ndarray,
    keys: np.ndarray,
    users: np.ndarray,
    pages: int,
    city_tier: np.ndarray,
    device: np.ndarray,
    network: np.ndarray,
    patience: np.ndarray,
    tier_factor: np.ndarray,
    network_server_factor: np.ndarray,
    median: np.float32,
    device_ms: np.ndarray,
    network_factor: np.ndarray,
    error_rate: np.float32,
    salt_error: np.uint64,
):
    """sim/latency.py's server and client ms (float32, in its order of products) and error
    flags per (session, page), with behavior.py's two exp arguments of the page: the ratio
    total / patience (row 0, to be raised to 1.5) and -0.25 x the total over the user's
    patience (row 1)."""
    m = exps.shape[1]
    server = np.empty(m, np.float32)
    client = np.empty(m, np.float32)
    error = np.empty(m, np.bool_)
    ratio = np.empty((2, m), np.float32)  # row 0: total / patience; row 1: -0.25 total / p
    quarter = np.float32(-0.25)
    for s in range(keys.shape[0]):
        u = users[s]
        net = network[u]
        f_server = tier_factor[city_tier[u] - 1] * network_server_factor[net]
        f_client = device_ms[device[u]] * network_factor[net]
        pat = patience[u]
        for p in range(pages):
            j = s * pages + p
            # each product rounded to float32, as numpy's in-place `*=` on float32 arrays does
            # (a no-op with float32 factors; with float64 ones the product is float64 first)
            sv = np.float32(exps[0, j] * f_server)
            sv = np.float32(sv * median)
            cl = np.float32(exps[1, j] * f_client)
            server[j] = sv
            client[j] = cl
            counter = (keys[s] << _S16) | np.uint64(p)
            error[j] = np.float64(_hash(counter, salt_error) >> _S11) * _SCALE53 < error_rate
            total = sv + cl
            ratio[0, j] = total / pat
            ratio[1, j] = (quarter * total) / pat
    return server, client, error, ratio


@njit(cache=True)
def page_reach(
    hazard_exp: np.ndarray,
    depth_exp: np.ndarray,
    keys: np.ndarray,
    users: np.ndarray,
    source: np.ndarray,
    bot: np.ndarray,
    pages: int,
    user_depth: np.ndarray,
    source_depth: np.ndarray,
    server: np.ndarray,
    client: np.ndarray,
    error: np.ndarray,
    salt_abandon: np.uint64,
    salt_continue: np.uint64,
):
    """behavior.py's pages after the exps (exp(-0.5 x ratio ** 1.5), and the exp of the
    depth's argument): abandonment, scrolling on, the pages reached (every step so far
    rendered and went on) and rendered, and the requests (pages reached, session by session)
    with their latency, error and rendered flags."""
    n = keys.shape[0]
    rendered = np.zeros((n, pages), np.bool_)
    reached = np.zeros((n, pages), np.bool_)
    one = np.float32(1.0)
    count = 0
    for s in range(n):
        depth = user_depth[users[s]] * source_depth[source[s]]
        on = True
        for p in range(pages):
            if not on:
                break
            j = s * pages + p
            reached[s, p] = True
            count += 1
            counter = (keys[s] << _S16) | np.uint64(p)
            hazard = one - hazard_exp[j]
            abandon = np.float64(_hash(counter, salt_abandon) >> _S11) * _SCALE53 < hazard
            ok = not abandon and not error[j]
            d = depth * depth_exp[j]
            go_on = np.float64(_hash(counter, salt_continue) >> _S11) * _SCALE53 < d
            if bot[s]:
                go_on = True
                ok = not error[j]
            rendered[s, p] = ok
            on = ok and go_on
    req_s = np.empty(count, np.int64)
    req_p = np.empty(count, np.int8)
    req_server = np.empty(count, np.float32)
    req_client = np.empty(count, np.float32)
    req_error = np.empty(count, np.bool_)
    req_rendered = np.empty(count, np.bool_)
    k = 0
    for s in range(n):
        for p in range(pages):
            if not reached[s, p]:
                break
            j = s * pages + p
            req_s[k] = s
            req_p[k] = p
            req_server[k] = server[j]
            req_client[k] = client[j]
            req_error[k] = error[j]
            req_rendered[k] = rendered[s, p]
            k += 1
    return rendered, req_s, req_p, req_server, req_client, req_error, req_rendered


@njit(cache=True)
def impression_logits(
    item: np.ndarray,
    session: np.ndarray,
    user: np.ndarray,
    source: np.ndarray,
    new_user: np.ndarray,
    item_logit: np.ndarray,
    affinity: np.ndarray,
    category: np.ndarray,
    propensity: np.ndarray,
    intent: np.ndarray,
    source_intent: np.ndarray,
    cond_intent: np.float32,
    price_sens: np.ndarray,
    item_rel_price: np.ndarray,
    clickbait: np.ndarray,
    new_user_trust: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Per impression, in one pass over its item and user: the negated click logit (float32)
    and the negated purchase logit (float64; sim/behavior.py's `cart_logit` in numpy's order
    and types: the float32 sum of propensity, intent and the source's and the hour's intent,
    then float64 from the price term on), the arguments of the sigmoids' exps (a negation is
    exact)."""
    m = item.shape[0]
    neg_click = np.empty(m, np.float32)
    neg_cart = np.empty(m, np.float64)
    for i in range(m):
        it = item[i]
        s = session[i]
        u = user[s]
        neg_click[i] = -(item_logit[it] + affinity[u, category[it]])
        a = propensity[it] + intent[u]
        a = a + source_intent[source[s]]
        a = a + cond_intent
        b = np.float64(a) - np.float64(price_sens[u]) * item_rel_price[it]
        b = b - (1.6 if clickbait[it] else 0.0)
        b = b - (new_user_trust if new_user[s] else 0.0)
        neg_cart[i] = -(b - 2.8)
    return neg_click, neg_cart


@njit(cache=True)
def impression_chances(
    exp_click: np.ndarray,
    exp_cart: np.ndarray,
    examine: np.ndarray,
    position: np.ndarray,
    counters: np.ndarray,
    salt: np.uint64,
    item: np.ndarray,
    stock: np.ndarray,
    session: np.ndarray,
    bot: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per impression after the exps: the chance of a click (position bias x sigmoid,
    float32) and the "behavior.click" draw under it (a crawler's: 0, no click), the chance
    of adding to cart (the float64 sigmoid), and whether the item is in stock."""
    m = exp_click.shape[0]
    one = np.float32(1.0)
    p_click = np.empty(m, np.float32)
    clicked = np.empty(m, np.bool_)
    p_cart = np.empty(m, np.float64)
    in_stock = np.empty(m, np.bool_)
    for i in range(m):
        p = examine[position[i]] * (one / (one + exp_click[i]))
        hit = np.float64(_hash(counters[i], salt) >> _S11) * _SCALE53 < p
        if bot[session[i]]:
            p = np.float32(0.0)
            hit = False
        p_click[i] = p
        clicked[i] = hit
        p_cart[i] = 1.0 / (1.0 + exp_cart[i])
        in_stock[i] = stock[item[i]] > 0
    return p_click, clicked, p_cart, in_stock


@njit(cache=True)
def hour_events(
    clicked: np.ndarray,
    carted: np.ndarray,
    ordered: np.ndarray,
    paid: np.ndarray,
    imp_session: np.ndarray,
    imp_page: np.ndarray,
    imp_position: np.ndarray,
    counters: np.ndarray,
    start_s: np.ndarray,
    offsets: np.ndarray,
    page_s: int,
    card_s: int,
    page_size: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """sim/engine.py's tracked client events of an hour: every click, then every add to
    cart, order and pay (each in impression order), with the impression, event type,
    session, client time (session start + page_s a page + card_s a card within its page +
    the type's offset) and slot counter of each."""
    masks = (clicked, carted, ordered, paid)
    m = 0
    for mask in masks:
        for i in range(mask.shape[0]):
            if mask[i]:
                m += 1
    imp = np.empty(m, np.int64)
    kind = np.empty(m, np.int8)
    sess = np.empty(m, np.int64)
    ts = np.empty(m, np.int64)
    ctr = np.empty(m, np.uint64)
    j = 0
    for t in range(4):
        mask = masks[t]
        for i in range(mask.shape[0]):
            if mask[i]:
                s = imp_session[i]
                imp[j] = i
                kind[j] = t
                sess[j] = s
                ts[j] = (
                    start_s[s]
                    + np.int64(imp_page[i]) * page_s
                    + np.int64(imp_position[i] % page_size) * card_s
                    + offsets[t]
                )
                ctr[j] = counters[i]
                j += 1
    return imp, kind, sess, ts, ctr


@njit(cache=True)
def click_outcomes(
    clicked: np.ndarray,
    p_cart: np.ndarray,
    in_stock: np.ndarray,
    counters: np.ndarray,
    salt_cart: np.uint64,
    salt_order: np.uint64,
    salt_pay: np.uint64,
    order_below: np.float64,
    pay_below: np.float64,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """sim/behavior.py's steps after a click, with the "behavior.cart", "behavior.order" and
    "behavior.pay" draws of each clicked slot: the clicked impressions, and per click whether
    it was added to cart (wanted and in stock), ordered and paid."""
    m = 0
    for i in range(clicked.shape[0]):
        if clicked[i]:
            m += 1
    ci = np.empty(m, np.int64)
    cart = np.empty(m, np.bool_)
    order = np.empty(m, np.bool_)
    pay = np.empty(m, np.bool_)
    j = 0
    for i in range(clicked.shape[0]):
        if not clicked[i]:
            continue
        c = counters[i]
        want = np.float64(_hash(c, salt_cart) >> _S11) * _SCALE53 < p_cart[i]
        placed = np.float64(_hash(c, salt_order) >> _S11) * _SCALE53 < order_below
        paid = np.float64(_hash(c, salt_pay) >> _S11) * _SCALE53 < pay_below
        ci[j] = i
        cart[j] = want and in_stock[i]
        order[j] = cart[j] and placed
        pay[j] = order[j] and paid
        j += 1
    return ci, cart, order, pay
