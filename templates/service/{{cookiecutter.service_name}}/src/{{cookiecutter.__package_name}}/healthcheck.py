"""The container health check: exit 0 when ``/readyz`` answers 200, else 1.

Slim images have no curl, so the check is Python; it uses only ``socket`` (no urllib, which
imports much of the standard library) so each run costs a few milliseconds of CPU, which
matters when Docker runs it every couple of seconds in every replica. Readiness, not
liveness, is checked: Docker's single "healthy" state is what Compose ``--wait``, Swarm's
routing and the gateway act on, and a replica that is starting or draining should not get
traffic.
"""

from __future__ import annotations

import os
import socket
import sys


def check(host: str, port: int, path: str = "/readyz", timeout_s: float = 2.0) -> bool:
    """True if ``GET path`` on ``host:port`` answers with status 200 within ``timeout_s``."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as conn:
            conn.sendall(f"GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n".encode("ascii"))
            status_line = conn.makefile("rb").readline()
    except OSError:
        return False
    parts = status_line.split()
    return len(parts) >= 2 and parts[1] == b"200"


def main() -> int:
    port = int(os.environ.get("PORT", "8000"))
    return 0 if check("127.0.0.1", port) else 1


if __name__ == "__main__":
    sys.exit(main())
