"""Where PII could start in a text: one linear scan with a multi-pattern engine.

Each pattern below is a necessary condition for one of the exact patterns in
``pii_rules`` to match at a position: the character before it (the exact pattern's
look-behind, written as the set of characters it allows) and the first few characters
of the match. The exact pattern then runs anchored at each candidate only, so the
whole text is read once by the engine and only a bounded window around each candidate
by Python's ``re``.

The engine sees bytes: the text encoded to ASCII with every other character replaced
by one ``?``, so a byte offset is a character offset. ``?`` is allowed before every
pattern and inside none, which keeps each pattern a superset of the exact one (Python's
``\\w`` also covers non-ASCII letters; the exact check decides those). A sentinel space
before the text stands for "start of text", which every look-behind allows.

Engines, best first; ``LLMO_PII_ENGINE`` (``re2``, ``hyperscan``, ``re``) forces one:

* ``re2`` (google-re2): one pass of an RE2 set of all patterns tells which occur at
  all (in prose, usually none), then, for those, RE2 searches again from one past each
  start found; the fastest on realistic text (see pii.py for the figures);
* ``hyperscan``: all patterns in one pass with start-of-match reporting; faster than
  RE2 only on texts dense with candidates; a development dependency, kept to measure;
* ``re``: shorter fixed-width patterns with Python's ``re.finditer``, where RE2 has no
  wheel: still linear, because none repeats unboundedly (a position costs at most the
  pattern's width), but no faster than the full-text patterns on prose.

Hyperscan and RE2 use the longer patterns (fewer candidates in prose: years, prices)
and find every start, overlapping or not. ``finditer`` resumes after each match, so
the ``re`` patterns must not overlap: each one's characters after its context are all
characters that context forbids, so no later candidate can start inside an earlier
one.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable
from typing import Any

# What may follow a grouped card number: not a word character or '-', not [.,] and a
# digit, nor, for a number grouped by spaces, a space and a digit (a further group).
_AFTER_SPACED = rb"(?:[^A-Za-z0-9_ .,-]|[ .,](?:[^0-9]|$)|$)"
_AFTER_DASHED = rb"(?:[^A-Za-z0-9_.,-]|[.,](?:[^0-9]|$)|$)"

# (name, short pattern for re, longer patterns for Hyperscan and RE2 if not the same):
# a match starts one character before the candidate, at its context character, so in
# sentinel-shifted data the match start is the candidate's offset in the text. Names
# are those of the passes in pii_rules.
PATTERNS: tuple[tuple[str, bytes, bytes | tuple[bytes, ...] | None], ...] = (
    (
        "api_key",
        rb"[^A-Za-z0-9_-](?:sk-|AKIA|ASIA|gh[pousr]_|github_pat_|xox[abprs]-|AIza|eyJ)",
        rb"[^A-Za-z0-9_-](?:sk-[A-Za-z0-9_-]{20}|A[KS]IA[A-Z0-9]{16}|gh[pousr]_[A-Za-z0-9]{36}"
        rb"|github_pat_[A-Za-z0-9_]{22}|xox[abprs]-[A-Za-z0-9-]{10}|AIza[0-9A-Za-z_-]{35}"
        rb"|eyJ[A-Za-z0-9_-]{8})",
    ),
    ("bearer", rb"[^A-Za-z0-9_][Bb][Ee][Aa][Rr][Ee][Rr]", None),
    # A local-part character, then the '@': the start is the '@' in the text.
    (
        "email",
        rb"[A-Za-z0-9._%+-]@",
        # A domain holds a dot and two letters: "a@a@a@..." has no candidate. Each
        # domain ends at the next '@', so no character is read for two candidates.
        rb"[A-Za-z0-9._%+-]@[A-Za-z0-9][A-Za-z0-9.-]*\.[A-Za-z]{2}",
    ),
    (
        "iban",
        rb"[^A-Za-z0-9][A-Z]{2}[0-9]{2}",
        rb"[^A-Za-z0-9][A-Z]{2}[0-9]{2}(?:[A-Z0-9]{11}| [A-Z0-9]{4} [A-Z0-9]{4})",
    ),
    (
        "card",
        rb"[^A-Za-z0-9_.-][2-6][0-9]{3}",
        # Grouped forms with what may follow the last group (no further group, letter,
        # '-' or decimals), so that a run of 4-digit groups holds no candidate.
        (
            rb"[^A-Za-z0-9_.-][2-6][0-9]{12}",
            rb"[^A-Za-z0-9_.-][2-6][0-9]{3}(?: [0-9]{4}){3}(?: [0-9]{3})?" + _AFTER_SPACED,
            rb"[^A-Za-z0-9_.-][2-6][0-9]{3}(?:-[0-9]{4}){3}(?:-[0-9]{3})?" + _AFTER_DASHED,
            rb"[^A-Za-z0-9_.-][2-6][0-9]{3} [0-9]{6} [0-9]{4,5}" + _AFTER_SPACED,
            rb"[^A-Za-z0-9_.-][2-6][0-9]{3}-[0-9]{6}-[0-9]{4,5}" + _AFTER_DASHED,
        ),
    ),
    ("ssn", rb"[^A-Za-z0-9_-][0-8][0-9]{2}-", rb"[^A-Za-z0-9_-][0-8][0-9]{2}-[0-9]{2}-[0-9]{4}"),
    ("phone_e164", rb"[^A-Za-z0-9_+-]\+[1-9]", rb"[^A-Za-z0-9_+-]\+[1-9](?:[ .-]?[0-9]){7}"),
    (
        "phone_paren",
        rb"[^A-Za-z0-9_+-]\([2-9]",
        rb"[^A-Za-z0-9_+-]\([2-9][0-9]{2}\) ?[0-9]{3}-[0-9]{4}",
    ),
    (
        "phone_na",
        rb"[^A-Za-z0-9_+-][1-9]",
        # Two patterns: Hyperscan reports one start per end, and "1 555.123.4" ends
        # where "555.123.4" does.
        (
            rb"[^A-Za-z0-9_+-]1[ .-]?[2-9][0-9]{2}(?:-[0-9]{3}-|\.[0-9]{3}\.)[0-9]",
            rb"[^A-Za-z0-9_+-][2-9][0-9]{2}(?:-[0-9]{3}-|\.[0-9]{3}\.)[0-9]",
        ),
    ),
    (
        "ipv4",
        rb"[^A-Za-z0-9_.][0-9]{1,3}\.[0-9]",
        rb"[^A-Za-z0-9_.][0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]",
    ),
    ("ipv6", rb"[^A-Za-z0-9_:][0-9A-Fa-f]{0,4}:[0-9A-Fa-f]{0,4}:", None),
)
NAMES = tuple(name for name, _, _ in PATTERNS)
_INDEX = {name: index for index, name in enumerate(NAMES)}


def to_scan_bytes(text: str) -> bytes:
    """The bytes the engines scan: a sentinel, then one byte per character."""
    return b" " + text.encode("ascii", "replace")


def count_digits(data: bytes) -> int:
    """The ASCII digits in scan bytes: str.count per digit, ten times faster."""
    return len(data) - len(data.translate(None, b"0123456789"))


def _expressions(index: int) -> tuple[bytes, ...]:
    _, short, longer = PATTERNS[index]
    return (longer,) if isinstance(longer, bytes) else longer or (short,)


class Candidates:
    """The candidate offsets of one text, per pass name, in ascending order."""

    __slots__ = ("_data", "_found", "_scan_one", "complete")

    def __init__(
        self,
        data: bytes,
        found: list[list[int] | None],
        scan_one: Callable[[bytes, int], list[int]] | None,
        complete: bool,
    ) -> None:
        self._data = data
        self._found = found  # None: not looked for yet
        self._scan_one = scan_one
        # True when asking for a pass that has no candidates costs nothing.
        self.complete = complete

    def starts(self, name: str) -> list[int]:
        index = _INDEX[name]
        found = self._found[index]
        if found is None:
            assert self._scan_one is not None
            found = self._found[index] = self._scan_one(self._data, index)
        return found


# --- engines -------------------------------------------------------------------------


class _Hyperscan:
    name = "hyperscan"

    def __init__(self) -> None:
        import hyperscan

        self._hs = hyperscan
        self._db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
        expressions: list[bytes] = []
        # Expression id -> pattern index. Each expression has an id of its own: Hyperscan
        # reports one match per id and end offset.
        self._pattern_of: list[int] = []
        for index in range(len(PATTERNS)):
            for expression in _expressions(index):
                expressions.append(expression)
                self._pattern_of.append(index)
        self._db.compile(
            expressions=expressions,
            ids=list(range(len(expressions))),
            elements=len(expressions),
            flags=hyperscan.HS_FLAG_SOM_LEFTMOST,
        )
        # Scratch space may not be shared by threads scanning at the same time.
        self._local = threading.local()

    def _scratch(self) -> Any:
        scratch = getattr(self._local, "scratch", None)
        if scratch is None:
            scratch = self._hs.Scratch(self._db)
            self._local.scratch = scratch
        return scratch

    def scan(self, text: str, data: bytes | None = None) -> Candidates:
        if data is None:
            data = to_scan_bytes(text)
        reports: list[list[int]] = [[] for _ in self._pattern_of]
        self._db.scan(data, match_event_handler=_on_match, context=reports, scratch=self._scratch())
        found: list[list[int] | None] = [[] for _ in PATTERNS]
        for expression, starts in enumerate(reports):
            if starts:
                found[self._pattern_of[expression]] += starts  # type: ignore[operator]
        for starts in found:
            if starts and len(starts) > 1:
                # One report per match end: a start can come twice and out of order.
                starts[:] = sorted(set(starts))
        return Candidates(data, found, None, True)


def _on_match(
    expression: int, start: int, _end: int, _flags: int, reports: list[list[int]]
) -> None:
    reports[expression].append(start)


class _Re2:
    name = "re2"

    def __init__(self) -> None:
        import re2

        options = re2.Options()
        options.encoding = re2.Options.Encoding.LATIN1  # bytes are bytes: the data is ASCII
        self._set = re2.Set.SearchSet(options)
        # Set index -> (pattern index, compiled expression)
        self._expressions: list[tuple[int, Any]] = []
        for index in range(len(PATTERNS)):
            for expression in _expressions(index):
                self._set.Add(expression)
                self._expressions.append((index, re2.compile(expression, options=options)))
        self._set.Compile()

    def scan(self, text: str, data: bytes | None = None) -> Candidates:
        if data is None:
            data = to_scan_bytes(text)
        found: list[list[int] | None] = [[] for _ in PATTERNS]
        for number in self._set.Match(data) or ():
            index, expression = self._expressions[number]
            starts: list[int] = found[index]  # type: ignore[assignment]
            search = expression.search
            match = search(data, 0)
            # From one past each start: every start, even inside an earlier match; each
            # search reads on from where the last one started, so the total stays linear.
            while match is not None:
                starts.append(match.start())
                match = search(data, match.start() + 1)
        for starts in found:
            if starts and len(starts) > 1:
                starts[:] = sorted(set(starts))
        return Candidates(data, found, None, True)


class _PythonRe:
    """Python's re with the short patterns: one finditer per pass that runs."""

    name = "re"

    def __init__(self) -> None:
        self._patterns = [re.compile(short) for _, short, _ in PATTERNS]

    def _scan_one(self, data: bytes, index: int) -> list[int]:
        return [match.start() for match in self._patterns[index].finditer(data)]

    def scan(self, text: str, data: bytes | None = None) -> Candidates:
        if data is None:
            data = to_scan_bytes(text)
        return Candidates(data, [None] * len(PATTERNS), self._scan_one, False)


_FACTORIES: dict[str, Callable[[], Any]] = {
    "re2": _Re2,
    "hyperscan": _Hyperscan,
    "re": _PythonRe,
}


def load_engine(name: str | None = None) -> Any:
    """The engine named (or by LLMO_PII_ENGINE), else the best one that imports."""
    name = name or os.environ.get("LLMO_PII_ENGINE") or None
    if name is not None:
        if name not in _FACTORIES:
            raise ValueError(f"unknown PII engine {name!r}; one of {', '.join(_FACTORIES)}")
        return _FACTORIES[name]()
    for factory in _FACTORIES.values():
        try:
            return factory()
        except ImportError:
            continue
    raise AssertionError("the re engine always imports")  # pragma: no cover
