"""nodes.conf parser under fuzzing: only NodesConfError, never a crash or a hang, and a
file that parses formats back to text that parses to the same model."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aikv.persist.nodesconf import NodesConfError, format_nodes_conf, parse_nodes_conf
from tests.harness import shared_dir


def fixture_texts() -> list[str]:
    return [p.read_text()
            for p in sorted((shared_dir() / "fixtures" / "nodes-conf").glob("*/*.conf"))]


FIXTURES = fixture_texts()


def check(text: str) -> None:
    try:
        conf = parse_nodes_conf(text)
    except NodesConfError:
        return
    again = parse_nodes_conf(format_nodes_conf(conf))
    assert [e.node_id for e in again.entries] == [e.node_id for e in conf.entries if not e.flags & 0x20]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("abcdef0123456789 -:@,[]<>\n\t\"'myselfmastervarsEpoch")),
               max_size=400))
def test_random_text(text: str) -> None:
    check(text)


@pytest.mark.skipif(not FIXTURES, reason="shared/ fixtures not found")
@settings(max_examples=400, deadline=None)
@given(st.integers(min_value=0, max_value=2**32), st.integers(min_value=1, max_value=8))
def test_mutated_fixture_files(seed: int, edits: int) -> None:
    rng = random.Random(seed)
    text = list(rng.choice(FIXTURES))
    for _ in range(edits):
        op = rng.randrange(3)
        pos = rng.randrange(len(text) + 1)
        if op == 0 and text:
            del text[min(pos, len(text) - 1)]
        elif op == 1:
            text.insert(pos, rng.choice("0123456789abcdef -:@,[]<>\n\"'"))
        elif text:
            text[min(pos, len(text) - 1)] = rng.choice("0123456789abcdefz -\n")
    check("".join(text))


@pytest.mark.skipif(not FIXTURES, reason="shared/ fixtures not found")
def test_truncations_of_every_fixture() -> None:
    for full in FIXTURES:
        for cut in range(0, len(full), 7):
            check(full[:cut])
