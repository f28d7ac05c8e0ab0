"""Geohash arithmetic of the GEO commands, as Redis 7.0 does it.

A position is stored as a sorted-set score: 26 bits of latitude cell and 26 bits of
longitude cell, interleaved (latitude on the even bits) into a 52-bit integer. The
latitude range is Web Mercator's (+-85.05112878), not +-90, so GEOHASH re-encodes a
position over the standard ranges before spelling it in base 32.

A search (GEORADIUS, GEOSEARCH) picks a cell size from the radius, then scans the score
ranges of the centre's cell and its eight neighbours and keeps the members inside the
shape. Which cells are scanned, in which order, and every distance decide what a reply
holds and in which order; so each step here repeats Redis's double arithmetic in the same
order of operations with the same libm functions (Python's math module calls them), and
replies come out identical, not just close.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

STEP_MAX = 26  # 26 bits per coordinate: 52-bit scores, exact in a double
LAT_MIN = -85.05112878
LAT_MAX = 85.05112878
LONG_MIN = -180.0
LONG_MAX = 180.0
EARTH_RADIUS = 6372797.560856  # metres; Redis's quadratic mean radius of WGS-84
MERCATOR_MAX = 20037726.37
_D_R = math.pi / 180.0

UNITS = {b"m": 1.0, b"km": 1000.0, b"ft": 0.3048, b"mi": 1609.34}

_U64 = (1 << 64) - 1
_EVEN = 0x5555555555555555
_ODD = 0xAAAAAAAAAAAAAAAA
_BASE32 = b"0123456789bcdefghjkmnpqrstuvwxyz"


def _spread(v: int) -> int:
    """The low 32 bits of v moved to the even bit positions."""
    v &= 0xFFFFFFFF
    v = (v | (v << 16)) & 0x0000FFFF0000FFFF
    v = (v | (v << 8)) & 0x00FF00FF00FF00FF
    v = (v | (v << 4)) & 0x0F0F0F0F0F0F0F0F
    v = (v | (v << 2)) & 0x3333333333333333
    return (v | (v << 1)) & _EVEN


def _squash(v: int) -> int:
    """The even bits of v packed into 32 bits (the inverse of _spread)."""
    v &= _EVEN
    v = (v | (v >> 1)) & 0x3333333333333333
    v = (v | (v >> 2)) & 0x0F0F0F0F0F0F0F0F
    v = (v | (v >> 4)) & 0x00FF00FF00FF00FF
    v = (v | (v >> 8)) & 0x0000FFFF0000FFFF
    return (v | (v >> 16)) & 0xFFFFFFFF


def encode(lon: float, lat: float, step: int = STEP_MAX,
           lat_min: float = LAT_MIN, lat_max: float = LAT_MAX) -> int | None:
    """The cell (at `step` bits per coordinate) holding (lon, lat); None outside the
    Mercator limits, which apply whatever latitude range the cell grid uses."""
    if not (LONG_MIN <= lon <= LONG_MAX and LAT_MIN <= lat <= LAT_MAX):
        return None
    if not (lat_min <= lat <= lat_max):
        return None
    lat_offset = (lat - lat_min) / (lat_max - lat_min) * float(1 << step)
    lon_offset = (lon - LONG_MIN) / (LONG_MAX - LONG_MIN) * float(1 << step)
    # C converts the offsets to uint32 by truncation.
    return _spread(int(lat_offset)) | (_spread(int(lon_offset)) << 1)


def score_of(lon: float, lat: float) -> int:
    """The sorted-set score GEOADD stores for a valid position."""
    bits = encode(lon, lat)
    assert bits is not None
    return bits  # already aligned: 2 * STEP_MAX == 52


def score_bits(score: float) -> int:
    """A score as C's (uint64_t) cast of a double turns it into geohash bits on x86-64:
    negative values wrap, values from 2**64 on (and -2**63 and below) become 0 or 2**63.
    Only scores written by ZADD directly can be anything but a 52-bit integer."""
    if score >= 9223372036854775808.0:  # 2**63: converted as (score - 2**63) ^ 2**63
        rest = score - 9223372036854775808.0
        low = int(rest) if rest < 9223372036854775808.0 else 1 << 63
        return (low ^ (1 << 63)) & _U64
    if score > -9223372036854775809.0 and score == score:
        return int(score) & _U64
    return 1 << 63


def cell_bounds(bits: int, step: int, lat_min: float = LAT_MIN, lat_max: float = LAT_MAX
                ) -> tuple[float, float, float, float]:
    """(lon_min, lon_max, lat_min, lat_max) of a cell."""
    ilat = _squash(bits)
    ilon = _squash(bits >> 1)
    lat_scale = lat_max - lat_min
    lon_scale = LONG_MAX - LONG_MIN
    cells = float(1 << step)
    # (i + 1) is uint32 arithmetic in C: it wraps for the all-ones cell of a bogus score.
    return (LONG_MIN + (ilon * 1.0 / cells) * lon_scale,
            LONG_MIN + (((ilon + 1) & 0xFFFFFFFF) * 1.0 / cells) * lon_scale,
            lat_min + (ilat * 1.0 / cells) * lat_scale,
            lat_min + (((ilat + 1) & 0xFFFFFFFF) * 1.0 / cells) * lat_scale)


def position(score: float) -> tuple[float, float]:
    """(lon, lat) of a member: the centre of its 52-bit cell, clamped to the limits."""
    lon_lo, lon_hi, lat_lo, lat_hi = cell_bounds(score_bits(score), STEP_MAX)
    lon = (lon_lo + lon_hi) / 2
    lon = min(max(lon, LONG_MIN), LONG_MAX)
    lat = (lat_lo + lat_hi) / 2
    lat = min(max(lat, LAT_MIN), LAT_MAX)
    return lon, lat


def geohash_text(score: float) -> bytes:
    """GEOHASH's 11 characters: the position re-encoded over latitudes -90..90 (the
    standard geohash), 52 bits spelled in base 32, the last character always '0'."""
    lon, lat = position(score)
    bits = encode(lon, lat, STEP_MAX, -90.0, 90.0) or 0
    out = bytearray(b"0" * 11)
    for i in range(10):
        out[i] = _BASE32[(bits >> (52 - (i + 1) * 5)) & 0x1F]
    return bytes(out)


# ------------------------------------------------------------------ distances
def _deg_rad(angle: float) -> float:
    return angle * _D_R


def _rad_deg(angle: float) -> float:
    return angle / _D_R


def lat_distance(lat1: float, lat2: float) -> float:
    return EARTH_RADIUS * abs(_deg_rad(lat2) - _deg_rad(lat1))


def distance(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Haversine distance in metres on Redis's spherical Earth."""
    lon1r = _deg_rad(lon1)
    lon2r = _deg_rad(lon2)
    v = math.sin((lon2r - lon1r) / 2)
    if v == 0.0:
        return lat_distance(lat1, lat2)
    lat1r = _deg_rad(lat1)
    lat2r = _deg_rad(lat2)
    u = math.sin((lat2r - lat1r) / 2)
    a = u * u + math.cos(lat1r) * math.cos(lat2r) * v * v
    return 2.0 * EARTH_RADIUS * math.asin(math.sqrt(a))


# ------------------------------------------------------------------ search shapes
@dataclass
class Shape:
    """Where to search: around (lon, lat), a circle of `radius` or a `width` x `height`
    box, in units of `unit` metres."""

    lon: float = 0.0
    lat: float = 0.0
    unit: float = 1.0
    radius: float | None = None
    width: float = 0.0
    height: float = 0.0

    def match(self, score: float) -> tuple[float, float, float] | None:
        """(lon, lat, distance in metres) of a member inside the shape, else None."""
        lon, lat = position(score)
        if self.radius is not None:
            d = distance(self.lon, self.lat, lon, lat)
            if d > self.radius * self.unit:
                return None
            return lon, lat, d
        # Latitude first: it is the cheaper distance.
        if lat_distance(lat, self.lat) > self.height * self.unit / 2:
            return None
        if distance(lon, lat, self.lon, lat) > self.width * self.unit / 2:
            return None
        return lon, lat, distance(self.lon, self.lat, lon, lat)

    def bounding_box(self) -> tuple[float, float, float, float]:
        # An infinite radius or box (BYRADIUS inf) makes these NaN, as in C, where every
        # comparison with them is false and the search covers the whole world.
        """(min lon, min lat, max lon, max lat) around the shape."""
        if self.radius is not None:
            height = self.unit * self.radius
            width = self.unit * self.radius
        else:
            height = self.unit * (self.height / 2)
            width = self.unit * (self.width / 2)
        lat_delta = _rad_deg(height / EARTH_RADIUS)
        lon_delta_top = _rad_deg(width / EARTH_RADIUS / _cos(_deg_rad(self.lat + lat_delta)))
        lon_delta_bottom = _rad_deg(width / EARTH_RADIUS / _cos(_deg_rad(self.lat - lat_delta)))
        # The wider side of the box is the one nearer the equator.
        lon_delta = lon_delta_bottom if self.lat < 0 else lon_delta_top
        return (self.lon - lon_delta, self.lat - lat_delta,
                self.lon + lon_delta, self.lat + lat_delta)

    def reach(self) -> float:
        """Metres from the centre to the farthest point of the shape."""
        if self.radius is not None:
            return self.radius * self.unit
        half_w, half_h = self.width / 2, self.height / 2
        return math.sqrt(half_w * half_w + half_h * half_h) * self.unit


def steps_for_radius(metres: float, lat: float) -> int:
    """Bits per coordinate of the cells to scan: about the largest cell the radius fits
    in, one or two sizes larger near the poles."""
    if metres == 0:
        return STEP_MAX
    step = 1
    while metres < MERCATOR_MAX:
        metres *= 2
        step += 1
    step -= 2
    if lat > 66 or lat < -66:
        step -= 1
        if lat > 80 or lat < -80:
            step -= 1
    return min(max(step, 1), STEP_MAX)


def _move(bits: int, step: int, d: int, mine: int) -> int:
    """Step one cell along the coordinate held in the bits of mask `mine` (_ODD:
    longitude, _EVEN: latitude): add or subtract one in that coordinate with the other
    coordinate's bits set to ones, so the carry or borrow runs straight through them."""
    other = _ODD ^ _EVEN ^ mine
    coord = bits & mine
    filler = other >> (64 - step * 2)
    if d > 0:
        coord = coord + (filler + 1)
    else:
        coord = (coord | filler) - (filler + 1)
    return (coord & (mine >> (64 - step * 2))) | (bits & other)


def _move_lon(bits: int, step: int, d: int) -> int:
    return _move(bits, step, d, _ODD)


def _move_lat(bits: int, step: int, d: int) -> int:
    return _move(bits, step, d, _EVEN)


def _neighbours(bits: int, step: int) -> list[int]:
    """North, south, east, west, north-east, north-west, south-east, south-west."""
    east = _move_lon(bits, step, 1)
    west = _move_lon(bits, step, -1)
    return [_move_lat(bits, step, 1), _move_lat(bits, step, -1), east, west,
            _move_lat(east, step, 1), _move_lat(west, step, 1),
            _move_lat(east, step, -1), _move_lat(west, step, -1)]


# Indexes into [centre] + _neighbours(): which cells lie south, north, west, east.
_SOUTH = (2, 7, 8)
_NORTH = (1, 5, 6)
_WEST = (4, 6, 8)
_EAST = (3, 5, 7)


def search_ranges(shape: Shape) -> list[tuple[int, int]]:
    """The score ranges [lo, hi) to scan for a search, in Redis's order: the centre cell,
    then north, south, east, west, north-east, north-west, south-east, south-west, less
    the cells the bounding box cannot reach. A neighbour equal to the previous scanned
    cell is skipped (huge radii make neighbours coincide); as in Redis that comparison
    never looks at the centre cell, so a neighbour equal to it is scanned twice."""
    min_lon, min_lat, max_lon, max_lat = shape.bounding_box()
    step = steps_for_radius(shape.reach(), shape.lat)
    centre = encode(shape.lon, shape.lat, step)
    assert centre is not None  # the centre was validated or decoded from a member
    cells = [centre] + _neighbours(centre, step)
    # A neighbour nearer the centre than the box's edge would leave part of the box
    # unscanned: take cells one size larger.
    north = cell_bounds(cells[1], step)
    south = cell_bounds(cells[2], step)
    east = cell_bounds(cells[3], step)
    west = cell_bounds(cells[4], step)
    if step > 1 and (north[3] < max_lat or south[2] > min_lat
                     or east[1] < max_lon or west[0] > min_lon):
        step -= 1
        centre = encode(shape.lon, shape.lat, step)
        assert centre is not None
        cells = [centre] + _neighbours(centre, step)
    keep: list[int | None] = list(cells)
    if step >= 2:
        lon_lo, lon_hi, lat_lo, lat_hi = cell_bounds(centre, step)
        if lat_lo < min_lat:
            for i in _SOUTH:
                keep[i] = None
        if lat_hi > max_lat:
            for i in _NORTH:
                keep[i] = None
        if lon_lo < min_lon:
            for i in _WEST:
                keep[i] = None
        if lon_hi > max_lon:
            for i in _EAST:
                keep[i] = None
    shift = 52 - step * 2
    ranges = []
    last: int | None = None
    for i, cell in enumerate(keep):
        if cell is None:
            continue
        if last is not None and cell == keep[last]:
            continue
        ranges.append((cell << shift, (cell + 1) << shift))
        if i:
            last = i
    return ranges


# ------------------------------------------------------------------ reply text
def format_distance(value: float) -> bytes:
    """Four decimals, rounded as llrint(value * 10000) rounds (half to even)."""
    if value == 0:
        return b"0.0000"
    scaled = round(value * 10000.0)
    sign = b"-" if scaled < 0 else b""
    digits = b"%05d" % abs(scaled)
    return sign + digits[:-4] + b"." + digits[-4:]


def format_coordinate(value: float) -> bytes:
    """"%.17Lf" of the double, trailing zeros (and a bare '.') dropped."""
    text = b"%.17f" % value
    if b"." in text:
        text = text.rstrip(b"0").rstrip(b".")
    return b"0" if text == b"-0" else text


def _cos(x: float) -> float:
    """C's cos(): NaN for an infinite argument (Python's raises)."""
    return math.cos(x) if math.isfinite(x) else math.nan
