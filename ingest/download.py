"""Downloading a machine-readable file to the landing area, streamed to disk."""

from __future__ import annotations

import hashlib
from pathlib import Path
from urllib.parse import urlparse

import requests

from ingest.errors import UnreadableFile

USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) hpt-price-transparency/0.1"


def fetch(url: str, landing: Path, timeout: float = 60.0) -> Path:
    """Stream `url` to a file under `landing`; raise `UnreadableFile` on an HTTP failure."""
    scheme = urlparse(url).scheme
    if scheme not in {"http", "https"}:
        raise UnreadableFile(f"refused URL scheme {scheme!r}: only http and https are fetched")
    landing.mkdir(parents=True, exist_ok=True)
    name = Path(urlparse(url).path).name or "download"
    target = landing / f"{hashlib.sha256(url.encode()).hexdigest()[:12]}-{name}"
    try:
        with requests.get(
            url, stream=True, timeout=timeout, headers={"User-Agent": USER_AGENT}
        ) as response:
            if response.status_code >= 400:
                raise UnreadableFile(f"HTTP {response.status_code} for {url}")
            tmp = target.with_suffix(target.suffix + ".part")
            with tmp.open("wb") as out:
                for chunk in response.iter_content(chunk_size=1 << 20):
                    out.write(chunk)
            tmp.replace(target)
    except requests.RequestException as error:
        raise UnreadableFile(f"download failed for {url}: {type(error).__name__}") from error
    return target
