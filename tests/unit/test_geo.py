"""aikv.geo on values captured from redis-server 7.0.15 (GEOADD then ZSCORE, GEOPOS,
GEOHASH, GEODIST, GEORADIUS WITHDIST on the same points)."""

from __future__ import annotations

import pytest

from aikv import geo

PALERMO = (13.361389, 38.115556)
CATANIA = (15.087269, 37.502669)


def test_scores_are_redis_geoadd_scores() -> None:
    assert geo.score_of(*PALERMO) == 3479099956230698
    assert geo.score_of(*CATANIA) == 3479447370796909
    assert geo.encode(200.0, 0.0) is None
    assert geo.encode(0.0, 85.06) is None


def test_positions_and_their_text() -> None:
    lon, lat = geo.position(3479099956230698)
    assert geo.format_coordinate(lon) == b"13.36138933897018433"
    assert geo.format_coordinate(lat) == b"38.11555639549629859"
    lon, lat = geo.position(3479447370796909)
    assert geo.format_coordinate(lon) == b"15.08726745843887329"
    assert geo.format_coordinate(lat) == b"37.50266842333162032"


@pytest.mark.parametrize(("score", "lon", "lat"), [
    # Scores ZADD wrote directly: C's (uint64_t) cast of the double picks the cell.
    (-1.0, b"180", b"85.0511287799999991"),
    (1e20, b"-179.99999731779098511", b"-85.05112751263942528"),
    (0.5, b"-179.99999731779098511", b"-85.05112751263942528"),
    (1.8446744073709552e19, b"-179.99999731779098511", b"-85.05112751263942528"),
    (-1e30, b"180", b"-85.05112751263942528"),
])
def test_bogus_scores_decode_as_in_redis(score: float, lon: bytes, lat: bytes) -> None:
    x, y = geo.position(score)
    assert (geo.format_coordinate(x), geo.format_coordinate(y)) == (lon, lat)


def test_geohash_text() -> None:
    assert geo.geohash_text(3479099956230698) == b"sqc8b49rny0"
    assert geo.geohash_text(3479447370796909) == b"sqdtr74hyu0"
    assert geo.geohash_text(-1.0) == b"bp05b5048p0"
    assert geo.geohash_text(1e20) == b"00bh0hbj200"


def test_distances() -> None:
    p = geo.position(3479099956230698)
    c = geo.position(3479447370796909)
    d = geo.distance(*p, *c)
    assert geo.format_distance(d) == b"166274.1516"
    assert geo.format_distance(d / 1000) == b"166.2742"
    assert geo.format_distance(geo.distance(15.0, 37.0, *p)) == b"190442.4298"
    assert geo.format_distance(geo.distance(15.0, 37.0, *c) / 1000) == b"56.4413"
    assert geo.distance(*p, *p) == 0.0


def test_distance_text_rounds_half_to_even_like_llrint() -> None:
    assert geo.format_distance(0.0) == b"0.0000"
    assert geo.format_distance(0.775) == b"0.7750"
    # These scale to exactly 2.5, 3.5 and 4.5 in doubles: ties go to the even neighbour.
    assert geo.format_distance(0.00025) == b"0.0002"
    assert geo.format_distance(0.00035) == b"0.0004"
    assert geo.format_distance(0.00045) == b"0.0004"
    assert geo.format_distance(12.3456789) == b"12.3457"


def test_search_ranges_cover_the_shape() -> None:
    shape = geo.Shape(lon=15.0, lat=37.0, unit=1000.0, radius=200.0)
    ranges = geo.search_ranges(shape)
    assert 1 <= len(ranges) <= 9
    for member in (PALERMO, CATANIA):
        score = geo.score_of(*member)
        hit = shape.match(score)
        assert hit is not None
        assert any(lo <= score < hi for lo, hi in ranges)
    far = geo.score_of(0.0, 0.0)
    assert shape.match(far) is None


def test_steps_for_radius() -> None:
    assert geo.steps_for_radius(0, 0) == 26
    assert geo.steps_for_radius(1, 0) == 24
    assert geo.steps_for_radius(200_000, 0) == 6
    assert geo.steps_for_radius(200_000, 70) == 5
    assert geo.steps_for_radius(200_000, -85) == 4
    assert geo.steps_for_radius(1e9, 0) == 1
