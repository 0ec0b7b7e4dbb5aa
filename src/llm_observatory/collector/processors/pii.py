"""Find and redact PII in spans and log records before anything is stored.

Each match is replaced by ``[REDACTED:<kind>]``; only the kinds found are kept
(``pii_types``), never the values. What is matched, per kind:

* ``email``: local@domain.tld (a TLD of 2+ letters; ``user@localhost`` is not matched).
* ``phone``: E.164, ``+`` then 8-15 digits, optionally split by single spaces, dots or
  dashes (``+14155552671``, ``+44 20 7946 0958``); North-American ``(555) 123-4567``,
  ``555-123-4567``, ``555.123.4567``, optionally with a ``+1``/``1-`` prefix. Bare digit
  runs (``5551234567``, order numbers) are not matched: too many ids look the same.
* ``credit_card``: 13-19 digits, either unbroken or grouped 4-4-4-4(-3) or 4-6-5/4-6-4
  (Amex, Diners) with spaces or dashes, starting with 2-6 (every card network's range;
  millisecond and nanosecond timestamps start with 1) and passing the Luhn check.
* ``us_ssn``: ``AAA-GG-SSSS`` with dashes only, without area 000, 666 or 9xx, group 00 or
  serial 0000. Nine bare digits are not matched.
* ``iban``: upper-case country code, check digits, then the account, unbroken or in
  groups of 4 split by spaces; its length must be that country's and mod-97 must hold.
* ``ip_address``: IPv4 with every octet <= 255 (``1.2.3.4`` counts, ``v2.0.1`` and
  ``1.2.3.4.5`` do not) and IPv6 that ``ipaddress`` accepts and that holds a digit
  (so ``Foo::Bar`` in code is left alone; ``12:30:45`` and MAC addresses fail).
* ``api_key``: OpenAI / Anthropic ``sk-`` keys (20+ key characters with a digit, so
  ``sk-learn`` and ``task-123`` are not keys), AWS ``AKIA``/``ASIA`` access key ids,
  GitHub ``ghp_``/``gho_``/``ghu_``/``ghs_``/``ghr_`` and ``github_pat_`` tokens, Slack
  ``xox[abprs]-`` tokens, Google ``AIza`` keys, JWTs and ``Bearer <token>`` (a token of
  16+ characters with a digit; the word ``Bearer`` is kept).

Dates, times, versions, prices, UUIDs, trace ids and plain numbers match none of these.

How (see pii_scan and pii_rules): one pass of a multi-pattern engine over the text finds
the positions where a kind could start (its look-behind context and first characters);
each kind's exact pattern then runs anchored at those positions only, with the checks
(Luhn, IBAN length and mod-97, SSN rules, IPv4 octets, IPv6 via ``ipaddress``, e-mail
local and domain limits). Work is linear in the text in the worst case: the engine reads
it a bounded number of times (once more after each kind that redacts something, since
the later kinds run on the redacted text), and each candidate reads a bounded window,
or one run of characters no other candidate of its kind reads (a key, a Bearer token,
an e-mail domain, which ends at the next '@'). The output is exactly that of
running each pattern over the whole text with ``re.sub`` (tests check it against that
implementation on random texts).

Engine (pii_scan): RE2 (PyPI ``google-re2``): one pass of an RE2 set over the text
says which candidate patterns occur at all, then RE2 finds each start of those. Where
RE2 has no wheel, Python's ``re`` over short fixed-width patterns (linear too, no
pattern repeats unboundedly, but no faster than the old code on prose); Hyperscan
(PyPI ``hyperscan``, a development dependency) can be chosen with ``LLMO_PII_ENGINE``.
Measured with tests/performance/pii_benchmark.py, CPU time on a shared 2-core machine
(rough; "re.sub" is the old code, every pattern over the whole text):

=============================================  ======  =====  =========  =====
                                               re.sub  re2    hyperscan  re
=============================================  ======  =====  =========  =====
realistic LLM span (~2.5 KB of content), µs    170     39     46         200
the same without the cache, µs                         51
prose with digits, µs per KiB                  84      5.1    8.8        86
1 MiB of '@' / of "a@" repeated, ms            9,500   3      23         11/304
1 MiB of digits, ms                            28      4.4    7.8        14
1 MiB of '.' / '+' / '::' / 'sk-', ms          4-5     2      2          2
1 MiB of "1.1.1.1." repeated, ms               69      5.9    7.6        166
1 MiB of ':' and hex, ms                       36      6.4    6.8        37
1 MiB of spaces and digits / "4111 ", ms       51/70   5/4    9/14       32/107
1 MiB of e-mails back to back, ms              160     430    176        157
1 MiB of IPv4 addresses back to back, ms       262     459    234        390
=============================================  ======  =====  =========  =====

RE2, because on realistic spans and prose it costs the least (4x less CPU per span
than the old code, 16x less per KiB of prose) and every hostile value without PII
stays under 10 ms. Hyperscan is 2-3x faster only on values packed with real PII, where
each value found costs about 3 µs with RE2 (one more search and one anchored match);
the cap below bounds that too.

Strings up to ``CACHE_MAX_CHARS`` characters are cached (attribute values such as
"production" or a model name, and system prompts, repeat on every span): bounded,
emptied when full. A string longer than the cap (``max_scan_bytes``,
PII_MAX_SCAN_BYTES, counted in characters: the engine scans one byte per character) is
cut at the last place within 1 KiB before the cap where no PII value can be cut in two
(see ``_CUT_AT``), the head is redacted and the rest is replaced by
``[REDACTED:unscanned]``: nothing is stored unscanned and no value keeps its first
half. Replacing rather than scanning on in chunks, because the cap exists to bound the
CPU one value may take. Attributes whose values are generated
ids or names (``_SAFE_KEYS``) are not looked at; dict keys are not redacted, only values.
"""

from __future__ import annotations

import re
from typing import Any

from llm_observatory.collector.processors.pii_rules import placeholder, redact
from llm_observatory.collector.processors.pii_scan import load_engine
from llm_observatory.core.records import LogRecordRow, MetricPointRecord, SpanRecord
from llm_observatory.core.settings import CollectorSettings

__all__ = [
    "DEFAULT_MAX_SCAN_BYTES",
    "KINDS",
    "UNSCANNED",
    "Redactor",
    "redact_attributes",
    "redact_log",
    "redact_metric_point",
    "redact_span",
    "redact_text",
    "redact_value",
]

KINDS = ("api_key", "credit_card", "email", "iban", "ip_address", "phone", "us_ssn")

# The same default as MAX_ATTRIBUTE_VALUE_LENGTH, so a value the collector keeps whole
# is also scanned whole; at the worst-case speed (a few ms per MiB) it bounds the CPU
# one value can take.
DEFAULT_MAX_SCAN_BYTES: int = CollectorSettings.model_fields["pii_max_scan_bytes"].default
UNSCANNED = placeholder("unscanned")
# Attribute values repeat on every span, and so does an application's system prompt: cache
# strings up to this long. At most DEFAULT_CACHE_SIZE of them: a few MiB per process.
CACHE_MAX_CHARS = 1024
DEFAULT_CACHE_SIZE = 4096
# Where a too-long text may be cut: before a character no PII value contains, or before a
# space that cannot be inside one (values hold spaces only between digits, upper-case
# IBAN groups or after "(555)"; a Bearer token cut off goes whole), searched for this far
# back from the cap. Only a longer run without either is cut at the cap itself.
_CUT_SEARCH = 1024
_CUT_AT = re.compile(r"[^A-Za-z0-9._%+@:/~=() -]|(?<![A-Z0-9)]) | (?![A-Z0-9])")

# Attribute values that are generated ids, names or enums: never PII, and some look
# like it (an all-digit span id can pass Luhn).
_SAFE_KEYS = frozenset(
    {
        "trace_id",
        "span_id",
        "parent_span_id",
        "otel.trace_id",
        "otel.span_id",
        "otel.status_code",
        "otel.scope.name",
        "otel.scope.version",
        "gen_ai.response.id",
        "gen_ai.tool.call.id",
        "gen_ai.request.model",
        "gen_ai.response.model",
        "gen_ai.provider.name",
        "gen_ai.system",
        "gen_ai.operation.name",
        "gen_ai.output.type",
        "gen_ai.response.finish_reasons",
        "gen_ai.openai.response.system_fingerprint",
        "gen_ai.openai.request.service_tier",
        "gen_ai.openai.response.service_tier",
        "llm.model_name",
        "llm.provider",
        "llm.system",
        "llm.request.type",
        "openinference.span.kind",
        "traceloop.span.kind",
        "http.request.method",
        "http.route",
        "rpc.method",
        "rpc.service",
        "rpc.system",
        "code.function",
        "code.function.name",
        "code.namespace",
        "code.lineno",
        "thread.id",
        "thread.name",
        "service.name",
        "service.version",
        "telemetry.sdk.name",
        "telemetry.sdk.version",
        "telemetry.sdk.language",
    }
)


class Redactor:
    """Redacts strings, values, attribute dicts and whole records.

    One per collector process; safe to share between threads (the engine keeps scratch
    space per thread; the cache is a plain dict, emptied when full).
    """

    def __init__(
        self,
        max_scan_bytes: int = DEFAULT_MAX_SCAN_BYTES,
        cache_size: int = DEFAULT_CACHE_SIZE,
        engine: str | None = None,
    ) -> None:
        if max_scan_bytes < _CUT_SEARCH:
            raise ValueError(f"max_scan_bytes must be at least {_CUT_SEARCH}")
        self.max_scan_bytes = max_scan_bytes
        self.cache_size = cache_size
        self.engine = load_engine(engine)
        self._scan = self.engine.scan
        self._cache: dict[str, tuple[str, tuple[str, ...]]] = {}

    # --- strings and values -------------------------------------------------------

    def text(self, text: str, found: set[str]) -> str:
        """text with every match replaced by [REDACTED:<kind>]; adds the kinds to found."""
        if len(text) <= CACHE_MAX_CHARS and self.cache_size:
            hit = self._cache.get(text)
            if hit is None:
                kinds: set[str] = set()
                hit = (redact(text, kinds, self._scan), tuple(kinds))
                if len(self._cache) >= self.cache_size:
                    self._cache.clear()
                self._cache[text] = hit
            if hit[1]:
                found.update(hit[1])
            return hit[0]
        if len(text) > self.max_scan_bytes:
            cut = _cut(text, self.max_scan_bytes)
            return redact(text[:cut], found, self._scan) + UNSCANNED
        return redact(text, found, self._scan)

    def value(self, value: Any, found: set[str]) -> Any:
        """Redact strings anywhere inside value; lists and dicts are changed in place.

        Returns the value to store (a new object for a str or a tuple). Iterative: message
        JSON can nest deeper than Python recurses.
        """
        kind = type(value)
        if kind is str:
            return self.text(value, found)
        if kind is tuple:  # only attribute values are tuples, never deep
            return tuple(self.value(item, found) for item in value)
        if kind is not list and kind is not dict:
            return value
        text = self.text
        stack = [value]
        while stack:
            node = stack.pop()
            for key, item in enumerate(node) if type(node) is list else node.items():
                item_kind = type(item)
                if item_kind is str:
                    node[key] = text(item, found)
                elif item_kind is list or item_kind is dict:
                    stack.append(item)
                elif item_kind is tuple:
                    node[key] = self.value(item, found)
        return value

    def attributes(self, attrs: dict[str, Any], found: set[str]) -> None:
        """Redact an attribute dict in place, skipping known-safe keys.

        Idempotent, so a resource's attributes may be redacted once and shared.
        """
        for key, value in attrs.items():
            kind = type(value)
            if kind is int or kind is float or kind is bool or value is None or key in _SAFE_KEYS:
                continue
            attrs[key] = self.value(value, found)

    def _entries(self, entries: Any, found: set[str]) -> None:
        """Events and links: each one's attributes (and an event body, if any)."""
        for entry in entries:
            if not isinstance(entry, dict):
                continue
            attributes = entry.get("attributes")
            if isinstance(attributes, dict) and attributes:
                self.attributes(attributes, found)
            if "body" in entry:
                entry["body"] = self.value(entry["body"], found)

    # --- records ------------------------------------------------------------------

    def _common(self, record: Any, resource: bool, found: set[str]) -> None:
        """What every signal's record has: attributes, resource attributes, scope name."""
        if record.attributes:
            self.attributes(record.attributes, found)
        if resource and record.resource_attributes:
            self.attributes(record.resource_attributes, found)
        if record.scope_name:
            record.scope_name = self.text(record.scope_name, found)

    def span(self, span: SpanRecord, *, resource: bool = True) -> None:
        """Redact the span's messages, attributes, events, links, name, status message,
        scope name and (unless resource=False, for a resource already redacted)
        resource attributes; add the kinds found to span.pii_types, sorted."""
        found: set[str] = set()
        if span.input_messages is not None:
            span.input_messages = self.value(span.input_messages, found)
        if span.output_messages is not None:
            span.output_messages = self.value(span.output_messages, found)
        self._common(span, resource, found)
        if span.events:
            self._entries(span.events, found)
        if span.links:
            self._entries(span.links, found)
        span.name = self.text(span.name, found)
        if span.status_message:
            span.status_message = self.text(span.status_message, found)
        if found:
            span.pii_types = sorted(found.union(span.pii_types))

    def log(self, row: LogRecordRow, *, resource: bool = True) -> None:
        """Redact a log record's body, attributes, scope name and resource attributes;
        add the kinds found to row.pii_types."""
        found: set[str] = set()
        if row.body is not None:
            row.body = self.value(row.body, found)
        self._common(row, resource, found)
        if found:
            row.pii_types = sorted(found.union(row.pii_types))

    def metric_point(self, point: MetricPointRecord, *, resource: bool = True) -> set[str]:
        """Redact a data point's attributes, scope name and resource attributes.

        Returns the kinds found (metric points have no pii_types column).
        """
        found: set[str] = set()
        self._common(point, resource, found)
        return found


def _cut(text: str, limit: int) -> int:
    """Where to cut a text longer than limit so that no PII value keeps its first half."""
    cut = limit
    # One past the cap, so that the look-ahead at the cap sees the real next character.
    for match in _CUT_AT.finditer(text, limit - _CUT_SEARCH, limit + 2):
        if match.start() <= limit:
            cut = match.start()
    return cut


# --- module-level functions, on one shared Redactor ---------------------------------

_default: Redactor | None = None


def _shared() -> Redactor:
    global _default
    if _default is None:
        _default = Redactor()
    return _default


def redact_text(text: str) -> tuple[str, set[str]]:
    """(text with every match replaced by [REDACTED:<kind>], the kinds found)."""
    found: set[str] = set()
    return _shared().text(text, found), found


def redact_value(value: Any, found: set[str]) -> Any:
    return _shared().value(value, found)


def redact_attributes(attributes: dict[str, Any], found: set[str]) -> None:
    _shared().attributes(attributes, found)


def redact_span(span: SpanRecord) -> None:
    _shared().span(span)


def redact_log(row: LogRecordRow) -> None:
    _shared().log(row)


def redact_metric_point(point: MetricPointRecord) -> set[str]:
    return _shared().metric_point(point)
