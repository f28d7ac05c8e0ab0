"""Redis's partial quicksort (pqsort.c: Bentley-McIlroy quicksort that skips partitions
lying wholly outside the wanted ranks), step for step.

SORT ... LIMIT and GEORADIUS/GEOSEARCH ... COUNT sort only the ranks they return, with
this algorithm. Whenever two elements compare equal (equal distances, equal BY weights
under ALPHA) the order they end up in is whatever this algorithm's swaps leave - neither
stable nor reversed - so matching Redis's replies needs the same swaps in the same order,
not just any sort.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Compare = Callable[[Any, Any], int]


def partial_sort(items: list[Any], cmp: Compare, first: int, last: int) -> None:
    """Reorder `items` in place so positions first..last (inclusive) hold what a full sort
    by `cmp` (negative, zero, positive) would put there, exactly as Redis's pqsort does."""
    _pqsort(items, 0, len(items), cmp, first, last)


def _med3(x: list[Any], a: int, b: int, c: int, cmp: Compare) -> int:
    if cmp(x[a], x[b]) < 0:
        if cmp(x[b], x[c]) < 0:
            return b
        return c if cmp(x[a], x[c]) < 0 else a
    if cmp(x[b], x[c]) > 0:
        return b
    return a if cmp(x[a], x[c]) < 0 else c


def _vecswap(x: list[Any], a: int, b: int, n: int) -> None:
    for k in range(n):
        x[a + k], x[b + k] = x[b + k], x[a + k]


def _outside(lo: int, hi: int, first: int, last: int) -> bool:
    """True when the wanted ranks first..last all lie before or all after lo..hi."""
    return (first < lo and last < lo) or (first > hi and last > hi)


def _pqsort(x: list[Any], a: int, n: int, cmp: Compare, first: int, last: int) -> None:
    while True:
        if n < 7:  # insertion sort
            for m in range(a + 1, a + n):
                p = m
                while p > a and cmp(x[p - 1], x[p]) > 0:
                    x[p], x[p - 1] = x[p - 1], x[p]
                    p -= 1
            return
        m = a + n // 2
        if n > 7:
            lo = a
            hi = a + n - 1
            if n > 40:
                d = n // 8
                lo = _med3(x, lo, lo + d, lo + 2 * d, cmp)
                m = _med3(x, m - d, m, m + d, cmp)
                hi = _med3(x, hi - 2 * d, hi - d, hi, cmp)
            m = _med3(x, lo, m, hi, cmp)
        x[a], x[m] = x[m], x[a]
        # Partition around the pivot x[a]; elements equal to it are parked at both ends.
        pa = pb = a + 1
        pc = pd = a + n - 1
        while True:
            while pb <= pc:
                r = cmp(x[pb], x[a])
                if r > 0:
                    break
                if r == 0:
                    x[pa], x[pb] = x[pb], x[pa]
                    pa += 1
                pb += 1
            while pb <= pc:
                r = cmp(x[pc], x[a])
                if r < 0:
                    break
                if r == 0:
                    x[pc], x[pd] = x[pd], x[pc]
                    pd -= 1
                pc -= 1
            if pb > pc:
                break
            x[pb], x[pc] = x[pc], x[pb]
            pb += 1
            pc -= 1
        pn = a + n
        r = min(pa - a, pb - pa)
        _vecswap(x, a, pb - r, r)
        r = min(pd - pc, pn - pd - 1)
        _vecswap(x, pb, pn - r, r)
        r = pb - pa
        if r > 1 and not _outside(a, a + r - 1, first, last):
            _pqsort(x, a, r, cmp, first, last)
        r = pd - pc
        if r <= 1:
            return
        a = pn - r
        n = r
        if _outside(a, a + r - 1, first, last):
            return
