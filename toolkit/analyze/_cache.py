"""The analysis cache: per-file facts keyed on content, and the last full result per tree.

Three files, all outside the analysed tree (``~/.cache/toolkit/analyze`` unless
``--cache-dir`` or ``TOOLKIT_CACHE_DIR`` says otherwise):

* ``index-<root>.pickle``: size, modification time and content digest of every file; a file
  whose size and mtime are unchanged keeps its digest without being read (as git's index).
* ``facts-<root>.pickle``: every file's ``ModuleFacts`` with the digest of the bytes they came
  from; a changed file is re-parsed, an unchanged one is not.
* ``result-<root>.pickle``: the last complete result and the key it was computed for (digest
  of every file plus the options); an unchanged tree with the same options is answered from
  here without parsing, resolving or clustering again.

A cache written by another toolkit version, or damaged, is ignored and rewritten.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import sys
import tempfile
from pathlib import Path
from typing import Any

from toolkit._errors import UsageError
from toolkit._version import __version__

# Bump when ModuleFacts or the analysis changes meaning, so old caches are not trusted.
CACHE_FORMAT = 4


def default_cache_dir() -> Path:
    env = os.environ.get("TOOLKIT_CACHE_DIR")
    if env:
        return Path(env) / "analyze"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "toolkit" / "analyze"


def is_inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return True


class AnalysisCache:
    """Reads and writes the two cache files of one source root."""

    def __init__(self, directory: Path, root: Path) -> None:
        if is_inside(directory, root):
            raise UsageError(
                f"cache directory {directory} is inside the analysed tree {root}; choose another"
            )
        self.directory = directory
        tag = hashlib.blake2b(str(root.resolve()).encode(), digest_size=8).hexdigest()
        self._stamp = f"{CACHE_FORMAT}:{__version__}:{sys.version_info[:2]}"
        self.facts_file = directory / f"facts-{tag}.pickle"
        self.index_file = directory / f"index-{tag}.pickle"
        self.result_file = directory / f"result-{tag}.pickle"

    def _load(self, path: Path) -> Any:
        try:
            with path.open("rb") as handle:
                stamp, payload = pickle.load(handle)
        except (
            OSError,
            pickle.UnpicklingError,
            EOFError,
            ValueError,
            TypeError,
            AttributeError,
            ImportError,
        ):
            return None
        return payload if stamp == self._stamp else None

    def _store(self, path: Path, payload: Any) -> None:
        """Atomic write (temp file + rename) so a crash never leaves a half-written cache."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-")
            with os.fdopen(fd, "wb") as handle:
                pickle.dump((self._stamp, payload), handle, protocol=pickle.HIGHEST_PROTOCOL)
            Path(tmp).replace(path)
        except OSError:
            return  # a cache that cannot be written only costs speed

    def load_facts(self) -> dict[str, Any]:
        payload = self._load(self.facts_file)
        return payload if isinstance(payload, dict) else {}

    def store_facts(self, facts: dict[str, Any]) -> None:
        self._store(self.facts_file, facts)

    def load_index(self) -> dict[str, tuple[int, int, str]]:
        """rel path -> (size, mtime_ns, content digest) as seen on the last run."""
        payload = self._load(self.index_file)
        return payload if isinstance(payload, dict) else {}

    def store_index(self, index: dict[str, tuple[int, int, str]]) -> None:
        self._store(self.index_file, index)

    def load_result(self, key: str) -> Any:
        payload = self._load(self.result_file)
        if isinstance(payload, tuple) and len(payload) == 2 and payload[0] == key:
            return payload[1]
        return None

    def store_result(self, key: str, result: Any) -> None:
        self._store(self.result_file, (key, result))
