import os

from aikv.cluster.slots import crc16, crc16_reference, hash_tag, key_hash_slot


def test_crc16_check_value() -> None:
    assert crc16(b"123456789") == 0x31C3


def test_known_slots() -> None:
    # Values taken from a real redis-server's CLUSTER KEYSLOT.
    assert key_hash_slot(b"foo") == 12182
    assert key_hash_slot(b"{user1000}.following") == 3443
    assert key_hash_slot(b"foo{}{bar}") == 8363


def test_hash_tag_rules() -> None:
    assert hash_tag(b"{a}b") == b"a"
    assert hash_tag(b"a{}b") == b"a{}b"
    assert hash_tag(b"a{b") == b"a{b"
    assert hash_tag(b"x{{y}}") == b"{y"
    assert hash_tag(b"") == b""


def test_c_crc_matches_reference() -> None:
    for n in range(0, 200, 7):
        data = os.urandom(n)
        assert crc16(data) == crc16_reference(data)
        assert key_hash_slot(data) == crc16_reference(hash_tag(data)) & 16383
