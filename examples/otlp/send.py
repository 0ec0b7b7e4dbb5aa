#!/usr/bin/env python3
"""Send the sample OTLP/JSON requests of this directory, with timestamps of now.

    python3 examples/otlp/send.py                    # all three files to localhost:4318
    python3 examples/otlp/send.py traces.json        # one of them
    python3 examples/otlp/send.py --print logs.json  # the request body, for curl

Timestamps in the files are placeholders: "{{now}}", "{{now-8.950s}}", "{{now-10m}}"
(units ms, s, m, h; + or -), replaced by nanoseconds since the epoch relative to the
moment of sending, so the data lands in the last minutes of every time-filtered view.

Trace and span ids are the same in all three files (logs and metric exemplars point at
the trace's spans). When sending, each run gives them fresh random values, the same
ones in every file of the run, so each run is a trace of its own; --keep-ids sends the
ids as written. --print always prints them as written, so separate curl commands stay
correlated.

Only the standard library: any python3 runs it.
"""

from __future__ import annotations

import argparse
import re
import secrets
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
# File -> OTLP/HTTP path.
SIGNALS = {"traces.json": "/v1/traces", "metrics.json": "/v1/metrics", "logs.json": "/v1/logs"}
DEFAULT_ENDPOINT = "http://localhost:4318"

PLACEHOLDER = re.compile(r"\{\{now(?:([+-])(\d+(?:\.\d+)?)(ms|s|m|h))?\}\}")
UNIT_NS = {"ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}
ID_FIELD = re.compile(r'"(traceId|spanId|parentSpanId)":\s*"([0-9a-fA-F]+)"')
TRACE_ID = re.compile(r'"traceId":\s*"([0-9a-fA-F]{32})"')


def fill_times(text: str, now_ns: int) -> str:
    """Every {{now±N unit}} placeholder as nanoseconds since the epoch."""

    def replace(match: re.Match[str]) -> str:
        sign, amount, unit = match.groups()
        if sign is None:
            return str(now_ns)
        # Decimal arithmetic on the digits: no float rounding of nanoseconds.
        whole, _, fraction = amount.partition(".")
        scale = UNIT_NS[unit]
        offset = int(whole) * scale + int(fraction or "0") * scale // 10 ** len(fraction)
        return str(now_ns + offset if sign == "+" else now_ns - offset)

    return PLACEHOLDER.sub(replace, text)


def fresh_ids(texts: list[str]) -> tuple[list[str], dict[str, str]]:
    """The texts with every trace/span id replaced by a random one of the same length,
    consistently across the texts; and the mapping used (old -> new)."""
    mapping: dict[str, str] = {}

    def replace(match: re.Match[str]) -> str:
        field, old = match.groups()
        new = mapping.setdefault(old.lower(), secrets.token_hex(len(old) // 2))
        return f'"{field}": "{new}"'

    return [ID_FIELD.sub(replace, text) for text in texts], mapping


def render(name: str, now_ns: int | None = None) -> str:
    """One sample file's request body, timestamps filled in, ids as written."""
    if name not in SIGNALS:
        raise SystemExit(f"unknown sample {name!r}: choose from {', '.join(SIGNALS)}")
    text = (HERE / name).read_text(encoding="utf-8")
    return fill_times(text, time.time_ns() if now_ns is None else now_ns)


def post(url: str, body: str) -> tuple[int, str]:
    """POST an OTLP/JSON body; (HTTP status, answer). Status 0: nothing answered."""
    if not url.startswith(("http://", "https://")):
        raise SystemExit(f"--endpoint must be an http:// or https:// URL, not {url!r}")
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked above
        url, data=body.encode("utf-8"), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
            return answer.status, answer.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode("utf-8", "replace")
    except OSError as error:  # refused, unresolvable, timed out
        reason = getattr(error, "reason", error)
        return 0, f"no answer ({reason}); is the stack up? (invoke up)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", help=f"samples to send (default: {' '.join(SIGNALS)})")
    parser.add_argument(
        "--endpoint", default=DEFAULT_ENDPOINT, help=f"OTLP/HTTP base URL ({DEFAULT_ENDPOINT})"
    )
    parser.add_argument("--print", action="store_true", help="print one file's body, send nothing")
    parser.add_argument("--keep-ids", action="store_true", help="send the ids as written")
    args = parser.parse_args(argv)
    names = [Path(name).name for name in args.files] or list(SIGNALS)

    if args.print:
        if len(names) != 1:
            parser.error("--print takes exactly one file")
        sys.stdout.write(render(names[0]))
        return 0

    now_ns = time.time_ns()
    bodies = [render(name, now_ns) for name in names]
    if not args.keep_ids:
        bodies, _ = fresh_ids(bodies)
    failed = False
    for name, body in zip(names, bodies, strict=True):
        url = args.endpoint.rstrip("/") + SIGNALS[name]
        status, answer = post(url, body)
        print(f"{name} -> {url}: {status or 'failed'} {answer.strip()}")
        failed |= status != 200
    for trace_id in sorted({t for body in bodies for t in TRACE_ID.findall(body)}):
        print(f"trace_id {trace_id}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
