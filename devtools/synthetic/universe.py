"""A local "internet" of fictional hospitals: websites with `cms-hpt.txt`, their files in all
three layouts, a matching source registry, and a few hospitals that break the usual ways.

`generate(folder, base_url)` writes:

* `sites/<site>/cms-hpt.txt` and `sites/<site>/files/…` — what each website serves;
* `universe.json` — how the demo server misbehaves per path (captcha, 503s, redirects,
  gzip transfer encoding, Content-Disposition, a transfer cut once);
* `sources.csv` — the registry of every hospital, for `hpt run --sources`.

`facilities=N` (`hpt demo generate --facilities N`) adds healthy hospitals past the 25
hand-made ones until the universe holds N (`scaled`: deterministic by seed).
"""

from __future__ import annotations

import gzip
import json
import math
import os
import random
import shutil
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devtools.synthetic.json_file import write_json
from devtools.synthetic.model import LayoutWriter, make_hospital
from devtools.synthetic.tall import write_tall
from devtools.synthetic.wide import write_wide
from ingest.registry import SourceEntry, write_sources

STAMP = 1_767_225_600  # 2026-01-01T00:00:00Z
BIG_BYTES = 100_000_000
#: Layout → (writer, file extension).
WRITERS: dict[str, tuple[LayoutWriter, str]] = {
    "tall": (write_tall, "csv"), "json": (write_json, "json"), "wide": (write_wide, "csv"),
}  # fmt: skip


@dataclass(frozen=True)
class DemoHospital:
    """One hospital of the universe and how its website behaves."""

    seed: int
    name: str
    state: str
    city: str
    zip: str
    site: str
    ccn: str = ""
    layout: str = "tall"
    version: str = "3.0.0"
    n_items: int = 300
    target_bytes: int | None = None
    pathologies: tuple[str, ...] = ()
    price_level: float | None = None
    system: str = ""
    direct: bool = False  # registry names the file URL, no cms-hpt.txt lookup
    route: dict[str, Any] = field(default_factory=dict)  # server behaviour of its file
    broken: str = ""  # "captcha", "dead", "truncated", "nonconformant", "no_txt", "prose", "scheme"


# fmt: off
HOSPITALS: tuple[DemoHospital, ...] = (
    # California — a system site listing three hospitals, each with its own file.
    DemoHospital(101, "Valley Fresno Medical Center", "CA", "Fresno", "93721", "valleyhealth",
                 "050101", "tall", "3.0.0", 400, system="Valley Health", price_level=0.7),
    DemoHospital(102, "Valley Sacramento Hospital", "CA", "Sacramento", "95814", "valleyhealth",
                 "050102", "json", "3.0.0", 600, system="Valley Health", price_level=1.4,
                 route={"gzip": True}),
    DemoHospital(103, "Valley San Diego Community Hospital", "CA", "San Diego", "92101",
                 "valleyhealth", "050103", "wide", "2.2.0", 300, system="Valley Health",
                 price_level=2.6),
    DemoHospital(104, "Sierra Foothills Hospital", "CA", "Auburn", "95603", "sierrafoothills",
                 "050104", "tall", "3.0.0", target_bytes=5_000_000, price_level=1.1),
    DemoHospital(105, "Central Coast Medical Center", "CA", "San Luis Obispo", "93401",
                 "centralcoast", "050105", "tall", "3.0.0", 700,
                 pathologies=("cp1252", "upper_enums", "nine_nines"), price_level=2.2),
    DemoHospital(106, "Redwood Community Hospital", "CA", "Eureka", "95501", "redwood",
                 "", "json", "3.0.0", 250, route={"moved_from": "old-prices.json"},
                 price_level=0.9),
    # Texas — a system publishing ONE file for three locations, in a UTF-16 cms-hpt.txt,
    # behind a download endpoint that redirects to an extension-less CDN URL.
    DemoHospital(201, "Lone Star Health System", "TX", "Houston", "77002", "lonestar",
                 "450201", "tall", "2.2.0", 1500, system="Lone Star Health", price_level=1.8,
                 route={"endpoint": "download.ashx", "disposition":
                        "74-1234567_lone-star-health_standardcharges.csv"}),
    DemoHospital(202, "Austin Hill Country Hospital", "TX", "Austin", "78701", "hillcountry",
                 "450202", "tall", "3.0.0", 2000, route={"cut_once": 0.4}, price_level=1.0),
    DemoHospital(203, "Brazos Valley Medical Center", "TX", "Bryan", "77803", "brazos",
                 "450203", "json", "3.0.0", 350, direct=True, price_level=2.8),
    DemoHospital(204, "Rio Grande Regional Hospital", "TX", "McAllen", "78501", "riogrande",
                 "450204", broken="scheme"),
    # New York — a system site with comments, blank lines and scheme-less URLs.
    DemoHospital(301, "Hudson Albany Medical Center", "NY", "Albany", "12207", "hudsoncare",
                 "330301", "tall", "3.0.0", target_bytes=25_000_000, system="Hudson Care",
                 price_level=1.6),
    DemoHospital(302, "Hudson Troy Hospital", "NY", "Troy", "12180", "hudsoncare",
                 "330302", "json", "2.2.0", 300, system="Hudson Care", price_level=1.2),
    DemoHospital(303, "Catskill Mountain Hospital", "NY", "Kingston", "12401", "catskill",
                 "330303", "wide", "3.0.0", 400, price_level=0.8),
    DemoHospital(304, "Long Island Shore Hospital", "NY", "Hempstead", "11550", "lishore",
                 "", "tall", "3.0.0", 900, route={"gzip": True}, price_level=2.4),
    # Florida.
    DemoHospital(401, "Gulf Coast Regional Hospital", "FL", "Tampa", "33602", "gulfcoast",
                 "100401", "tall", "3.0.0", 800,
                 pathologies=("bom", "crlf", "dollar_signs"), price_level=1.3),
    DemoHospital(402, "Bayfront Community Hospital", "FL", "St. Petersburg", "33701",
                 "bayfront", "100402", "wide", "3.0.0", 500, price_level=0.65),
    DemoHospital(403, "Palm Harbor Medical Center", "FL", "Palm Harbor", "34683", "palmharbor",
                 "100403", "json", "3.0.0", 200, route={"flaky": 2}, price_level=1.9),
    DemoHospital(404, "Sunshine Pines Hospital", "FL", "Ocala", "34471", "sunshinepines",
                 "100404", broken="captcha"),
    DemoHospital(405, "Everglades Medical Center", "FL", "Naples", "34102", "everglades",
                 "100405", broken="no_txt"),
    # Pennsylvania.
    DemoHospital(501, "Erie Lakeshore Hospital", "PA", "Erie", "16501", "erielakeshore",
                 "390501", "tall", "3.0.0", 45, price_level=1.5),
    DemoHospital(502, "Keystone Valley Medical Center", "PA", "Harrisburg", "17101", "keystone",
                 "390502", "wide", "2.2.0", 350, price_level=2.0, route={"zip": True}),
    DemoHospital(503, "Allegheny Ridge Hospital", "PA", "Pittsburgh", "15222", "allegheny",
                 "390503", broken="dead"),
    DemoHospital(504, "Susquehanna General Hospital", "PA", "Williamsport", "17701",
                 "susquehanna", "390504", broken="nonconformant"),
    DemoHospital(505, "Three Rivers Community Hospital", "PA", "Pittsburgh", "15212",
                 "threerivers", "390505", "tall", "3.0.0", 600, broken="truncated"),
    DemoHospital(506, "Laurel Highlands Hospital", "PA", "Johnstown", "15901", "laurel",
                 "390506", broken="prose"),
)
# fmt: on
LONE_STAR_LOCATIONS = (
    "Lone Star Health System",
    "Lone Star Katy Hospital",
    "Lone Star Sugar Land Hospital",
)  # fmt: skip
CAPTCHA = b"""<!DOCTYPE html>
<html><head><title>Just a moment...</title></head>
<body><h1>Checking your browser before accessing the site.</h1>
<p>Please enable JavaScript and cookies to continue.</p></body></html>
"""
NONCONFORMANT = "Charge Code,Description,Price\n1001,ROOM AND BOARD,2400.00\n1002,CBC,45.00\n"


#: Seed of the first hospital `scaled` adds (the hand-made ones use 101–506).
SCALED_SEED = 1000


def scaled(count: int) -> tuple[DemoHospital, ...]:
    """`count` healthy hospitals beyond the hand-made ones, the same for the same count.

    Mixed as real files are: mostly tall CSV, then wide CSV and JSON; one in five on template
    2.2.0; sizes log-normal around 400 items (60–3,000: a long tail); some sites list a
    system's 2–4 hospitals; a few files served gzip-encoded or zipped, a few named directly
    in the registry."""
    found: list[DemoHospital] = []
    system = ""
    site = ""
    members = 0
    for index in range(count):
        seed = SCALED_SEED + index
        rng = random.Random(seed)
        base = make_hospital(seed)
        if members == 0:  # a new website: one hospital, or the first of a system
            site = f"hospital{seed}"
            members = rng.choice((1, 1, 1, 1, 2, 3, 4))
            system = f"{base.name.split()[0]} Health {seed}" if members > 1 else ""
        members -= 1
        roll = rng.random()
        route: dict[str, Any] = (
            {"gzip": True} if roll < 0.1 else {"zip": True} if roll < 0.15 else {}
        )
        found.append(DemoHospital(
            seed, f"{base.name} of {base.city} {seed}", base.state, base.city, base.zip, site,
            f"{1 + index % 50:02d}{6000 + index:04d}",
            rng.choices(("tall", "wide", "json"), weights=(45, 30, 25))[0],
            "2.2.0" if rng.random() < 0.2 else "3.0.0",
            min(3000, max(60, round(math.exp(rng.gauss(math.log(400), 0.8))))),
            price_level=base.price_level, system=system, route=route,
            direct=rng.random() < 0.05,
        ))  # fmt: skip
    return tuple(found)


def file_name(h: DemoHospital, ext: str) -> str:
    """CMS convention: `<EIN>_<hospital-name>_standardcharges.<ext>`."""
    return f"{20_000_000 + h.seed * 7919:09d}_{h.site}-{h.seed}_standardcharges.{ext}"


def _write_file(h: DemoHospital, target: Path, big: bool) -> None:
    layout_writer, _ = WRITERS[h.layout]
    hospital = make_hospital(
        h.seed, name=h.name, state=h.state, city=h.city, zip_code=h.zip, price_level=h.price_level
    )
    wanted = BIG_BYTES if big and h.seed == 104 else h.target_bytes
    layout_writer.sample(target, n_items=h.n_items, target_bytes=wanted, version=h.version,
                         seed=h.seed, pathologies=h.pathologies, hospital=hospital)  # fmt: skip


def _txt_block(name: str, url: str, site: str) -> str:
    domain = site.rstrip("/").rsplit("/", 1)[-1]
    return (
        f"location-name: {name}\nsource-page-url: {site}price-transparency\nmrf-url: {url}\n"
        f"contact-name: Pricing Office\ncontact-email: prices@{domain}.example\n"
    )


def generate(
    folder: Path,
    base_url: str,
    *,
    big: bool = False,
    only: Iterable[int] | None = None,
    facilities: int | None = None,
) -> list[SourceEntry]:
    """Write the universe under `folder` (replacing an earlier one); return the registry.

    `only` keeps the hospitals with these seeds (a quick universe for tests); `facilities`
    adds healthy hospitals (`scaled`) until the universe holds that many."""
    extra = scaled(max(0, (facilities or 0) - len(HOSPITALS)))
    chosen = [h for h in (*HOSPITALS, *extra) if only is None or h.seed in set(only)]
    base = base_url.rstrip("/")
    sites = folder / "sites"
    if sites.exists():
        shutil.rmtree(sites)
    routes: dict[str, dict[str, Any]] = {}
    txt: dict[str, list[str]] = {}
    entries: list[SourceEntry] = []
    ext_of = {layout: ext for layout, (_, ext) in WRITERS.items()}
    for h in chosen:
        site_url = f"{base}/{h.site}/"
        files = sites / h.site / "files"
        files.mkdir(parents=True, exist_ok=True)
        name = file_name(h, ext_of.get(h.layout, "csv"))
        path = f"/{h.site}/files/{name}"
        route = dict(h.route)
        if h.broken in ("", "truncated"):
            _write_file(h, files / name, big)
            os.utime(files / name, (STAMP + h.seed * 3600,) * 2)  # zip keeps it inside
        if h.broken == "truncated":  # a replacement file cut mid-row
            data = (files / name).read_bytes()
            (files / name).write_bytes(data[: int(len(data) * 0.6)])
        elif h.broken == "nonconformant":
            (files / name).write_text(NONCONFORMANT, encoding="utf-8")
        elif h.broken == "captcha":
            route["html"] = True
        if route.pop("zip", False):  # zipped by hand on a Mac: `__MACOSX/` junk included
            inner = files / name
            name = f"{inner.stem}.zip"
            path = f"/{h.site}/files/{name}"
            with zipfile.ZipFile(files / name, "w", zipfile.ZIP_DEFLATED) as archive:
                archive.write(inner, inner.name)
                archive.writestr(
                    zipfile.ZipInfo(f"__MACOSX/._{inner.name}", (2026, 1, 1, 0, 0, 0)),
                    b"\x00\x05\x16\x07" + b"\x00" * 60,
                )
            inner.unlink()
        if route.pop("gzip", False):  # served with Content-Encoding: gzip when accepted
            with (
                (files / name).open("rb") as src,
                gzip.GzipFile(f"{files / name}.gzip", "wb", mtime=0) as out,
            ):
                shutil.copyfileobj(src, out)
            route["gzip"] = f"{path}.gzip"
        url = f"{base}{path}"
        if "endpoint" in route:  # /site/download.ashx → 302 → extension-less CDN path
            cdn = f"/{h.site}/cdn/{h.seed:08x}"
            (sites / h.site / "cdn").mkdir(exist_ok=True)
            shutil.move(files / name, sites / h.site / "cdn" / f"{h.seed:08x}")
            routes[f"/{h.site}/{route['endpoint']}"] = {"redirect": cdn}
            routes[cdn] = {"disposition": route.pop("disposition")}
            url = f"{base}/{h.site}/{route.pop('endpoint')}?id={h.seed}"
        if "moved_from" in route:
            routes[f"/{h.site}/{route.pop('moved_from')}"] = {"redirect": path, "status": 301}
            url = f"{base}/{h.site}/{h.route['moved_from']}"
        if route:
            routes[path] = route
        listed = url
        if h.site == "hudsoncare":
            listed = url.split("://", 1)[1]  # no scheme, as seen in the wild
        if h.broken == "dead":
            listed = f"{base}/{h.site}/files/removed-2024_standardcharges.csv"
        if h.broken == "scheme":
            listed = f"file:///C:/Shared/Finance/{h.site}_standardcharges.csv"
        if h.site == "lonestar":
            txt[h.site] = [_txt_block(n, listed, site_url) for n in LONE_STAR_LOCATIONS]
        elif h.broken == "prose":
            txt[h.site] = [
                "Price Transparency\n\nOur standard charges are available on our website. "
                "Please visit the Patients & Visitors section or call the billing office.\n"
            ]
        elif h.broken != "no_txt":
            txt.setdefault(h.site, []).append(_txt_block(h.name, listed, site_url))
        entries.append(
            SourceEntry(
                name=h.name, facility_id=h.ccn, state=h.state, city=h.city, zip=h.zip,
                website="" if h.direct else site_url, mrf_url=url if h.direct else "",
                system=h.system,
            )
        )  # fmt: skip
    for site, blocks in txt.items():
        _write_txt(sites / site / "cms-hpt.txt", site, blocks)
    # Fixed modification times: the same universe generated again has the same ETags and
    # Last-Modified, so a new `hpt demo generate` is not a change upstream.
    for seed, site_dir in ((h.seed, sites / h.site) for h in chosen):
        for file in site_dir.rglob("*"):
            os.utime(file, (STAMP + seed * 3600,) * 2)
    (folder / "universe.json").write_text(json.dumps({"routes": routes}, indent=1))
    write_sources(folder / "sources.csv", entries)
    return entries


def _write_txt(path: Path, site: str, blocks: list[str]) -> None:
    """Each site's cms-hpt.txt, some in the shapes real sites publish."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if site == "lonestar":  # UTF-16 with a BOM, CRLF
        path.write_bytes("\r\n".join(blocks).replace("\n", "\r\n").encode("utf-16"))
    elif site == "hudsoncare":  # a comment, blank lines inside blocks, no scheme in URLs
        text = "# Hudson Care price transparency files\n\n" + "\n\n\n".join(
            b.replace("\nmrf-url", "\n\nmrf-url") for b in blocks
        )
        path.write_text(text, encoding="utf-8")
    else:
        path.write_text("\n".join(blocks), encoding="utf-8")
