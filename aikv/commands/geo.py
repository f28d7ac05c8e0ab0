"""GEOADD GEOPOS GEODIST GEOHASH GEORADIUS[_RO] GEORADIUSBYMEMBER[_RO] GEOSEARCH
GEOSEARCHSTORE: positions kept as sorted-set scores (see aikv/geo.py), argument checks in
Redis 7.0's order with its error texts."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from aikv import geo
from aikv.blocking import signal_key_ready
from aikv.commands.args import SYNTAX, parse_int
from aikv.commands.registry import command
from aikv.commands.zsets import _limits, zadd
from aikv.notify import GENERIC
from aikv.pqsort import partial_sort
from aikv.resp import EMPTY_ARRAY, NULL3, NULL_ARRAY, NULL_BULK, ZERO, CommandError, bulk, integer
from aikv.zset_store import ScoreRange, ZSet, open_zset, parse_score, store_result

if TYPE_CHECKING:
    from aikv.client import Client

_NO_MEMBER = "ERR could not decode requested zset member"
_BAD_UNIT = "ERR unsupported unit provided. please use M, KM, FT, MI"


def _lon_lat(raw_lon: bytes, raw_lat: bytes) -> tuple[float, float]:
    lon = parse_score(raw_lon)
    lat = parse_score(raw_lat)
    if not (geo.LONG_MIN <= lon <= geo.LONG_MAX and geo.LAT_MIN <= lat <= geo.LAT_MAX):
        raise CommandError("ERR invalid longitude,latitude pair %f,%f" % (lon, lat))
    return lon, lat


def _unit(raw: bytes) -> float:
    unit = geo.UNITS.get(raw.lower())
    if unit is None:
        raise CommandError(_BAD_UNIT)
    return unit


def _coordinate(value: float, resp3: bool) -> bytes:
    text = geo.format_coordinate(value)
    return b",%s\r\n" % text if resp3 else bulk(text)


# ---------------------------------------------------------------------- GEOADD
@command("geoadd", -5, "write denyoom", keys=(1, 1, 1), categories="@write @geo @slow")
def geoadd(client: Client, argv: list[bytes]) -> bytes:
    nx = xx = False
    at = 2
    while at < len(argv):
        opt = argv[at].lower()
        if opt == b"nx":
            nx = True
        elif opt == b"xx":
            xx = True
        elif opt != b"ch":  # CH is ZADD's: passed on as it is
            break
        at += 1
    if (len(argv) - at) % 3 or (nx and xx):
        raise CommandError(SYNTAX)
    # Every position is checked before anything is written; then it is ZADD's work.
    zadd_argv = [b"zadd", *argv[1:at]]
    for i in range(at, len(argv), 3):
        lon, lat = _lon_lat(argv[i], argv[i + 1])
        zadd_argv += [b"%d" % geo.score_of(lon, lat), argv[i + 2]]
    return zadd(client, zadd_argv)


# ---------------------------------------------------------------------- lookups
@command("geopos", -2, "readonly", keys=(1, 1, 1), categories="@read @geo @slow")
def geopos(client: Client, argv: list[bytes]) -> bytes:
    zs = open_zset(client.db, argv[1])
    resp3 = client.resp3
    missing = NULL3 if resp3 else NULL_ARRAY
    out = [b"*%d\r\n" % (len(argv) - 2)]
    for member in argv[2:]:
        score = zs.score(member) if zs is not None else None
        if score is None:
            out.append(missing)
            continue
        lon, lat = geo.position(score)
        out.append(b"*2\r\n" + _coordinate(lon, resp3) + _coordinate(lat, resp3))
    return b"".join(out)


@command("geohash", -2, "readonly", keys=(1, 1, 1), categories="@read @geo @slow")
def geohash(client: Client, argv: list[bytes]) -> bytes:
    zs = open_zset(client.db, argv[1])
    missing = NULL3 if client.resp3 else NULL_BULK
    out = [b"*%d\r\n" % (len(argv) - 2)]
    for member in argv[2:]:
        score = zs.score(member) if zs is not None else None
        out.append(missing if score is None else bulk(geo.geohash_text(score)))
    return b"".join(out)


@command("geodist", -4, "readonly", keys=(1, 1, 1), categories="@read @geo @slow")
def geodist(client: Client, argv: list[bytes]) -> bytes:
    unit = 1.0
    if len(argv) == 5:
        unit = _unit(argv[4])
    elif len(argv) > 5:
        raise CommandError(SYNTAX)
    missing = NULL3 if client.resp3 else NULL_BULK
    zs = open_zset(client.db, argv[1])
    if zs is None:
        return missing
    first = zs.score(argv[2])
    second = zs.score(argv[3]) if first is not None else None
    if first is None or second is None:
        return missing
    lon1, lat1 = geo.position(first)
    lon2, lat2 = geo.position(second)
    return bulk(geo.format_distance(geo.distance(lon1, lat1, lon2, lat2) / unit))


# ---------------------------------------------------------------------- searches
_BY_COORDS = 1  # GEORADIUS: longitude latitude radius unit
_BY_MEMBER = 2  # GEORADIUSBYMEMBER: member radius unit
_NO_STORE = 4  # the _RO variants
_SEARCH = 8  # GEOSEARCH syntax: FROMMEMBER/FROMLONLAT, BYRADIUS/BYBOX
_SEARCH_STORE = 16  # GEOSEARCHSTORE: destination first, STOREDIST without argument


def _distance_arg(raw: bytes, raw_unit: bytes, shape: geo.Shape) -> None:
    radius = parse_score(raw, "ERR need numeric radius")
    if radius < 0:
        raise CommandError("ERR radius cannot be negative")
    shape.radius = radius
    shape.unit = _unit(raw_unit)


def _box_arg(raw_w: bytes, raw_h: bytes, raw_unit: bytes, shape: geo.Shape) -> None:
    width = parse_score(raw_w, "ERR need numeric width")
    height = parse_score(raw_h, "ERR need numeric height")
    if height < 0 or width < 0:
        raise CommandError("ERR height or width cannot be negative")
    shape.width, shape.height = width, height
    shape.unit = _unit(raw_unit)


def _member_position(zs: ZSet, member: bytes) -> tuple[float, float]:
    score = zs.score(member)
    if score is None:
        raise CommandError(_NO_MEMBER)
    return geo.position(score)


def _search(client: Client, argv: list[bytes], src: int, flags: int) -> bytes:
    db = client.db
    zs = open_zset(db, argv[src])  # WRONGTYPE comes before any argument check
    store_key: bytes | None = None
    store_dist = False
    shape = geo.Shape()
    if flags & _BY_COORDS:
        base = 6
        shape.lon, shape.lat = _lon_lat(argv[2], argv[3])
        _distance_arg(argv[4], argv[5], shape)
    elif flags & _BY_MEMBER:
        base = 5
        if zs is not None:  # without a key Redis parses the options and answers empty
            shape.lon, shape.lat = _member_position(zs, argv[2])
            _distance_arg(argv[3], argv[4], shape)
    else:
        base = 2
        if flags & _SEARCH_STORE:
            base = 3
            store_key = argv[1]

    with_dist = with_hash = with_coord = any_ = False
    from_member = from_lonlat = by_radius = by_box = False
    order = 0  # 0 none, 1 ascending, -1 descending
    count = 0
    options = argv[base:]
    remaining = len(options)
    search = bool(flags & _SEARCH)
    storable = not flags & (_NO_STORE | _SEARCH)
    i = 0
    while i < remaining:
        arg = options[i].lower()
        if arg == b"withdist":
            with_dist = True
        elif arg == b"withhash":
            with_hash = True
        elif arg == b"withcoord":
            with_coord = True
        elif arg == b"any":
            any_ = True
        elif arg == b"asc":
            order = 1
        elif arg == b"desc":
            order = -1
        elif arg == b"count" and i + 1 < remaining:
            count = parse_int(options[i + 1])
            if count <= 0:
                raise CommandError("ERR COUNT must be > 0")
            i += 1
        elif arg in (b"store", b"storedist") and i + 1 < remaining and storable:
            store_key = options[i + 1]
            store_dist = arg == b"storedist"
            i += 1
        elif arg == b"storedist" and flags & _SEARCH_STORE:
            store_dist = True
        elif arg == b"frommember" and i + 1 < remaining and search and not from_lonlat:
            if zs is not None:
                shape.lon, shape.lat = _member_position(zs, options[i + 1])
            from_member = True
            i += 1
        elif arg == b"fromlonlat" and i + 2 < remaining and search and not from_member:
            shape.lon, shape.lat = _lon_lat(options[i + 1], options[i + 2])
            from_lonlat = True
            i += 2
        elif arg == b"byradius" and i + 2 < remaining and search and not by_box:
            _distance_arg(options[i + 1], options[i + 2], shape)
            by_radius = True
            i += 2
        elif arg == b"bybox" and i + 3 < remaining and search and not by_radius:
            _box_arg(options[i + 1], options[i + 2], options[i + 3], shape)
            shape.radius = None
            by_box = True
            i += 3
        else:
            raise CommandError(SYNTAX)
        i += 1

    if store_key is not None and (with_dist or with_hash or with_coord):
        what = "GEOSEARCHSTORE" if flags & _SEARCH_STORE else "STORE option in GEORADIUS"
        raise CommandError(
            f"ERR {what} is not compatible with WITHDIST, WITHHASH and WITHCOORD options")
    name = argv[0].decode("utf-8", "replace")
    if search and not (from_member or from_lonlat):
        raise CommandError(f"ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for {name}")
    if search and not (by_radius or by_box):
        raise CommandError(f"ERR exactly one of BYRADIUS and BYBOX can be specified for {name}")
    if any_ and not count:
        raise CommandError("ERR the ANY argument requires COUNT argument")

    if zs is None:
        if store_key is not None:
            if db.delete(store_key):
                db.notify(GENERIC, b"del", store_key)
            return ZERO
        return EMPTY_ARRAY
    if count and not order and not any_:
        order = 1  # the nearest COUNT: only meaningful sorted

    found = _members_in(zs, shape, count if any_ else 0)
    if not found and store_key is None:
        return EMPTY_ARRAY
    if order:
        if count and count < len(found):
            # Redis sorts just the ranks it returns, with its own partial quicksort:
            # equal distances end up in that algorithm's order.
            partial_sort(found, _by_distance if order > 0 else _by_distance_desc, 0, count - 1)
            del found[count:]
        else:
            # glibc's qsort is a merge sort: stable, so equal distances keep scan order
            # (in both directions).
            found.sort(key=lambda item: item[3], reverse=order < 0)

    unit = shape.unit
    if store_key is not None:
        items = {member: (dist / unit if store_dist else score)
                 for member, score, _, dist in found}
        max_entries, max_value = _limits(client)
        stored = store_result(db, store_key, items, max_entries, max_value,
                              event=b"geosearchstore" if search else b"georadiusstore")
        if stored:
            signal_key_ready(client.server, db.index, store_key)
        return integer(len(found))

    resp3 = client.resp3
    extras = with_dist + with_hash + with_coord
    out = [b"*%d\r\n" % len(found)]
    for member, score, (lon, lat), dist in found:
        if extras:
            out.append(b"*%d\r\n" % (extras + 1))
        out.append(bulk(member))
        if with_dist:
            out.append(bulk(geo.format_distance(dist / unit)))
        if with_hash:
            out.append(integer(int(score)))
        if with_coord:
            out.append(b"*2\r\n" + _coordinate(lon, resp3) + _coordinate(lat, resp3))
    return b"".join(out)


Found = tuple[bytes, float, tuple[float, float], float]


def _by_distance(a: Found, b: Found) -> int:
    return (a[3] > b[3]) - (a[3] < b[3])


def _by_distance_desc(a: Found, b: Found) -> int:
    return (a[3] < b[3]) - (a[3] > b[3])


def _members_in(zs: ZSet, shape: geo.Shape, limit: int) -> list[Found]:
    """(member, score, (lon, lat), distance in metres) of the members inside the shape, in
    the order Redis finds them: cell by cell, by score within a cell. With a limit (ANY)
    the scan stops as soon as that many were found."""
    found: list[Found] = []
    for lo, hi in geo.search_ranges(shape):
        if limit and len(found) >= limit:
            break
        for member, score in zs.by_score(ScoreRange.between(lo, hi, maxex=True), False):
            hit = shape.match(score)
            if hit is not None:
                lon, lat, dist = hit
                found.append((member, score, (lon, lat), dist))
            if limit and len(found) >= limit:
                break
    return found


def _keyword_key(argv: list[bytes], keyword: bytes, start: int) -> int | None:
    """Redis 7.0's keyword key spec: the argument after the first `keyword` at or after
    `start` (the last argument is never taken for the keyword)."""
    for i in range(start, len(argv) - 1):
        if argv[i].lower() == keyword:
            return i + 1
    return None


def _store_keys(start: int) -> Callable[[list[bytes]], list[int]]:
    """Key positions of GEORADIUS[BYMEMBER] as its key specs give them: the searched key,
    then the STORE destination, then the STOREDIST one (spec order, not argument order)."""

    def positions(argv: list[bytes]) -> list[int]:
        found = [1]
        for keyword in (b"store", b"storedist"):
            at = _keyword_key(argv, keyword, start)
            if at is not None:
                found.append(at)
        return found

    return positions


@command("georadius", -6, "write denyoom movablekeys", keys=(1, 1, 1), key_finder=_store_keys(6),
         categories="@write @geo @slow")
def georadius(client: Client, argv: list[bytes]) -> bytes:
    return _search(client, argv, 1, _BY_COORDS)


@command("georadius_ro", -6, "readonly", keys=(1, 1, 1), categories="@read @geo @slow")
def georadius_ro(client: Client, argv: list[bytes]) -> bytes:
    return _search(client, argv, 1, _BY_COORDS | _NO_STORE)


@command("georadiusbymember", -5, "write denyoom movablekeys", keys=(1, 1, 1),
         key_finder=_store_keys(5), categories="@write @geo @slow")
def georadiusbymember(client: Client, argv: list[bytes]) -> bytes:
    return _search(client, argv, 1, _BY_MEMBER)


@command("georadiusbymember_ro", -5, "readonly", keys=(1, 1, 1), categories="@read @geo @slow")
def georadiusbymember_ro(client: Client, argv: list[bytes]) -> bytes:
    return _search(client, argv, 1, _BY_MEMBER | _NO_STORE)


@command("geosearch", -7, "readonly", keys=(1, 1, 1), categories="@read @geo @slow")
def geosearch(client: Client, argv: list[bytes]) -> bytes:
    return _search(client, argv, 1, _SEARCH)


@command("geosearchstore", -8, "write denyoom", keys=(1, 2, 1), categories="@write @geo @slow")
def geosearchstore(client: Client, argv: list[bytes]) -> bytes:
    return _search(client, argv, 2, _SEARCH | _SEARCH_STORE)
