"""`python -m llm_observatory.core.healthcheck URL`: exit 0 when URL answers 2xx.

Compose healthchecks use it: slim images have neither curl nor wget.
"""

from __future__ import annotations

import sys
import urllib.error
import urllib.request


def main(argv: list[str]) -> int:
    url = argv[1] if len(argv) > 1 else "http://127.0.0.1:9090/health"
    try:
        with urllib.request.urlopen(url, timeout=4) as response:  # noqa: S310 - local URL
            return 0 if 200 <= response.status < 300 else 1
    except (urllib.error.URLError, OSError) as exc:
        print(f"unhealthy: {url}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
