"""Which code produced a warehouse: the git commit when there is one, else a hash of the sources."""
from __future__ import annotations

import functools
import hashlib
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def source_hash(*relpaths: str) -> str:
    """Hash of the named source files (paths relative to the project root), for stage invalidation."""
    h = hashlib.sha256()
    for rel in sorted(relpaths):
        h.update(rel.encode())
        h.update((ROOT / rel).read_bytes())
    return h.hexdigest()[:16]


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    try:
        sha = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short=12", "HEAD"],
                             capture_output=True, text=True, timeout=5)
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5)
        if sha.returncode == 0:
            return sha.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.TimeoutExpired):
        pass
    files = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "pipeline").rglob("*.py"))
    return "src-" + source_hash(*files)
