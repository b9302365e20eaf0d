"""Task images: the bytes behind a task's image URL, within limits.

What a task's ``data[<key>]`` may hold, and where its bytes come from:

- a Label Studio URL, relative (``/data/upload/3/abc-cat.jpg``, ``/data/local-files/?d=photos/cat.jpg``,
  ``/tasks/7/resolve/?fileuri=...``): fetched from the Label Studio URL with
  ``Authorization: Token <key>``;
- an absolute ``http(s)://`` URL: fetched; the key is sent only when the URL is on the Label
  Studio URL's origin (scheme, host and port), never to another host (redirects to another
  origin drop it too);
- a local path (absolute, or ``file://``): read from disk, only below one of the
  ``local_roots`` given to the server (none by default: a backend reachable over the network
  must not read any file a request names).

Bounds: at most ``max_bytes`` per image and ``timeout`` seconds per fetch (connect, each read,
and the whole transfer). Every failure is an :class:`ImageFetchError` with a one-line reason.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence
from urllib.parse import unquote, urljoin, urlsplit

from autolabel.errors import InputError
from autolabel.yamlio import excerpt

DEFAULT_MAX_BYTES = 64 * 1024 * 1024
"""Largest image file fetched (bytes)."""
DEFAULT_TIMEOUT = 30.0
"""Seconds one image fetch may take."""


class ImageFetchError(InputError):
    """A task's image cannot be fetched or read (the reason says why)."""


@dataclass(frozen=True)
class Origin:
    """Where relative image URLs point and how to authenticate there.

    Attributes:
        url: Label Studio's base URL (``http://127.0.0.1:8080``), or None when unknown.
        api_key: the token for ``Authorization: Token <key>``, or None.
    """

    url: str | None = None
    api_key: str | None = None


def _origin_of(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), port


def same_origin(a: str, b: str) -> bool:
    """Whether two absolute URLs have the same scheme, host and port."""
    return _origin_of(a) == _origin_of(b)


class ImageFetcher:
    """Reads task images (see the module docstring). Thread-safe; :meth:`close` when done.

    Args:
        timeout: seconds per image (connect, each read and the whole transfer).
        max_bytes: largest image accepted, in bytes.
        local_roots: folders whose files may be named by a local path.
        transport: an ``httpx`` transport (tests: ``httpx.MockTransport``); default: the network.
    """

    def __init__(self, timeout: float = DEFAULT_TIMEOUT, max_bytes: int = DEFAULT_MAX_BYTES,
                 local_roots: Sequence[str | Path] = (), transport: Any = None) -> None:
        import httpx

        self.timeout = float(timeout)
        self.max_bytes = int(max_bytes)
        self.local_roots = tuple(Path(r).resolve() for r in local_roots)
        # httpx drops Authorization when a redirect leaves the origin
        self._client = httpx.Client(timeout=httpx.Timeout(self.timeout), follow_redirects=True, trust_env=False,
                                    transport=transport)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> ImageFetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- sources ---------------------------------------------------------------------------

    def fetch(self, ref: object, origin: Origin) -> bytes:
        """The bytes of the image ``ref`` (a task's image value).

        Raises:
            ImageFetchError: not a string, an unsupported scheme, no Label Studio URL for a
                relative URL, an HTTP error, too large, too slow, or a local path not allowed.
        """
        if not isinstance(ref, str) or not ref.strip():
            raise ImageFetchError(f"the task's image is not a URL or path: {excerpt(ref)}")
        ref = ref.strip()
        scheme = urlsplit(ref).scheme.lower()
        if scheme == "file":
            return self._local(unquote(urlsplit(ref).path))
        if scheme in ("http", "https"):
            key = origin.api_key if origin.url and same_origin(ref, origin.url) else None
            return self._http(ref, key)
        if scheme:
            raise ImageFetchError(f"image URL scheme {scheme!r} is not supported (http, https, file, or a Label Studio path)")
        if self.local_roots and Path(ref).is_absolute() and self._under_root(Path(ref)) is not None:
            return self._local(ref)
        if ref.startswith("/"):
            if not origin.url:
                raise ImageFetchError(f"{excerpt(ref, 80)} is a Label Studio URL, and the backend knows no Label Studio URL "
                                      "(give --label-studio-url or LABEL_STUDIO_URL)")
            return self._http(urljoin(origin.url.rstrip("/") + "/", ref.lstrip("/")), origin.api_key)
        raise ImageFetchError(f"{excerpt(ref, 80)} is neither a URL nor an absolute path")

    def _under_root(self, path: Path) -> Path | None:
        try:
            real = path.resolve()
        except (OSError, RuntimeError):
            return None
        return real if any(real == r or r in real.parents for r in self.local_roots) else None

    def _local(self, path: str) -> bytes:
        if not self.local_roots:
            raise ImageFetchError(f"{excerpt(path, 80)}: reading local files is off (start the server with --local-root DIR)")
        real = self._under_root(Path(path))
        if real is None:
            raise ImageFetchError(f"{excerpt(path, 80)} is not below a --local-root folder")
        try:
            with open(real, "rb") as f:
                data = f.read(self.max_bytes + 1)
        except OSError as e:
            raise ImageFetchError(f"{excerpt(path, 80)}: cannot read it ({e.strerror or e})") from None
        if len(data) > self.max_bytes:
            raise ImageFetchError(f"{excerpt(path, 80)} is larger than {self.max_bytes} bytes")
        return data

    def _http(self, url: str, api_key: str | None) -> bytes:
        import httpx

        headers = {"Authorization": f"Token {api_key}"} if api_key else {}
        deadline = time.monotonic() + self.timeout
        shown = excerpt(url, 120)
        try:
            with self._client.stream("GET", url, headers=headers) as r:
                if r.status_code != 200:
                    hint = " (check --api-key / LABEL_STUDIO_API_KEY)" if r.status_code in (401, 403) else ""
                    raise ImageFetchError(f"GET {shown}: HTTP {r.status_code}{hint}")
                declared = r.headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > self.max_bytes:
                    raise ImageFetchError(f"GET {shown}: {declared} bytes, more than {self.max_bytes}")
                chunks: list[bytes] = []
                size = 0
                for chunk in r.iter_bytes():
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise ImageFetchError(f"GET {shown}: more than {self.max_bytes} bytes")
                    if time.monotonic() > deadline:
                        raise ImageFetchError(f"GET {shown}: took longer than {self.timeout:g} s")
                    chunks.append(chunk)
                return b"".join(chunks)
        except httpx.TimeoutException:
            raise ImageFetchError(f"GET {shown}: no answer within {self.timeout:g} s") from None
        except httpx.HTTPError as e:
            raise ImageFetchError(f"GET {shown}: {type(e).__name__}: {excerpt(str(e), 200)}") from None
