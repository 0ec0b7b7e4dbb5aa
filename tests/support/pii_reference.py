"""A frozen copy of the PII redaction that ran each pattern over the whole text.

Only a test oracle: tests/unit/test_pii.py checks that collector/processors/pii.py detects exactly
what this did. Never edit it to follow a change of the rules: change both on purpose.

The original description follows.

Find and redact PII in spans and log records before anything is stored.

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

Cost: a string with no digit and no ``@`` (nearly every attribute value that is not
content) skips every regex, and each pattern runs only on text with enough digits;
attributes whose values are generated ids or names (``_SAFE_KEYS``) are not looked at.
Dict keys are not redacted, only values.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from llm_observatory.core.records import LogRecordRow, SpanRecord

__all__ = [
    "KINDS",
    "redact_attributes",
    "redact_log",
    "redact_span",
    "redact_text",
    "redact_value",
]

KINDS = ("api_key", "credit_card", "email", "iban", "ip_address", "phone", "us_ssn")

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

# Python's re tests a character class at ~5 ns a character, while `in` and str.count
# search at memchr speed. So a text is first gated by cheap counts: every kind needs a
# digit or an '@' (AWS key ids aside, which may be all letters after AKIA/ASIA), and
# each pattern runs only when the text has enough digits and the punctuation it needs.
# Patterns that start with a literal or a class let re skip to candidate positions, so
# most consume their first character and only then check what precedes it with a
# fixed-width lookbehind `(?<!X.)`.
_DIGITS = "0123456789"
_SHORT = 256  # below this many characters `_maybe_pii` is cheaper than ten counts
# Digit shapes every digit-based kind contains: three digits in a row (cards, SSNs,
# North-American phones, IBAN accounts), an IPv4's "1.2.3" or an IBAN's "DE89".
_DIGIT_CANDIDATE = re.compile(r"[0-9](?:[0-9]{2}|\.[0-9]{1,3}\.[0-9]|(?<=[A-Z]{2}[0-9])[0-9])")

_KEY_PREFIXES = (
    "sk-",
    "AKIA",
    "ASIA",
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "ghr_",
    "github_pat_",
    "xox",
    "AIza",
    "eyJ",
    "earer",  # Bearer
    "EARER",
)
_API_KEY = re.compile(
    r"(?<![\w-])(?:"
    r"sk-(?=[A-Za-z0-9_-]*[0-9])[A-Za-z0-9_-]{20,}"  # OpenAI sk-/sk-proj-, Anthropic sk-ant-
    r"|(?:AKIA|ASIA)[A-Z0-9]{16}"  # AWS access key id
    r"|gh[pousr]_[A-Za-z0-9]{36,}"  # GitHub tokens
    r"|github_pat_[A-Za-z0-9_]{22,}"
    r"|xox[abprs]-[A-Za-z0-9-]{10,}"  # Slack
    r"|AIza[0-9A-Za-z_-]{35}"  # Google API key
    r"|eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"  # JWT
    r")(?![\w-])"
)
_BEARER = re.compile(r"\b((?i:bearer)\s+)(?=[A-Za-z0-9._~+/=-]*[0-9])[A-Za-z0-9._~+/-]{16,}=*")
_EMAIL = re.compile(
    r"(?<![\w.%+-])[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,}(?![\w-])"
)
_EMAIL_LOCAL_MAX = 64
_EMAIL_DOMAIN_MAX = 255
_IBAN = re.compile(
    r"[A-Z](?<![A-Za-z0-9][A-Z])[A-Z][0-9]{2}"
    r"(?:[A-Z0-9]{11,30}|(?: [A-Z0-9]{4}){2,7}(?: [A-Z0-9]{1,3})?)(?![A-Za-z0-9])"
)
_CARD = re.compile(
    # Not the fraction of a float, nor the digits after an IBAN's "DE89 ".
    r"[2-6](?<![\w.-][2-6])(?<![A-Z]{2}[0-9]{2} [2-6])(?:"
    r"[0-9]{12,18}"
    # Grouped: 4-4-4-4, 4-4-4-4-3 and 4-6-5 / 4-6-4 (Amex, Diners), not followed by a
    # further group (a longer grouped number is something else).
    r"|[0-9]{3}([ -])[0-9]{4}\1[0-9]{4}\1[0-9]{4}(?:\1[0-9]{3})?(?!\1[0-9])"
    r"|[0-9]{3}([ -])[0-9]{6}\2[0-9]{4,5}(?!\2[0-9])"
    r")(?![\w-]|[.,][0-9])"
)
_SSN = re.compile(r"[0-8](?<![\w-][0-8])[0-9]{2}-[0-9]{2}-[0-9]{4}(?![\w-])")
_PHONE_E164 = re.compile(r"\+(?<![\w+-]\+)[1-9](?:[ .-]?[0-9]){7,14}(?![\w-]|\.[0-9])")
_PHONE_NA_PAREN = re.compile(r"\((?<![\w+-]\()[2-9][0-9]{2}\) ?[0-9]{3}-[0-9]{4}(?![\w-]|\.[0-9])")
_PHONE_NA = re.compile(
    r"[1-9](?<![\w+-][1-9])"
    r"(?:(?<=1)[ .-]?[2-9][0-9]{2}|(?<=[2-9])[0-9]{2})"  # optional country code 1
    r"(?:-[0-9]{3}-|\.[0-9]{3}\.)[0-9]{4}(?![\w-]|\.[0-9])"
)
_IPV4 = re.compile(r"[0-9](?<![\w.][0-9])[0-9]{0,2}(?:\.[0-9]{1,3}){3}(?![\w]|\.[0-9])")
_IPV6 = re.compile(
    r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|[0-9]{1,3}(?:\.[0-9]{1,3}){3})?"
    r"(?![\w:])"
)

# IBAN length per country (the SWIFT IBAN registry).
_IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22,
    "BH": 22, "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24,
    "DE": 22, "DJ": 27, "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18,
    "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27,
    "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27,
    "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20,
    "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20, "MR": 27,
    "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23, "PK": 24, "PL": 28,
    "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24, "SC": 31,
    "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}  # fmt: skip


def _placeholder(kind: str) -> str:
    return f"[REDACTED:{kind}]"


# --- validators ------------------------------------------------------------------------------


def _luhn_ok(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if position % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _card_ok(text: str) -> bool:
    digits = text.replace(" ", "").replace("-", "")
    return 13 <= len(digits) <= 19 and digits[0] in "23456" and _luhn_ok(digits)


def _iban_ok(compact: str) -> bool:
    if _IBAN_LENGTHS.get(compact[:2]) != len(compact):
        return False
    rearranged = compact[4:] + compact[:4]
    # Letters count as 10..35; int() of the joined digits takes the mod in one go.
    number = "".join(str(int(char, 36)) for char in rearranged)
    return int(number) % 97 == 1


def _ssn_ok(text: str) -> bool:
    area, group, serial = text.split("-")
    return area not in ("000", "666") and group != "00" and serial != "0000"


def _ipv4_ok(text: str) -> bool:
    # No leading zeros: "01.02.03.04" is more likely a date or a version than an address.
    return all(int(part) <= 255 and (len(part) == 1 or part[0] != "0") for part in text.split("."))


def _ipv6_ok(text: str) -> bool:
    if not any(char.isdigit() for char in text):
        return False
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


# --- redaction -------------------------------------------------------------------------------


def _sub_checked(
    pattern: re.Pattern[str], kind: str, check: Any, text: str, found: set[str]
) -> str:
    def replace(match: re.Match[str]) -> str:
        if check(match.group(0)):
            found.add(kind)
            return _placeholder(kind)
        return match.group(0)

    return pattern.sub(replace, text)


def _iban_extent(candidate: str) -> int:
    """Length of the valid IBAN at the start of candidate, 0 if none.

    The spaced form may run on into the next upper-case word ("... 7034 THEN"), so the
    country's length decides where the IBAN ends, not the match.
    """
    length = _IBAN_LENGTHS.get(candidate[:2])
    if length is None:
        return 0
    seen = 0
    for end, char in enumerate(candidate, 1):
        if char != " ":
            seen += 1
            if seen == length:
                compact = candidate[:end].replace(" ", "")
                return end if _iban_ok(compact) else 0
    return 0


def _sub_iban(text: str, found: set[str]) -> str:
    def replace(match: re.Match[str]) -> str:
        candidate = match.group(0)
        end = _iban_extent(candidate)
        if not end or (end < len(candidate) and candidate[end] != " "):
            return candidate  # invalid, or the length ends inside a group
        found.add("iban")
        return _placeholder("iban") + candidate[end:]

    return _IBAN.sub(replace, text)


def _sub_plain(pattern: re.Pattern[str], kind: str, text: str, found: set[str]) -> str:
    result, count = pattern.subn(_placeholder(kind), text)
    if count:
        found.add(kind)
    return result


def _sub_email(text: str, found: set[str]) -> str:
    """Run the e-mail pattern only around each '@': it cannot skip ahead on its own."""
    pieces: list[str] = []
    done = 0  # text[:done] is in pieces
    at = text.find("@")
    while at != -1:
        start = max(done, at - _EMAIL_LOCAL_MAX)
        match = _EMAIL.search(text, start, min(len(text), at + _EMAIL_DOMAIN_MAX + 1))
        if match is not None and match.start() <= at:
            pieces.append(text[done : match.start()])
            pieces.append(_placeholder("email"))
            done = match.end()
            found.add("email")
        at = text.find("@", max(at + 1, done))
    if not pieces:
        return text
    pieces.append(text[done:])
    return "".join(pieces)


def _has_key_prefix(text: str) -> bool:
    for prefix in _KEY_PREFIXES:  # noqa: SIM110 - a plain loop is 2x faster than any()
        if prefix in text:
            return True
    return False


def _maybe_pii(text: str) -> bool:
    """A loose superset of what any kind needs, for short texts ("1.1", "gpt-4o")."""
    return (
        "@" in text
        or "+" in text
        or _DIGIT_CANDIDATE.search(text) is not None
        or _has_key_prefix(text)
        or "::" in text
        or text.count(":") >= 7
    )


def _redact(text: str, found: set[str]) -> str:
    """Redact text, adding the kinds found to `found`.

    Order matters: keys and e-mail addresses first, because their digits could otherwise
    be read as other kinds; no placeholder contains a digit, so a redacted part is never
    matched again.
    """
    if len(text) < _SHORT:
        if not _maybe_pii(text):
            return text
        digits = sum(map(text.count, _DIGITS))
    else:
        digits = sum(map(text.count, _DIGITS))
        if not digits and "@" not in text and "KIA" not in text and "SIA" not in text:
            return text
    if _has_key_prefix(text):
        text = _sub_plain(_API_KEY, "api_key", text, found)
    if "earer" in text or "EARER" in text:
        result, count = _BEARER.subn(r"\1" + _placeholder("api_key"), text)
        if count:
            found.add("api_key")
            text = result
    if "@" in text:
        text = _sub_email(text, found)
    if digits < 4:  # the fewest any kind below needs (IPv4), IPv6 aside
        if digits and ("::" in text or text.count(":") >= 7):
            text = _sub_checked(_IPV6, "ip_address", _ipv6_ok, text, found)
        return text
    if digits >= 6 and len(text) >= 15:
        text = _sub_iban(text, found)
    if digits >= 13:
        text = _sub_checked(_CARD, "credit_card", _card_ok, text, found)
    has_dash = "-" in text
    has_dot = "." in text
    if digits >= 9 and has_dash:
        text = _sub_checked(_SSN, "us_ssn", _ssn_ok, text, found)
    if digits >= 8 and "+" in text:
        text = _sub_plain(_PHONE_E164, "phone", text, found)
    if digits >= 10:
        if "(" in text:
            text = _sub_plain(_PHONE_NA_PAREN, "phone", text, found)
        if has_dash or has_dot:
            text = _sub_plain(_PHONE_NA, "phone", text, found)
    if has_dot:
        text = _sub_checked(_IPV4, "ip_address", _ipv4_ok, text, found)
    if "::" in text or text.count(":") >= 7:  # compressed or full IPv6
        text = _sub_checked(_IPV6, "ip_address", _ipv6_ok, text, found)
    return text


def redact_text(text: str) -> tuple[str, set[str]]:
    """(text with every match replaced by [REDACTED:<kind>], the kinds found)."""
    found: set[str] = set()
    return _redact(text, found), found


def redact_value(value: Any, found: set[str]) -> Any:
    """Redact strings anywhere inside value; lists and dicts are changed in place.

    Returns the value to store (a new object for a str or a tuple).
    """
    return _walk(value, found)


def _walk(value: Any, found: set[str]) -> Any:
    kind = type(value)
    if kind is str:
        return _redact(value, found)
    if kind is tuple:  # only attribute values are tuples, never deep
        return tuple(_walk(item, found) for item in value)
    if kind is not list and kind is not dict:
        return value
    # An explicit stack, not recursion: message JSON can nest deeper than Python recurses.
    stack = [value]
    while stack:
        node = stack.pop()
        for key, item in enumerate(node) if type(node) is list else node.items():
            item_kind = type(item)
            if item_kind is str:
                node[key] = _redact(item, found)
            elif item_kind is list or item_kind is dict:
                stack.append(item)
            elif item_kind is tuple:
                node[key] = _walk(item, found)
    return value


def redact_attributes(attributes: dict[str, Any], found: set[str]) -> None:
    """Redact an attribute dict in place, skipping known-safe keys.

    Public so that the collector can redact a resource's attributes once per resource
    rather than once per span.
    """
    for key, value in attributes.items():
        kind = type(value)
        if kind is int or kind is float or kind is bool or value is None or key in _SAFE_KEYS:
            continue
        attributes[key] = _walk(value, found)


def _redact_entries(entries: Any, found: set[str]) -> None:
    """Events and links: redact each one's attributes (and an event body, if any)."""
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        attributes = entry.get("attributes")
        if isinstance(attributes, dict) and attributes:
            redact_attributes(attributes, found)
        if "body" in entry:
            entry["body"] = _walk(entry["body"], found)


def redact_span(span: SpanRecord) -> None:
    """Redact PII in the span's messages, attributes, events, links, name and status
    message; set span.pii_types to the sorted kinds found."""
    found: set[str] = set()
    if span.input_messages is not None:
        span.input_messages = _walk(span.input_messages, found)
    if span.output_messages is not None:
        span.output_messages = _walk(span.output_messages, found)
    if span.attributes:
        redact_attributes(span.attributes, found)
    if span.events:
        _redact_entries(span.events, found)
    if span.links:
        _redact_entries(span.links, found)
    span.name = _redact(span.name, found)
    if span.status_message:
        span.status_message = _redact(span.status_message, found)
    if found:
        span.pii_types = sorted(found.union(span.pii_types))


def redact_log(row: LogRecordRow) -> None:
    """Redact PII in a log record's body and attributes; set row.pii_types."""
    found: set[str] = set()
    if row.body is not None:
        row.body = _walk(row.body, found)
    if row.attributes:
        redact_attributes(row.attributes, found)
    if found:
        row.pii_types = sorted(found.union(row.pii_types))
