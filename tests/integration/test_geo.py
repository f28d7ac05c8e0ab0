"""GEO commands against a real redis-server 7.0: every reply compared byte for byte
(positions, distances, hashes, the members a search finds and their order), errors and
RESP3 included, and what GEORADIUS ... STORE / GEOSEARCHSTORE leave behind."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from tests.differ import Differ

KEYS = ("g", "h", "dst", "dst2", "s", "empty")

SICILY = ("geoadd", "g", "13.361389", "38.115556", "Palermo", "15.087269", "37.502669", "Catania")


@pytest.fixture(autouse=True)
def clean(differ: Differ) -> Iterator[None]:
    differ.both("del", *KEYS)
    yield
    differ.both("hello", "2")


SCRIPT: list[tuple[object, ...]] = [
    SICILY,
    ("geoadd", "g", "13.361389", "38.115556", "Palermo"),
    ("geoadd", "g", "ch", "13.4", "38.1", "Palermo"),
    ("geoadd", "g", "nx", "1", "1", "Palermo", "2", "2", "Nowhere"),
    ("geoadd", "g", "xx", "ch", "13.361389", "38.115556", "Palermo", "3", "3", "Elsewhere"),
    ("geoadd", "g", "nx", "xx", "1", "1", "a"),
    ("geoadd", "g", "1", "1"),
    ("geoadd", "g", "1", "1", "a", "2"),
    ("geoadd", "g", "gt", "1", "1", "a"),
    ("geoadd", "g", "181", "0", "a"), ("geoadd", "g", "0", "85.06", "a"),
    ("geoadd", "g", "-180", "-85.05112878", "corner"), ("geoadd", "g", "180", "85.05112878", "top"),
    ("geoadd", "g", "x", "1", "a"), ("geoadd", "g", "1", "nan", "a"), ("geoadd", "g", "inf", "1", "a"),
    ("geoadd", "g", "1", "1", "a", "999", "1", "b"),
    ("geopos", "g", "Palermo", "corner", "top", "nope"), ("geopos", "g"), ("geopos", "nokey", "a"),
    ("geohash", "g", "Palermo", "Catania", "corner", "top", "nope"), ("geohash", "nokey", "a", "b"),
    ("geodist", "g", "Palermo", "Catania"), ("geodist", "g", "Palermo", "Catania", "KM"),
    ("geodist", "g", "Palermo", "Catania", "mi"), ("geodist", "g", "Palermo", "Catania", "ft"),
    ("geodist", "g", "Palermo", "Catania", "m"), ("geodist", "g", "Palermo", "Catania", "yd"),
    ("geodist", "g", "Palermo", "Catania", "km", "x"), ("geodist", "g", "Palermo", "nope"),
    ("geodist", "nokey", "a", "b"), ("geodist", "nokey", "a", "b", "parsec"),
    ("geodist", "g", "Palermo", "Palermo"), ("geodist", "g", "corner", "top"),
    ("set", "s", "x"), ("geoadd", "s", "1", "1", "a"), ("geopos", "s", "a"), ("geohash", "s", "a"),
    ("geodist", "s", "a", "b"), ("georadius", "s", "x", "y", "z", "w"),
    ("geosearch", "s", "frommember", "a", "byradius", "1", "km"),
    ("geosearchstore", "dst", "s", "fromlonlat", "1", "1", "byradius", "1", "km"),
    ("georadius", "g", "15", "37", "200", "km"),
    ("georadius", "g", "15", "37", "200", "km", "withdist", "withcoord", "withhash", "asc"),
    ("georadius", "g", "15", "37", "200", "km", "desc", "withdist"),
    ("georadius", "g", "15", "37", "200", "km", "count", "1"),
    ("georadius", "g", "15", "37", "200", "km", "count", "1", "desc"),
    ("georadius", "g", "15", "37", "200", "km", "count", "1", "any"),
    ("georadius", "g", "15", "37", "200", "km", "any"),
    ("georadius", "g", "15", "37", "200", "km", "count", "0"),
    ("georadius", "g", "15", "37", "200", "km", "count", "-3"),
    ("georadius", "g", "15", "37", "200", "km", "count", "x"),
    ("georadius", "g", "15", "37", "200", "km", "count"),
    ("georadius", "g", "15", "37", "-1", "km"), ("georadius", "g", "15", "37", "x", "km"),
    ("georadius", "g", "15", "37", "1", "furlong"), ("georadius", "g", "190", "37", "1", "km"),
    ("georadius", "g", "15", "37", "200", "km", "frommember", "Palermo"),
    ("georadius", "g", "15", "37", "200", "km", "bogus"),
    ("georadius", "g", "15", "37", "200", "km", "store", "dst"), ("zrange", "dst", "0", "-1", "withscores"),
    ("georadius", "g", "15", "37", "200", "km", "storedist", "dst2", "count", "1"),
    ("zrange", "dst2", "0", "-1", "withscores"),
    ("georadius", "g", "15", "37", "200", "km", "store", "dst", "withdist"),
    ("georadius", "g", "15", "37", "200", "km", "store", "dst", "storedist", "dst2"),
    ("zrange", "dst2", "0", "-1", "withscores"), ("exists", "dst"),
    ("georadius", "g", "0", "0", "1", "m", "store", "dst2"), ("exists", "dst2"),
    ("georadius", "nokey", "15", "37", "200", "km", "store", "dst"), ("exists", "dst"),
    ("georadius", "nokey", "15", "37", "200", "km"),
    ("georadius_ro", "g", "15", "37", "200", "km", "withdist"),
    ("georadius_ro", "g", "15", "37", "200", "km", "store", "dst"),
    ("georadiusbymember", "g", "Palermo", "200", "km", "withdist"),
    ("georadiusbymember", "g", "nope", "200", "km"),
    ("georadiusbymember", "nokey", "nope", "-200", "km", "bogus"),
    ("georadiusbymember", "nokey", "nope", "200", "km", "store", "dst"),
    ("georadiusbymember_ro", "g", "Catania", "100", "km", "withcoord"),
    ("georadiusbymember", "g", "Palermo", "0", "km", "withdist"),
    ("geosearch", "g", "frommember", "Palermo", "byradius", "200", "km", "asc", "withdist"),
    ("geosearch", "g", "fromlonlat", "15", "37", "bybox", "400", "400", "km", "asc", "withcoord"),
    ("geosearch", "g", "fromlonlat", "15", "37", "bybox", "400", "-1", "km"),
    ("geosearch", "g", "fromlonlat", "15", "37", "bybox", "x", "1", "km"),
    ("geosearch", "g", "fromlonlat", "15", "37", "bybox", "1", "x", "km"),
    ("geosearch", "g", "fromlonlat", "15", "37", "bybox", "1", "1", "au"),
    ("geosearch", "g", "byradius", "200", "km", "asc"),
    ("geosearch", "g", "fromlonlat", "15", "37", "asc", "count", "3"),
    ("geosearch", "g", "frommember", "Palermo", "fromlonlat", "15", "37", "byradius", "1", "km"),
    ("geosearch", "g", "fromlonlat", "15", "37", "byradius", "1", "km", "bybox", "1", "1", "km"),
    ("geosearch", "g", "frommember", "nope", "byradius", "200", "km"),
    ("GeoSearch", "nokey", "frommember", "nope", "byradius", "200", "km"),
    ("geosearch", "nokey", "frommember", "nope", "byradius", "-200", "km"),
    ("GEOSEARCH", "g", "fromlonlat", "15", "37", "withdist", "count", "1"),
    ("geosearch", "g", "fromlonlat", "15", "37", "byradius", "200", "km", "store", "dst"),
    ("geosearch", "g", "fromlonlat", "15", "37", "byradius", "200", "km", "storedist"),
    ("geosearchstore", "dst", "g", "fromlonlat", "15", "37", "byradius", "200", "km"),
    ("zrange", "dst", "0", "-1", "withscores"),
    ("geosearchstore", "dst", "g", "fromlonlat", "15", "37", "byradius", "200", "km", "storedist",
     "count", "1"),
    ("zrange", "dst", "0", "-1", "withscores"),
    ("geosearchstore", "dst", "g", "fromlonlat", "15", "37", "byradius", "200", "km", "withdist"),
    ("geosearchstore", "dst", "g", "fromlonlat", "15", "37", "byradius", "200", "km", "store", "x"),
    ("geosearchstore", "dst", "g", "fromlonlat", "0", "0", "byradius", "1", "km"), ("exists", "dst"),
    ("geosearchstore", "s", "nokey", "fromlonlat", "0", "0", "byradius", "1", "km"), ("exists", "s"),
    # Scores that were never positions: C's double -> uint64 conversion decides the cell.
    ("zadd", "h", "-1", "neg", "1e20", "big", "0.5", "half", "1.8446744073709552e19", "u64",
     "-1e30", "vneg", "9.3e18", "high"),
    ("geopos", "h", "neg", "big", "half", "u64", "vneg", "high"),
    ("geohash", "h", "neg", "big", "half", "u64", "vneg", "high"),
    ("geodist", "h", "neg", "vneg", "km"),
    ("georadius", "h", "0", "0", "30000", "km", "withhash", "withcoord"),
    ("type", "dst"), ("object", "encoding", "dst"),
]


def test_scripted_matches_redis(differ: Differ) -> None:
    for cmd in SCRIPT:
        differ.check(*cmd)


def test_resp3_replies(differ: Differ) -> None:
    differ.check(*SICILY)
    differ.both("hello", "3")
    for cmd in [("geopos", "g", "Palermo", "nope"), ("geohash", "g", "Palermo", "nope"),
                ("geodist", "g", "Palermo", "Catania"), ("geodist", "g", "Palermo", "nope"),
                ("geodist", "nokey", "a", "b"), ("geopos", "nokey", "a"),
                ("georadius", "g", "15", "37", "200", "km", "withdist", "withcoord", "withhash"),
                ("geosearch", "g", "frommember", "Catania", "bybox", "500", "500", "km",
                 "withcoord", "desc")]:
        differ.check(*cmd)


def _random_point(rng: random.Random, near: tuple[float, float] | None) -> tuple[float, float]:
    if near is None:
        return rng.uniform(-180, 180), rng.uniform(-85.05112878, 85.05112878)
    lon = near[0] + rng.gauss(0, 2)
    lat = near[1] + rng.gauss(0, 1)
    return min(max(lon, -180.0), 180.0), min(max(lat, -85.05), 85.05)


CENTRES = [(13.4, 38.1), (-0.1, 51.5), (179.9, 0.0), (-179.9, -10.0), (0.0, 84.9),
           (120.0, -84.9), (0.0, 0.0), (-70.0, 70.0)]


def _options(rng: random.Random) -> list[str]:
    groups = [[o] for o in ("withdist", "withcoord", "withhash") if rng.random() < 0.4]
    if rng.random() < 0.5:
        groups.append([rng.choice(["asc", "desc"])])
    if rng.random() < 0.4:
        groups.append(["count", str(rng.randint(1, 30))])
        if rng.random() < 0.3:
            groups.append(["any"])
    rng.shuffle(groups)  # any order of options is valid
    return [word for group in groups for word in group]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_searches_match_redis(differ: Differ, seed: int) -> None:
    rng = random.Random(seed)
    members: list[str] = []
    # Both encodings: "g" stays a listpack (under 128 entries), "h" grows into a skiplist.
    for key, size in (("g", 100), ("h", 700)):
        args: list[str] = ["geoadd", key]
        for n in range(size):
            centre = rng.choice(CENTRES + [None])  # type: ignore[list-item]
            lon, lat = _random_point(rng, centre)
            name = f"m{n}"
            args += [repr(lon), repr(lat), name]
            members.append(name)
        differ.check(*args)
    differ.check("object", "encoding", "g")
    differ.check("object", "encoding", "h")
    units = ["m", "km", "mi", "ft"]
    for _ in range(150):
        key = rng.choice(["g", "h"])
        unit = rng.choice(units)
        scale = {"m": 1.0, "km": 1000.0, "mi": 1609.34, "ft": 0.3048}[unit]
        metres = 10 ** rng.uniform(2, 7.3)
        size = repr(round(metres / scale, rng.randint(0, 4)))
        centre = rng.choice(CENTRES)
        lon, lat = _random_point(rng, centre)
        kind = rng.randrange(5)
        if kind == 0:
            cmd = ["georadius", key, repr(lon), repr(lat), size, unit]
        elif kind == 1:
            cmd = ["georadiusbymember_ro", key, f"m{rng.randrange(100)}", size, unit]
        elif kind == 2:
            width = repr(round(10 ** rng.uniform(2, 7) / scale, 2))
            cmd = ["geosearch", key, "fromlonlat", repr(lon), repr(lat), "bybox", width, size, unit]
        elif kind == 3:
            cmd = ["geosearch", key, "frommember", f"m{rng.randrange(100)}", "byradius", size, unit]
        else:
            cmd = ["georadius_ro", key, repr(lon), repr(lat), size, unit]
        differ.check(*cmd, *_options(rng))
        if rng.random() < 0.2:
            store = ["geosearchstore", "dst", key, "fromlonlat", repr(lon), repr(lat),
                     "byradius", size, unit]
            if rng.random() < 0.5:
                store.append("storedist")
            differ.check(*store)
            differ.check("zrange", "dst", "0", "-1", "withscores")
            differ.check("object", "encoding", "dst")
    for _ in range(60):
        a, b = rng.sample(members, 2)
        key = "g" if int(a[1:]) < 100 and int(b[1:]) < 100 else "h"
        differ.check("geodist", key, a, b, rng.choice(units))
    differ.check("geohash", "h", *rng.sample(members, 20))
    differ.check("geopos", "h", *rng.sample(members, 20))


def test_edges_of_the_map_match_redis(differ: Differ) -> None:
    """Poles, the antimeridian, radii that cover the Earth (neighbouring cells coincide and
    Redis scans one twice), zero radius, a position on a cell border."""
    points = ["geoadd", "g"]
    for n, (lon, lat) in enumerate([(-180, 0), (180, 0), (179.99999, 1), (-179.99999, -1),
                                    (0, 85.05112878), (0, -85.05112878), (90, 85), (-90, -85),
                                    (0, 0), (0.0000001, 0), (45, 45), (-45, -45)]):
        points += [str(lon), str(lat), f"p{n}"]
    differ.check(*points)
    for lon, lat in [(180, 0), (-180, 0), (0, 85), (0, -85), (0, 0), (179.5, 84.9)]:
        for radius in ("0", "1", "5000", "10000", "19000", "40000"):
            differ.check("georadius", "g", str(lon), str(lat), radius, "km", "withdist", "asc")
            differ.check("georadius", "g", str(lon), str(lat), radius, "km")
            differ.check("geosearch", "g", "fromlonlat", str(lon), str(lat), "bybox", radius,
                         radius, "km", "withhash")
    differ.check("georadiusbymember", "g", "p4", "20000", "km", "withcoord")
    differ.check("geosearch", "g", "frommember", "p8", "bybox", "50000", "1", "km")


def test_getkeys_and_cluster_routing(differ: Differ, cluster_differ: Differ) -> None:
    for cmd in [("georadius", "a", "1", "1", "1", "km", "store", "b"),
                ("georadius", "a", "1", "1", "1", "km", "store", "b", "storedist", "c"),
                ("georadiusbymember", "a", "m", "1", "km", "storedist", "b"),
                ("georadiusbymember", "a", "m", "1", "km", "withdist"),
                ("geosearchstore", "a", "b", "fromlonlat", "1", "1", "byradius", "1", "km"),
                ("geoadd", "a", "1", "1", "m"),
                ("georadius", "a", "1", "1", "1", "km", "store", "b", "store", "c"),
                ("georadius", "a", "1", "1", "1", "km", "storedist", "c", "store", "b"),
                ("georadius", "a", "1", "1", "store", "km", "store", "b"),
                ("georadius", "a", "1", "1", "1", "km", "store"),
                ("georadiusbymember", "a", "m", "1", "store", "b"),
                ("georadius", "a", "1", "1", "1", "km", "store", "store", "store")]:
        differ.check("command", "getkeys", *cmd)
    cluster_differ.check(*SICILY)
    cluster_differ.check("georadius", "g", "15", "37", "200", "km", "store", "x")
    cluster_differ.check("georadius", "g", "15", "37", "200", "km", "store", "{g}x")
    cluster_differ.check("geosearchstore", "x", "g", "frommember", "Palermo", "byradius", "1", "km")
    cluster_differ.check("zrange", "{g}x", "0", "-1")


def test_count_with_tied_distances_matches_redis(differ: Differ) -> None:
    """Members sharing a position tie on distance; COUNT sorts only the ranks it returns
    (Redis's partial quicksort), so their order is that algorithm's, ASC and DESC."""
    rng = random.Random(11)
    spots = [(1.0, 1.0), (1.001, 1.0), (1.0, 1.002), (1.003, 1.003)]
    for _ in range(60):
        differ.both("del", "g")
        n = rng.randint(5, 120)
        args = ["geoadd", "g"]
        for i in range(n):
            lon, lat = rng.choice(spots)
            args += [str(lon), str(lat), f"m{i}"]
        differ.check(*args)
        count = str(rng.randint(1, n))
        order = rng.choice(["asc", "desc"])
        differ.check("georadius", "g", "1", "1", "100", "km", "count", count, order, "withdist")
        differ.check("geosearch", "g", "fromlonlat", "1", "1", "bybox", "500", "500", "km",
                     "count", count)


def test_infinite_and_huge_shapes_match_redis(differ: Differ) -> None:
    """An infinite radius or box side makes Redis's bounding box NaN (C's cos(inf)): the
    search covers the whole world and every member matches. AiKv raised an internal error."""
    differ.check("geoadd", "G", "13.361389", "38.115556", "Palermo", "15.087269", "37.502669",
                 "Catania", "0", "0", "zero", "-120", "-60", "south", "170", "80", "north")
    for query in (
        ("geosearch", "G", "fromlonlat", "15", "37", "byradius", "inf", "km"),
        ("geosearch", "G", "fromlonlat", "15", "37", "byradius", "1e308", "km", "withdist"),
        ("geosearch", "G", "fromlonlat", "15", "37", "bybox", "400", "inf", "km"),
        ("geosearch", "G", "fromlonlat", "15", "37", "bybox", "inf", "inf", "km", "asc"),
        ("geosearch", "G", "fromlonlat", "15", "80", "byradius", "+inf", "m", "withcoord"),
        ("georadius", "G", "15", "37", "+inf", "km"),
        ("georadius_ro", "G", "-170", "-85", "inf", "mi", "count", "3", "desc"),
        ("georadiusbymember", "G", "Palermo", "inf", "m", "count", "2"),
        ("geosearchstore", "G2", "G", "frommember", "zero", "byradius", "inf", "km"),
        ("zrange", "G2", "0", "-1", "withscores"),
    ):
        differ.check(*query)
    differ.both("del", "G", "G2")
