"""SMTP bounce classification: (status code, enhanced status, response text) -> category.

Pure Python, no Django: it runs once per event in the ingest hot path.

Speed comes from doing the cheap work first and as rarely as possible:

* A 2xx/3xx status returns before anything else is looked at.
* Missing codes are inferred from the text with one anchored ``match`` ("550-5.1.1 ...");
  only texts that do not start with a code pay for a search.
* Rules are filtered by their status/enhanced patterns once per distinct
  (status, enhanced) pair and the surviving list is memoised, truncated after the first
  rule that has no response pattern (it always matches).  So a "550 5.1.1" bounce is
  settled by a dict lookup, without reading its text.
* Response patterns are case-insensitive, but ``re`` cannot use its literal-prefix scan
  for IGNORECASE patterns (one 13-way IGNORECASE alternation costs ~30 us on a
  300-character Gmail response).  For ASCII text we lower-case the text once and match
  a lower-cased, case-sensitive copy of each pattern, split into its top-level
  alternatives and regrouped by first character, so each group regex has a literal
  prefix ``re`` scans for in C (~0.2-0.4 us per group; a lone literal is an ``in``
  test).  The rewrite is only used when it provably keeps the IGNORECASE meaning (see
  _case_folded_pattern); otherwise, and for non-ASCII text, the original regex runs.

Measured with bench/classify.py: ~4 us per failure event on a realistic mix; a 2xx
returns in ~0.1 us.  The slowest paths (a text that only the late rules match, e.g. a
content rejection) cost up to ~20 us.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import cache
from operator import attrgetter
from typing import Any, Final

from .bounce_rules import CATEGORY_SLUGS, DEFAULT_RULES, OTHER

__all__ = ["NOT_A_BOUNCE", "CompiledRule", "classify", "compile_rules", "default_rules", "infer_codes"]

NOT_A_BOUNCE: Final = ""

# Caps on memo tables.  The key spaces are small in practice (a few hundred code pairs,
# one or two rule sets) but the codes come from remote servers, so they must be bounded.
_MAX_CODE_KEYS: Final = 4096
_MAX_RULE_SETS: Final = 8

# "550-5.1.1 The email ...", "550 5.7.1 ...", "550 #5.1.0 ...": the common shape.  The
# status must not run on into a longer token ("2024-01-01", "554.30", "550:").
_LEADING_CODES: Final = re.compile(
    r"\s*([2-5][0-9][0-9])(?![\w.:])(?:[ -]#?([245]\.[0-9]{1,3}\.[0-9]{1,3})(?!\.?[0-9]))?"
)
# The same pair inside a longer text ("smtp; 550 5.1.1", "host x said: 550 5.1.1").  The
# digits come first so `re` can skip straight to candidate characters; the fixed-width
# lookbehind then rejects digits that belong to an IP, a port or a longer number.
_EMBEDDED_CODES: Final = re.compile(
    r"([245][0-9][0-9])(?<![\w.:\[][0-9]{3})[ -]#?([245]\.[0-9]{1,3}\.[0-9]{1,3})(?!\.?[0-9])"
)
# A bare status inside a text ("...RCPT TO:<x@y>: 550 Unrouteable address"): it tells a
# remote rejection apart from a failure the local MTA generated itself.
_EMBEDDED_STATUS: Final = re.compile(r"([45][0-9][0-9])(?<![\w.:\[][0-9]{3})(?=[ -][^0-9])")
# A lone enhanced code.  Class 2 is not accepted here, so a version string in a failure
# text ("Postfix 2.10.1") cannot turn it into a success; IP addresses are rejected by
# the lookarounds ("4.16.55.1", "[1.4.5.6]").
_LONE_ENHANCED: Final = re.compile(r"(?<![\w.])([45]\.[0-9]{1,3}\.[0-9]{1,3})(?!\.?[0-9])")

# Regex metacharacters: an alternative without them (after unescaping) is a literal.
_META: Final = frozenset(".^$*+?{}[]|()")
# Quantifiers that make the preceding character optional.
_OPTIONAL: Final = frozenset("?*{")
# Group openers whose meaning does not depend on case; anything else after "(?" (inline
# flags such as "(?-i:", named groups, comments) disables the case-folded fast path.
_CASE_NEUTRAL_GROUPS: Final = (":", "=", "!", "<=", "<!")
# Escapes whose meaning depends on case or on character values: code points, named
# characters, backreferences.  (\d \w \s \b and their capitals are case-neutral.)
_UNSAFE_ESCAPES: Final = frozenset("xuUN0123456789")

Search = Callable[[str], "re.Match[str] | None"]


class CompiledRule:
    """One rule with its patterns compiled; immutable, hashable by identity."""

    __slots__ = ("name", "category", "priority", "_status", "_enhanced", "_response", "_literals", "_searches")

    def __init__(self, name: str, category: str, priority: int, status_code: str, enhanced_status: str, response: str):
        if category not in CATEGORY_SLUGS:
            raise ValueError(f"bounce rule {name!r}: unknown category {category!r}")
        self.name = name
        self.category = category
        self.priority = priority
        self._status = _compile(name, "status_code", status_code, 0)
        self._enhanced = _compile(name, "enhanced_status", enhanced_status, 0)
        self._response = _compile(name, "response", response, re.IGNORECASE)
        fast = _fast_matchers(response) if response else None
        # None means "no fast path": use the IGNORECASE regex on the original text.
        self._literals: tuple[str, ...] | None = fast[0] if fast else None
        self._searches: tuple[Search, ...] = fast[1] if fast else ()

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> CompiledRule:
        """Build from a DEFAULT_RULES dict or a ``BounceRule.objects.values()`` row."""
        return cls(
            name=str(row["name"]),
            category=str(row["category"]),
            priority=int(row.get("priority", 100)),
            status_code=str(row.get("status_code") or ""),
            enhanced_status=str(row.get("enhanced_status") or ""),
            response=str(row.get("response") or ""),
        )

    @property
    def needs_text(self) -> bool:
        return self._response is not None

    def codes_match(self, status: str, enhanced: str) -> bool:
        """Status/enhanced patterns only; results are memoised per code pair by _RuleIndex."""
        return (self._status is None or self._status.search(status) is not None) and (
            self._enhanced is None or self._enhanced.search(enhanced) is not None
        )

    def text_matches(self, text: str, lowered: str | None) -> bool:
        """Response pattern; `lowered` is text.lower() for ASCII text, else None."""
        if self._response is None:
            return True
        literals = self._literals
        if lowered is None or literals is None:
            return self._response.search(text) is not None
        for literal in literals:
            if literal in lowered:
                return True
        # A plain loop: any() over a generator costs ~0.1 us more per call on this hot path.
        for search in self._searches:  # noqa: SIM110
            if search(lowered) is not None:
                return True
        return False

    def __repr__(self) -> str:
        return f"CompiledRule({self.name!r}, {self.category!r}, priority={self.priority})"


def compile_rules(rows: Iterable[Mapping[str, Any]]) -> list[CompiledRule]:
    """Compile rule rows, skipping disabled ones, sorted by priority (stable on ties).

    Raises ValueError naming the rule when a pattern or category is invalid, so an admin
    form can report it.
    """
    rules = [CompiledRule.from_row(row) for row in rows if row.get("enabled", True)]
    rules.sort(key=attrgetter("priority"))
    return rules


def default_rules() -> list[CompiledRule]:
    """The compiled DEFAULT_RULES (a fresh list; the rules themselves are shared)."""
    return list(_default_index().rules)


def classify(
    status_code: int | None,
    enhanced_status: str | None,
    response: str | None,
    rules: Sequence[CompiledRule] | None = None,
) -> str:
    """Return the bounce category slug, or "" when the event is not a failure.

    "Not a failure" means a 1xx-3xx status, or no status with a class-2 (or no) enhanced
    code and no text at all.  Missing status/enhanced codes are inferred from the text.
    A failure that no rule matches is "other".  `rules` defaults to DEFAULT_RULES.
    """
    if status_code is not None and 100 <= status_code < 400:
        return NOT_A_BOUNCE
    text = response or ""
    enhanced = enhanced_status.strip().lstrip("#") if enhanced_status else ""
    status = status_code
    if status is None or not enhanced:
        inferred_status, inferred_enhanced = infer_codes(text)
        if status is None:
            status = inferred_status
        if not enhanced:
            enhanced = inferred_enhanced
    if status is not None and 400 <= status < 600:
        status_text = str(status)
    elif status is not None and 100 <= status < 400:
        return NOT_A_BOUNCE
    else:
        # No usable status: decide from the enhanced class, or from the mere presence of
        # text (locally generated failures such as "connect to ...: Connection timed out").
        if enhanced[:1] in ("1", "2", "3") or (not enhanced and (not text or text.isspace())):
            return NOT_A_BOUNCE
        status_text = ""
    index = _default_index() if rules is None else _index_for(rules)
    return index.classify(status_text, enhanced, text)


def infer_codes(text: str) -> tuple[int | None, str]:
    """(status code, enhanced status) found in a response text; (None, "") if absent."""
    leading = _LEADING_CODES.match(text)
    if leading is not None and leading.group(2):
        return int(leading.group(1)), leading.group(2)
    status = int(leading.group(1)) if leading is not None else None
    pair = _EMBEDDED_CODES.search(text)
    if pair is not None:
        return (int(pair.group(1)) if status is None else status), pair.group(2)
    if status is None:
        bare = _EMBEDDED_STATUS.search(text)
        status = int(bare.group(1)) if bare is not None else None
    lone = _LONE_ENHANCED.search(text)
    return status, (lone.group(1) if lone is not None else "")


class _RuleIndex:
    """A priority-ordered rule set plus the memo of rules applicable per code pair."""

    __slots__ = ("rules", "_candidates")

    def __init__(self, rules: Iterable[CompiledRule]):
        self.rules: tuple[CompiledRule, ...] = tuple(sorted(rules, key=attrgetter("priority")))
        self._candidates: dict[tuple[str, str], tuple[CompiledRule, ...]] = {}

    def classify(self, status: str, enhanced: str, text: str) -> str:
        candidates = self._candidates.get((status, enhanced))
        if candidates is None:
            candidates = self._remember(status, enhanced)
        lowered: str | None = None
        lowered_done = False
        for rule in candidates:
            if not rule.needs_text:
                return rule.category
            if not lowered_done:  # lower-case once, and only if some rule reads the text
                lowered = text.lower() if text.isascii() else None
                lowered_done = True
            if rule.text_matches(text, lowered):
                return rule.category
        return OTHER

    def _remember(self, status: str, enhanced: str) -> tuple[CompiledRule, ...]:
        applicable: list[CompiledRule] = []
        for rule in self.rules:
            if rule.codes_match(status, enhanced):
                applicable.append(rule)
                if not rule.needs_text:
                    break  # it always matches: later rules can never win
        if len(self._candidates) >= _MAX_CODE_KEYS:
            self._candidates.clear()
        found = self._candidates[(status, enhanced)] = tuple(applicable)
        return found


@cache
def _default_index() -> _RuleIndex:
    return _RuleIndex(compile_rules(DEFAULT_RULES))


# Indexes for caller-supplied rule lists, keyed by the rules themselves (identity
# hashing) so a mutated or rebuilt list never reuses a stale index.
_custom_indexes: dict[tuple[CompiledRule, ...], _RuleIndex] = {}


def _index_for(rules: Sequence[CompiledRule]) -> _RuleIndex:
    key = tuple(rules)
    index = _custom_indexes.get(key)
    if index is None:
        if len(_custom_indexes) >= _MAX_RULE_SETS:
            _custom_indexes.clear()
        index = _custom_indexes[key] = _RuleIndex(key)
    return index


def _compile(name: str, field: str, pattern: str, flags: int) -> re.Pattern[str] | None:
    if not pattern:
        return None
    try:
        return re.compile(pattern, flags)
    except re.error as exc:
        raise ValueError(f"bounce rule {name!r}: invalid {field} pattern: {exc}") from exc


def _fast_matchers(pattern: str) -> tuple[tuple[str, ...], tuple[Search, ...]] | None:
    """Literals and grouped regexes equivalent to IGNORECASE `pattern` on lowered ASCII.

    A search for "a|b|c" succeeds iff one alternative matches somewhere, so alternatives
    can be tested separately and in any order.  Alternatives (literals included) that
    share a required first character form one regex: `re` factors the common character
    out and scans for it in C, so one call covers the whole group.  A group that is a
    single literal becomes an ``in`` test, cheaper still.
    """
    folded = _case_folded_pattern(pattern)
    if folded is None:
        return None
    groups: dict[str, list[str]] = {}
    lone_literals: list[str] = []
    for alternative in _split_alternatives(folded):
        literal = _as_literal(alternative)
        if literal == "":
            return (("",), ())  # an empty alternative matches any text
        first = alternative[0]
        required = first not in _META and first != "\\" and alternative[1:2] not in _OPTIONAL
        key = literal[0] if literal is not None else (first if required else "")
        groups.setdefault(key, []).append(re.escape(literal) if literal is not None else alternative)
    searches: list[Search] = []
    for members in groups.values():
        literal = _as_literal(members[0]) if len(members) == 1 else None
        if literal is not None:
            lone_literals.append(literal)
        else:
            searches.append(re.compile("|".join(members)).search)
    return tuple(lone_literals), tuple(searches)


def _case_folded_pattern(pattern: str) -> str | None:
    """Lower-case `pattern` so that, matched case-sensitively against lower-cased ASCII
    text, it matches exactly where IGNORECASE `pattern` matches the original text.

    Returns None whenever that cannot be guaranteed: non-ASCII patterns (case folds
    such as "ſ" ~ "s"), code-point escapes and backreferences, inline flags or named
    groups, and character ranges mixing letter cases ("[0-z]").
    """
    if not pattern.isascii():
        return None
    out: list[str] = []
    i, size = 0, len(pattern)
    class_start = -1  # index of the first member of the open [...] class, or -1
    after_escape = -1  # index just past the last escape, to spot "\w-x" ranges
    while i < size:
        char = pattern[i]
        if char == "\\":
            if i + 1 >= size or pattern[i + 1] in _UNSAFE_ESCAPES:
                return None
            out.append(pattern[i : i + 2])  # \S, \d, \. ... keep verbatim
            i += 2
            after_escape = i
            continue
        if class_start < 0:
            if char == "[":
                i, class_start = _open_class(pattern, i, out)
                continue
            if char == "(" and pattern.startswith("?", i + 1) and not pattern.startswith(_CASE_NEUTRAL_GROUPS, i + 2):
                return None
        elif char == "]" and i > class_start:
            class_start = -1
        elif char == "-" and i > class_start and pattern[i + 1 : i + 2] not in ("]", ""):
            escaped_end = after_escape == i or pattern[i + 1] == "\\"
            if escaped_end or not _range_is_case_safe(pattern[i - 1], pattern[i + 1]):
                return None
        out.append(char.lower())
        i += 1
    return "".join(out)


def _open_class(pattern: str, i: int, out: list[str]) -> tuple[int, int]:
    """Copy "[", an optional "^" and a leading literal "]"; return (next index, class start)."""
    out.append("[")
    i += 1
    if pattern.startswith("^", i):
        out.append("^")
        i += 1
    start = i
    if pattern.startswith("]", i):
        out.append("]")
        i += 1
    return i, start


def _range_is_case_safe(low: str, high: str) -> bool:
    """A range survives lower-casing if it holds no letters, or only letters of one case."""
    if low.isalpha() and high.isalpha():
        return low.islower() == high.islower()
    return not any(chr(code).isalpha() for code in range(ord(low), ord(high) + 1))


def _split_alternatives(pattern: str) -> list[str]:
    """Split on "|" outside groups, classes and escapes."""
    parts: list[str] = []
    depth, start, i, in_class = 0, 0, 0, False
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            i += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
            i += 1 + pattern.startswith("^", i + 1)
            i += pattern.startswith("]", i)  # a leading "]" is a member, not the end
            continue
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|" and depth == 0:
            parts.append(pattern[start:i])
            start = i + 1
        i += 1
    parts.append(pattern[start:])
    return parts


def _as_literal(alternative: str) -> str | None:
    """The plain string an alternative stands for, or None if it uses regex syntax."""
    chars: list[str] = []
    i = 0
    while i < len(alternative):
        char = alternative[i]
        if char == "\\":
            escaped = alternative[i + 1 : i + 2]
            if not escaped or escaped.isalnum():
                return None  # \d, \b, ... are not literals
            chars.append(escaped)
            i += 2
            continue
        if char in _META:
            return None
        chars.append(char)
        i += 1
    return "".join(chars)
