"""aikv.pqsort: the wanted ranks hold exactly what a full sort puts there, for every
size class of the algorithm (insertion sort, median of three, ninther) and every range,
including empty and out-of-bounds ones. Its order among equal elements is checked against
redis-server in tests/integration (test_geo, test_sort)."""

from __future__ import annotations

import random

import pytest

from aikv.pqsort import partial_sort


def _cmp(a: int, b: int) -> int:
    return (a > b) - (a < b)


@pytest.mark.parametrize("n", [0, 1, 2, 6, 7, 8, 40, 41, 100, 1000])
def test_wanted_ranks_match_a_full_sort(n: int) -> None:
    rng = random.Random(n)
    for _ in range(30):
        items = [rng.randrange(max(n // 3, 1)) for _ in range(n)]  # many ties
        first = rng.randint(0, max(n - 1, 0))
        last = rng.randint(first - 1, n)
        work = list(items)
        partial_sort(work, _cmp, first, last)
        assert sorted(work) == sorted(items)  # a permutation
        want = sorted(items)
        assert work[first : last + 1] == want[first : last + 1]


def test_whole_range_is_a_full_sort_and_descending_works() -> None:
    rng = random.Random(3)
    items = [rng.random() for _ in range(500)]
    work = list(items)
    partial_sort(work, lambda a, b: _cmp(b, a), 0, len(work) - 1)
    assert work == sorted(items, reverse=True)


def test_ties_are_left_in_the_algorithm_order_not_stable() -> None:
    # Pairs (key, tag) compared on key only: with a partial quicksort the tags of equal
    # keys do not keep their input order (that is the point of emulating it exactly).
    items = [(i % 3, i) for i in range(60)]
    partial_sort(items, lambda a, b: _cmp(a[0], b[0]), 0, 9)
    head = items[:10]
    assert [k for k, _ in head] == [0] * 10
    assert [t for _, t in head] != sorted(t for _, t in head)
