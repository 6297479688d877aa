"""A warehouse published at a URL, downloaded once where the app runs (the Community Cloud path).

Set ``ILLUSION_WAREHOUSE_URL`` (environment or Streamlit secrets) to an http(s) URL of a built file, and
optionally ``ILLUSION_WAREHOUSE_SHA256``. The file is downloaded to the configured warehouse path,
written to a temporary name and renamed into place only when complete (and when its sha256 matches), so a
broken download never replaces a good file. A small sidecar ``<path>.source.json`` remembers which URL and
hash the local copy came from: a new URL or hash downloads again; the same one is used as it is.
Standard library only, so it runs wherever the dashboard runs.
"""
from __future__ import annotations

import hashlib
import json
import os
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

CHUNK = 1 << 20


class DownloadError(Exception):
    """The URL could not be fetched, or the file does not match the expected hash (one-line message)."""


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".source.json")


def is_current(path, url: str, sha256: str | None = None) -> bool:
    """True when ``path`` exists and was downloaded from ``url`` (with ``sha256``, when one is given)."""
    path = Path(path)
    try:
        source = json.loads(_sidecar(path).read_text())
    except (OSError, ValueError):
        return False
    return path.exists() and source.get("url") == url and (not sha256 or source.get("sha256") == sha256.lower())


def download(url: str, path, sha256: str | None = None, progress: Callable[[int, int | None], None] | None = None,
             timeout: float = 60.0) -> Path:
    """Fetch ``url`` to ``path`` atomically; ``progress(bytes_done, bytes_total or None)`` is called per chunk."""
    path = Path(path)
    if not url.startswith(("http://", "https://")):
        raise DownloadError(f"ILLUSION_WAREHOUSE_URL {url!r}: expected an http:// or https:// URL")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.download-{os.getpid()}-{threading.get_ident()}")
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp, open(tmp, "wb") as out:
            total = resp.headers.get("Content-Length")
            total = int(total) if total and total.isdigit() else None
            done = 0
            while block := resp.read(CHUNK):
                out.write(block)
                digest.update(block)
                done += len(block)
                if progress:
                    progress(done, total)
        if total is not None and done != total:
            raise DownloadError(f"{url}: download ended after {done} of {total} bytes")
        got = digest.hexdigest()
        if sha256 and got != sha256.lower():
            raise DownloadError(f"{url}: sha256 {got} does not match ILLUSION_WAREHOUSE_SHA256 {sha256.lower()}")
        os.replace(tmp, path)
        _sidecar(path).write_text(json.dumps({"url": url, "sha256": got}) + "\n")
    except urllib.error.HTTPError as e:
        raise DownloadError(f"{url}: download failed (HTTP {e.code})") from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", None) or e
        raise DownloadError(f"{url}: download failed ({reason})") from None
    finally:
        tmp.unlink(missing_ok=True)
    return path
