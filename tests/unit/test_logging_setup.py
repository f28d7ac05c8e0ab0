"""The log line format: Redis's `pid:R dd Mon yyyy hh:mm:ss.mmm L message`, R the role."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator

import pytest

from aikv import logging_setup

LINE = re.compile(r"^(\d+):([MS]) \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d\.\d{3} ([.\-*#]) (.*)$")


@pytest.fixture(autouse=True)
def default_role() -> Iterator[None]:
    yield
    logging_setup.set_role(None)


def line(level: int, message: str) -> re.Match[str]:
    record = logging.LogRecord("aikv", level, __file__, 1, message, None, None)
    text = logging_setup.RedisStyleFormatter().format(record)
    match = LINE.match(text)
    assert match is not None, text
    return match


def test_a_master_writes_m_and_the_level_marks() -> None:
    logging_setup.set_role(None)
    for level, mark in ((logging.DEBUG, "."), (15, "-"), (logging.INFO, "*"),
                        (logging.WARNING, "#")):
        match = line(level, "hello world")
        assert match.groups() == (str(os.getpid()), "M", mark, "hello world")


def test_the_role_letter_follows_the_registered_source() -> None:
    role = ["S"]
    logging_setup.set_role(lambda: role[0])
    assert line(logging.INFO, "x").group(2) == "S"
    role[0] = "M"  # promoted: the next line says so
    assert line(logging.INFO, "x").group(2) == "M"
    logging_setup.set_role(None)
    assert line(logging.INFO, "x").group(2) == "M"
