"""PFSELFTEST's checks (aikv.hyperloglog.self_test): they pass on the real code and catch
a broken register packing or a wrong estimate."""

from __future__ import annotations

import pytest

from aikv import hyperloglog as hll


def test_self_test_passes() -> None:
    assert hll.self_test() is None


def test_a_register_that_reads_back_wrong_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    real = hll._dense_get

    def off_by_one_at_5000(value: bytes | bytearray, index: int) -> int:
        got = real(value, index)
        return (got + 1) & hll.REGISTER_MAX if index == 5000 else got

    monkeypatch.setattr(hll, "_dense_get", off_by_one_at_5000)
    assert hll.self_test() == "TESTFAILED Register error at 5000"


def test_an_estimate_off_by_more_than_the_bound_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    real = hll.estimate
    monkeypatch.setattr(hll, "estimate", lambda histo: real(histo) + 2)
    failure = hll.self_test()
    assert failure is not None and failure.startswith("TESTFAILED cardinality 12 for 10 ")


def test_sparse_and_dense_disagreeing_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    real = hll.histogram

    def skewed(value: bytes | bytearray) -> list[int]:
        histo = real(value)
        if value[4] == hll.SPARSE and histo[0]:  # one zero register seen as a 1
            histo[0] -= 1
            histo[1] += 1
        return histo

    monkeypatch.setattr(hll, "histogram", skewed)
    failure = hll.self_test()
    assert failure is not None and failure.startswith("TESTFAILED sparse and dense counts differ")
