"""HTTP for IIIF imports, done properly with requests + urllib3's Retry:

- timeouts on connecting and reading (`http_timeout_s`), a clear User-Agent;
- retries with exponential backoff on 429 and 5xx, honouring Retry-After;
- an on-disk cache of fetched images under `<data_dir>/iiif-cache`, keyed by URL, with the
  server's validators (ETag, Last-Modified): a re-import asks "changed since?" and a 304 costs no
  body; without validators a cached image is used as it is;
- bodies checked: an image must say it is one (Content-Type image/*) and start like one.
Every failure is one FetchError naming the URL and the reason.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from pathlib import Path

from gallery.core.version import __version__
from gallery.core.errors import GalleryError
from gallery.core.files import write_atomically

USER_AGENT = f"PortraitGallery/{__version__} (IIIF import; +https://github.com/portrait-gallery)"
RETRY_STATUSES = (429, 500, 502, 503, 504)
IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG", b"II*\x00", b"MM\x00*", b"RIFF", b"BM", b"GIF8")
MAX_JSON_BYTES = 20_000_000


class FetchError(GalleryError):
    """A document or an image that could not be fetched."""


@dataclass(frozen=True)
class Fetched:
    path: Path  # the cached file
    from_cache: bool  # no body was downloaded (304, or cached without validators)


def cache_dir_of(settings) -> Path:
    """The collection's cache of fetched images."""
    return Path(settings.data_dir) / "iiif-cache"


def cached_image(cache_dir: Path, url: str) -> Path:
    """Where the cache keeps the image fetched from `url`."""
    key = hashlib.sha256(url.encode()).hexdigest()
    return Path(cache_dir) / key[:2] / f"{key}.img"


class Fetcher:
    def __init__(self, cache_dir: Path, timeout_s: float = 30.0, retries: int = 3, backoff_s: float = 0.5,
                 pool: int = 8):
        import requests
        from requests.adapters import HTTPAdapter
        from urllib3.util.retry import Retry

        self.cache_dir = Path(cache_dir)
        self.timeout = timeout_s
        self.session = requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT
        retry = Retry(total=retries, connect=retries, read=retries, status=retries, backoff_factor=backoff_s,
                      status_forcelist=RETRY_STATUSES, allowed_methods=frozenset({"GET"}),
                      respect_retry_after_header=True, raise_on_status=False)
        adapter = HTTPAdapter(max_retries=retry, pool_connections=pool, pool_maxsize=pool)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.downloads = 0  # bodies downloaded (for progress and tests)
        self._lock = threading.Lock()

    def close(self) -> None:
        self.session.close()

    def _get(self, url: str, headers: dict | None = None):
        import requests

        try:
            return self.session.get(url, headers=headers or {}, timeout=self.timeout, stream=True)
        except requests.exceptions.RetryError as err:
            raise FetchError(f"{url}: gave up after retries ({_reason(err)})") from None
        except requests.exceptions.RequestException as err:
            # a read timeout retried to the end surfaces as a ConnectionError naming it
            if isinstance(err, requests.exceptions.Timeout) or "timed out" in str(err):
                raise FetchError(f"{url}: no answer within {self.timeout:g} s (http_timeout_s), after retries") from None
            raise FetchError(f"{url}: {_reason(err)}") from None

    def json(self, url: str) -> dict:
        """A JSON document from a URL, or from a local file path."""
        if not url.startswith(("http://", "https://")):
            try:
                return json.loads(Path(url).read_text(encoding="utf-8"))
            except OSError as err:
                raise FetchError(f"{url}: {err.strerror or err}") from None
            except ValueError as err:
                raise FetchError(f"{url}: not valid JSON ({err})") from None
        response = self._get(url, {"Accept": "application/ld+json, application/json"})
        with response:
            if response.status_code != 200:
                raise FetchError(f"{url}: HTTP {response.status_code}")
            body = response.raw.read(MAX_JSON_BYTES + 1, decode_content=True)
        if len(body) > MAX_JSON_BYTES:
            raise FetchError(f"{url}: the document is larger than {MAX_JSON_BYTES // 1_000_000} MB")
        try:
            return json.loads(body)
        except ValueError as err:
            raise FetchError(f"{url}: not valid JSON ({err})") from None

    def image(self, url: str, max_bytes: int) -> Fetched:
        """The image at `url`, through the cache."""
        body_path = cached_image(self.cache_dir, url)
        meta_path = body_path.with_suffix(".json")
        meta = json.loads(meta_path.read_text()) if meta_path.exists() and body_path.exists() else None
        headers = {"Accept": "image/jpeg, image/png, image/*;q=0.8"}
        if meta is not None:
            if not (meta.get("etag") or meta.get("last_modified")):
                return Fetched(body_path, True)
            if meta.get("etag"):
                headers["If-None-Match"] = meta["etag"]
            if meta.get("last_modified"):
                headers["If-Modified-Since"] = meta["last_modified"]
        response = self._get(url, headers)
        with response:
            if response.status_code == 304 and meta is not None:
                return Fetched(body_path, True)
            if response.status_code != 200:
                raise FetchError(f"{url}: HTTP {response.status_code}")
            kind = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
            if not kind.startswith("image/"):
                raise FetchError(f"{url}: the server answered with {kind or 'no content type'}, not an image")
            body = response.raw.read(max_bytes + 1, decode_content=True)
        if len(body) > max_bytes:
            raise FetchError(f"{url}: the image is larger than {max_bytes / 1e6:.0f} MB")
        if not body.startswith(IMAGE_MAGIC):
            raise FetchError(f"{url}: the body is not an image file (it says {kind})")
        write_atomically(body_path, body)
        write_atomically(meta_path, json.dumps({"url": url, "etag": response.headers.get("ETag"),
                                                "last_modified": response.headers.get("Last-Modified"),
                                                "content_type": kind}).encode())
        with self._lock:
            self.downloads += 1
        return Fetched(body_path, False)


def _reason(err: Exception) -> str:
    text = str(err)
    for marker in ("Caused by ", "Max retries exceeded"):
        if marker in text:
            return text[text.index(marker):][:200]
    return text[:200]
