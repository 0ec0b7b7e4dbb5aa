"""The exact rules of each PII kind, run only where ``pii_scan`` found a candidate.

The passes run in a fixed order, each on the text the previous ones produced (keys and
e-mail addresses first, because their digits could otherwise be read as other kinds; no
placeholder contains a digit, so a redacted part is never matched again). A pass runs
its exact pattern anchored at each candidate, left to right, resuming after each match
as ``re.sub`` would, so the result is the one a full ``re.sub`` gives. Every exact
pattern is bounded except keys and Bearer tokens, which read one run of token
characters that no other candidate of theirs can start inside, and the e-mail domain,
read to at most 256 characters after its '@'. After a pass changes the text, the
candidates are found again on the new text (at most once per pass).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable

from llm_observatory.collector.processors.pii_scan import Candidates, count_digits, to_scan_bytes

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
API_KEY = re.compile(
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
BEARER = re.compile(r"\b((?i:bearer)\s+)(?=[A-Za-z0-9._~+/=-]*[0-9])[A-Za-z0-9._~+/-]{16,}=*")
EMAIL = re.compile(
    r"(?<![\w.%+-])[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,}(?![\w-])"
)
_EMAIL_LOCAL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._%+-")
_EMAIL_LOCAL_MAX = 64
_EMAIL_DOMAIN_MAX = 255
IBAN = re.compile(
    r"[A-Z](?<![A-Za-z0-9][A-Z])[A-Z][0-9]{2}"
    r"(?:[A-Z0-9]{11,30}|(?: [A-Z0-9]{4}){2,7}(?: [A-Z0-9]{1,3})?)(?![A-Za-z0-9])"
)
CARD = re.compile(
    # Not the fraction of a float, nor the digits after an IBAN's "DE89 ".
    r"[2-6](?<![\w.-][2-6])(?<![A-Z]{2}[0-9]{2} [2-6])(?:"
    r"[0-9]{12,18}"
    # Grouped: 4-4-4-4, 4-4-4-4-3 and 4-6-5 / 4-6-4 (Amex, Diners), not followed by a
    # further group (a longer grouped number is something else).
    r"|[0-9]{3}([ -])[0-9]{4}\1[0-9]{4}\1[0-9]{4}(?:\1[0-9]{3})?(?!\1[0-9])"
    r"|[0-9]{3}([ -])[0-9]{6}\2[0-9]{4,5}(?!\2[0-9])"
    r")(?![\w-]|[.,][0-9])"
)
SSN = re.compile(r"[0-8](?<![\w-][0-8])[0-9]{2}-[0-9]{2}-[0-9]{4}(?![\w-])")
PHONE_E164 = re.compile(r"\+(?<![\w+-]\+)[1-9](?:[ .-]?[0-9]){7,14}(?![\w-]|\.[0-9])")
PHONE_NA_PAREN = re.compile(r"\((?<![\w+-]\()[2-9][0-9]{2}\) ?[0-9]{3}-[0-9]{4}(?![\w-]|\.[0-9])")
PHONE_NA = re.compile(
    r"[1-9](?<![\w+-][1-9])"
    r"(?:(?<=1)[ .-]?[2-9][0-9]{2}|(?<=[2-9])[0-9]{2})"  # optional country code 1
    r"(?:-[0-9]{3}-|\.[0-9]{3}\.)[0-9]{4}(?![\w-]|\.[0-9])"
)
IPV4 = re.compile(r"[0-9](?<![\w.][0-9])[0-9]{0,2}(?:\.[0-9]{1,3}){3}(?![\w]|\.[0-9])")
IPV6 = re.compile(
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


def placeholder(kind: str) -> str:
    return f"[REDACTED:{kind}]"


# --- validators ----------------------------------------------------------------------


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


def _always(_text: str) -> bool:
    return True


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


# --- passes --------------------------------------------------------------------------
# Each returns the new text, or the same object when nothing was replaced.

# How a match is replaced: (kept text before the placeholder, kept text after it), or
# None to keep the match as it is.
Replace = Callable[[re.Match[str]], "tuple[str, str] | None"]


def _checked(check: Callable[[str], bool]) -> Replace:
    def replace(match: re.Match[str]) -> tuple[str, str] | None:
        return ("", "") if check(match.group(0)) else None

    return replace


def _bearer(match: re.Match[str]) -> tuple[str, str]:
    return match.group(1), ""  # the scheme word stays


def _iban(match: re.Match[str]) -> tuple[str, str] | None:
    candidate = match.group(0)
    end = _iban_extent(candidate)
    if not end or (end < len(candidate) and candidate[end] != " "):
        return None  # invalid, or the length ends inside a group
    return "", candidate[end:]


def _run(
    pattern: re.Pattern[str],
    replace: Replace,
    kind: str,
    text: str,
    starts: list[int],
    found: set[str],
) -> str:
    pieces: list[str] = []
    done = 0  # text[:done] is in pieces
    resume = 0  # where re.sub would search next: a match, replaced or not, is consumed
    match_at = pattern.match
    for start in starts:
        if start < resume:
            continue
        match = match_at(text, start)
        if match is None:
            continue
        resume = match.end()
        kept = replace(match)
        if kept is None:
            continue
        before, after = kept
        pieces.append(text[done:start])
        pieces.append(before + placeholder(kind) + after)
        done = resume
        found.add(kind)
    if not pieces:
        return text
    pieces.append(text[done:])
    return "".join(pieces)


def _emails(text: str, ats: list[int], found: set[str]) -> str:
    """The e-mail rule around each candidate '@' (one with a local-part character
    before it), with the bounds a search limited to 64 characters before the '@' and 255
    after it gives: the local part is the run of local-part characters ending at the '@'
    and must lie wholly in that window, because anything starting inside the run fails
    the pattern's look-behind."""
    pieces: list[str] = []
    done = 0
    local = _EMAIL_LOCAL
    match_at = EMAIL.match
    size = len(text)
    for at in ats:
        if at < done:
            continue
        floor = max(done, at - _EMAIL_LOCAL_MAX)
        start = at - 1
        while start > floor and text[start - 1] in local:
            start -= 1
        if start > floor or start == 0 or text[start - 1] not in local:
            match = match_at(text, start, min(size, at + _EMAIL_DOMAIN_MAX + 1))
            if match is not None:
                pieces.append(text[done:start])
                pieces.append(placeholder("email"))
                done = match.end()
                found.add("email")
    if not pieces:
        return text
    pieces.append(text[done:])
    return "".join(pieces)


_PASSES: dict[str, tuple[re.Pattern[str], Replace, str]] = {
    "api_key": (API_KEY, _checked(_always), "api_key"),
    "bearer": (BEARER, _bearer, "api_key"),
    "iban": (IBAN, _iban, "iban"),
    "card": (CARD, _checked(_card_ok), "credit_card"),
    "ssn": (SSN, _checked(_ssn_ok), "us_ssn"),
    "phone_e164": (PHONE_E164, _checked(_always), "phone"),
    "phone_paren": (PHONE_NA_PAREN, _checked(_always), "phone"),
    "phone_na": (PHONE_NA, _checked(_always), "phone"),
    "ipv4": (IPV4, _checked(_ipv4_ok), "ip_address"),
    "ipv6": (IPV6, _checked(_ipv6_ok), "ip_address"),
}


class _Text:
    """The text being redacted and its candidates, found again after each change."""

    __slots__ = ("_candidates", "_data", "_scan", "found", "text")

    def __init__(self, text: str, data: bytes | None, scan: Scan, found: set[str]) -> None:
        self.text = text
        self.found = found
        self._scan = scan
        self._data = data  # the scan bytes of text, if made already
        self._candidates: Candidates | None = None

    def candidates(self) -> Candidates:
        if self._candidates is None:
            self._candidates = self._scan(self.text, self._data)
        return self._candidates

    def run(self, name: str) -> None:
        starts = self.candidates().starts(name)
        if not starts:
            return
        if name == "email":
            new = _emails(self.text, starts, self.found)
        else:
            pattern, replace, kind = _PASSES[name]
            new = _run(pattern, replace, kind, self.text, starts, self.found)
        if new is not self.text:
            self.text = new
            self._candidates = None
            self._data = None


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


Scan = Callable[[str, "bytes | None"], Candidates]


def redact(text: str, found: set[str], scan: Scan) -> str:
    """Redact text, adding the kinds found to `found`.

    Which passes run depends on cheap counts over the text (digits, punctuation), taken
    where the detection has always taken them: they decide what is detected, not only
    how fast.
    """
    data = None
    if len(text) < _SHORT:
        if not _maybe_pii(text):
            return text
        digits = sum(map(text.count, _DIGITS))
    else:
        data = to_scan_bytes(text)
        digits = count_digits(data)
        if not digits and "@" not in text and "KIA" not in text and "SIA" not in text:
            return text
    state = _Text(text, data, scan, found)
    # No key pattern can match without one of the prefixes: an engine that found every
    # candidate already answers that for free, fourteen substring searches otherwise.
    candidates = state.candidates() if data is not None else None
    if (
        candidates.starts("api_key")
        if candidates and candidates.complete
        else _has_key_prefix(text)
    ):
        state.run("api_key")
    if "earer" in state.text or "EARER" in state.text:
        state.run("bearer")
    if "@" in state.text:
        state.run("email")
    text = state.text
    if digits < 4:  # the fewest any kind below needs (IPv4), IPv6 aside
        if digits and ("::" in text or text.count(":") >= 7):
            state.run("ipv6")
        return state.text
    if digits >= 6 and len(text) >= 15:
        state.run("iban")
    if digits >= 13:
        state.run("card")
    has_dash = "-" in state.text
    has_dot = "." in state.text
    if digits >= 9 and has_dash:
        state.run("ssn")
    if digits >= 8 and "+" in state.text:
        state.run("phone_e164")
    if digits >= 10:
        if "(" in state.text:
            state.run("phone_paren")
        if has_dash or has_dot:
            state.run("phone_na")
    if has_dot:
        state.run("ipv4")
    text = state.text
    if "::" in text or text.count(":") >= 7:  # compressed or full IPv6
        state.run("ipv6")
    return state.text
