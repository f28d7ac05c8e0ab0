"""RDB primitives inside a DUMP payload: lengths, strings and doubles.

Lengths (big-endian where multi-byte): ``00xxxxxx`` 6 bits, ``01xxxxxx yyyyyyyy`` 14 bits,
``0x80`` + u32, ``0x81`` + u64. ``11xxxxxx`` introduces a specially encoded string: int8,
int16, int32 (little-endian, meaning their decimal text) or LZF (``clen``, ``ulen``, data).

Every string of a payload uses this form, including the listpack and intset blobs, so the
writer applies Redis's choice (integer form, then LZF, then raw) to all of them.
"""

from __future__ import annotations

import math
import re
import struct

from . import lzf
from .encoding import canonical_int
from .errors import bad_data

_ENC_INT8 = 0xC0
_ENC_INT16 = 0xC1
_ENC_INT32 = 0xC2
_ENC_LZF = 0xC3
_LEN_32BIT = 0x80
_LEN_64BIT = 0x81

# Redis only tries LZF on strings longer than this: shorter ones never save 4 bytes.
_LZF_MIN_LEN = 20
# Up to this size a string is compressed exactly as Redis would (byte-identical payloads).
# Pure-Python LZF costs ~0.6 s per incompressible megabyte, so a larger string is first
# probed on its head, and compressed whole only when the head shrank noticeably.
LZF_EXACT_LIMIT = 64 * 1024
_LZF_GIVE_UP_LIMIT = 16 * 1024 * 1024
_LZF_PROBE_RATIO = 0.75

_DOUBLE = struct.Struct("<d")
# Text doubles written by Redis: integers or %.17g; "inf"/"infinity" variants as strtod
# knows them. Anything else in a text double is refused rather than half-parsed.
_DOUBLE_TEXT = re.compile(
    rb"[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|inf(?:inity)?)", re.IGNORECASE
)
# Largest magnitude Redis prints as an integer (LLONG_MAX / 2 as a double, i.e. 2^62).
_DOUBLE_INT_LIMIT = float(1 << 62)


# --------------------------------------------------------------------------- writing


def encode_length(length: int) -> bytes:
    """The shortest RDB length encoding of ``length`` (what Redis writes)."""
    if length < 0x40:
        return bytes((length,))
    if length < 0x4000:
        return bytes((0x40 | (length >> 8), length & 0xFF))
    if length <= 0xFFFFFFFF:
        return bytes((_LEN_32BIT,)) + length.to_bytes(4, "big")
    return bytes((_LEN_64BIT,)) + length.to_bytes(8, "big")


def _encode_small_int(value: int) -> bytes | None:
    if -(1 << 7) <= value < (1 << 7):
        return bytes((_ENC_INT8,)) + value.to_bytes(1, "little", signed=True)
    if -(1 << 15) <= value < (1 << 15):
        return bytes((_ENC_INT16,)) + value.to_bytes(2, "little", signed=True)
    if -(1 << 31) <= value < (1 << 31):
        return bytes((_ENC_INT32,)) + value.to_bytes(4, "little", signed=True)
    return None


def _compress(data: bytes) -> bytes | None:
    size = len(data)
    if size > _LZF_GIVE_UP_LIMIT:
        return None
    if size > LZF_EXACT_LIMIT:
        head = data[:LZF_EXACT_LIMIT]
        probe = lzf.compress(head, int(len(head) * _LZF_PROBE_RATIO))
        if probe is None:
            return None
    # Redis wants at least 4 bytes saved, else the raw form is kept.
    return lzf.compress(data, size - 4)


def encode_string(data: bytes, compress: bool = True) -> bytes:
    """``data`` as an RDB string, chosen as Redis 7.0 chooses (rdbcompression yes).

    1. up to 11 bytes spelling a canonical integer in the int32 range: int8/16/32 form;
    2. longer than 20 bytes and LZF saves 4+ bytes: LZF form;
    3. otherwise raw (length + bytes).
    """
    size = len(data)
    if size <= 11:
        value = canonical_int(data)
        if value is not None:
            encoded = _encode_small_int(value)
            if encoded is not None:
                return encoded
    if compress and size > _LZF_MIN_LEN:
        packed = _compress(data)
        if packed is not None:
            return b"".join(
                (bytes((_ENC_LZF,)), encode_length(len(packed)), encode_length(size), packed)
            )
    return encode_length(size) + data


def encode_binary_double(value: float) -> bytes:
    """8-byte little-endian IEEE double, as ZSET_2 stores scores."""
    return _DOUBLE.pack(value)


def double_as_int(value: float) -> int | None:
    """The integer Redis uses in place of ``value`` when printing or storing it, if any.

    Integral doubles of magnitude up to 2^62 are written as integers (``1``, not ``1.0``;
    ``-0.0`` becomes ``0``); larger ones and fractions as text.
    """
    if -_DOUBLE_INT_LIMIT <= value <= _DOUBLE_INT_LIMIT and value == int(value):
        return int(value)
    return None


def double_text(value: float) -> bytes:
    """Text form of a finite or infinite double as Redis writes it (ints, else %.17g)."""
    if math.isinf(value):
        return b"inf" if value > 0 else b"-inf"
    as_int = double_as_int(value)
    if as_int is not None:
        return str(as_int).encode()
    return b"%.17g" % value


def encode_text_double(value: float) -> bytes:
    """Length-prefixed text double of the legacy ZSET (type 3) encoding."""
    if math.isnan(value):
        return b"\xfd"
    if math.isinf(value):
        return b"\xfe" if value > 0 else b"\xff"
    text = double_text(value)
    return bytes((len(text),)) + text


def parse_double_text(text: bytes) -> float:
    """A double written as text (listpack scores, type 3); NaN and junk are refused."""
    if not _DOUBLE_TEXT.fullmatch(text):
        raise bad_data(f"invalid double text {text[:40]!r}")
    return float(text)


# --------------------------------------------------------------------------- reading


class PayloadReader:
    """Sequential reader over a payload; every read is bounds-checked before slicing.

    Nothing is allocated from a length field alone: a length is only used after checking
    that the bytes it claims are present, so a lying length fails fast instead of
    reserving gigabytes.
    """

    __slots__ = ("buf", "pos", "end")

    def __init__(self, buf: bytes, pos: int = 0, end: int | None = None) -> None:
        self.buf = buf
        self.pos = pos
        self.end = len(buf) if end is None else end

    @property
    def remaining(self) -> int:
        return self.end - self.pos

    def read_byte(self) -> int:
        if self.pos >= self.end:
            raise bad_data("payload truncated")
        value = self.buf[self.pos]
        self.pos += 1
        return value

    def read_exact(self, count: int) -> bytes:
        if count < 0 or count > self.end - self.pos:
            raise bad_data("payload truncated")
        start = self.pos
        self.pos += count
        return self.buf[start : self.pos]

    def _read_length_or_encoding(self) -> tuple[int, bool]:
        first = self.read_byte()
        kind = first >> 6
        if kind == 0:
            return first, False
        if kind == 1:
            return ((first & 0x3F) << 8) | self.read_byte(), False
        if kind == 3:
            return first & 0x3F, True
        if first == _LEN_32BIT:
            return int.from_bytes(self.read_exact(4), "big"), False
        if first == _LEN_64BIT:
            return int.from_bytes(self.read_exact(8), "big"), False
        raise bad_data(f"unknown length encoding 0x{first:02x}")

    def read_length(self) -> int:
        """A length or count.

        Like Redis, a ``11xxxxxx`` byte here is taken as the 6-bit number it carries
        (Redis never writes that for a count, but 7.0 RESTORE accepts it).
        """
        return self._read_length_or_encoding()[0]

    def read_count(self, min_item_size: int = 1) -> int:
        """A count of items that follow, rejected early if they cannot all be present.

        Each item takes at least ``min_item_size`` bytes, so a larger count is a lie.
        """
        count = self.read_length()
        if count * min_item_size > self.remaining:
            raise bad_data("count larger than the payload")
        return count

    def read_string(self) -> bytes:
        """An RDB string in any of its forms, as bytes."""
        value, encoded = self._read_length_or_encoding()
        if not encoded:
            return self.read_exact(value)
        if value == _ENC_INT8 & 0x3F:
            return str(int.from_bytes(self.read_exact(1), "little", signed=True)).encode()
        if value == _ENC_INT16 & 0x3F:
            return str(int.from_bytes(self.read_exact(2), "little", signed=True)).encode()
        if value == _ENC_INT32 & 0x3F:
            return str(int.from_bytes(self.read_exact(4), "little", signed=True)).encode()
        if value == _ENC_LZF & 0x3F:
            packed_len = self.read_length()
            plain_len = self.read_length()
            packed = self.read_exact(packed_len)
            if plain_len == 0:
                # lzf_decompress answers 0 for any failure, which is the length Redis
                # checks it against: an LZF string declared empty loads as "" whatever
                # its compressed bytes are.
                return b""
            return lzf.decompress(packed, plain_len)
        raise bad_data(f"unknown string encoding {value}")

    def read_binary_double(self) -> float:
        return float(_DOUBLE.unpack(self.read_exact(8))[0])

    def read_text_double(self) -> float:
        size = self.read_byte()
        if size == 255:
            return -math.inf
        if size == 254:
            return math.inf
        if size == 253:
            return math.nan
        return parse_double_text(self.read_exact(size))
