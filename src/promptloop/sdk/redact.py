"""Redaction before data leaves the app: e-mails, phone numbers, card numbers, your patterns.

Turned on with ``promptloop.init(redact=...)``; off by default. It runs on the SDK's
background thread, on each record as it is serialised (never on the thread that called
the LLM), and covers the free text of a record: ``system_prompt``, ``user_input``,
``raw_output``, ``error``, ``user_edit``, ``comment`` and every string inside ``metadata``
(keys are left alone). Spooled records are redacted too: redaction happens before the spool.

``redact`` accepts:

* ``True``: every built-in rule (``"card"``, ``"email"``, ``"phone"``, in that order);
* a built-in name, a regular expression (a ``str`` that is not a built-in name, or a
  compiled pattern; matches become ``[REDACTED]``), or a callable ``str -> str``;
* a list of those, applied in order; or a :class:`Redactor`.

Card numbers are 13 to 19 digits (spaces or dashes allowed) that pass the Luhn check, so
order numbers and timestamps are left alone. Phone numbers are 7 to 15 digits with optional
``+``, spaces, dots, dashes and parentheses. If a rule raises, the record is dropped and
counted as failed (``client.stats()["failed"]``): it is never sent unredacted.

>>> Redactor.from_spec(True).text("mail ana@example.com or call +44 20 7946 0958")
'mail [EMAIL] or call [PHONE]'
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from promptloop.exceptions import ConfigError

TEXT_FIELDS = ("system_prompt", "user_input", "raw_output", "error", "user_edit", "comment")
REPLACEMENT = "[REDACTED]"
MAX_DEPTH = 32

Rule = Callable[[str], str]

# RFC 5322 "atext" local parts; domains of labels, punycode TLDs included.
_EMAIL = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
)
_CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d])")
_PHONE = re.compile(r"(?<![\w+])\+?\(?\d[\d\s().-]{5,20}\d(?![\w])")
# Dates and times look like phone numbers to the pattern above; they are not redacted.
_DATE = re.compile(r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{4}")


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum of a string of digits (card numbers pass it, typos do not)."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _digits(text: str) -> str:
    return "".join(char for char in text if char.isdigit())


def redact_cards(text: str) -> str:
    def replace(match: re.Match[str]) -> str:
        digits = _digits(match.group())
        return "[CARD]" if 13 <= len(digits) <= 19 and luhn_valid(digits) else match.group()

    return _CARD.sub(replace, text)


def redact_emails(text: str) -> str:
    return _EMAIL.sub("[EMAIL]", text)


def redact_phones(text: str) -> str:
    def replace(match: re.Match[str]) -> str:
        found = match.group()
        if _DATE.search(found) or not 7 <= len(_digits(found)) <= 15:
            return found
        return "[PHONE]"

    return _PHONE.sub(replace, text)


BUILT_INS: dict[str, Rule] = {"card": redact_cards, "email": redact_emails, "phone": redact_phones}


def _pattern_rule(pattern: re.Pattern[str]) -> Rule:
    def rule(text: str) -> str:
        return pattern.sub(REPLACEMENT, text)

    return rule


def _rule(item: Any) -> list[Rule]:
    if item is True:
        return list(BUILT_INS.values())
    if isinstance(item, str):
        if item in BUILT_INS:
            return [BUILT_INS[item]]
        try:
            return [_pattern_rule(re.compile(item))]
        except re.error as exc:
            raise ConfigError(
                f"redact: {item!r} is not a built-in rule or a regex: {exc}"
            ) from None
    if isinstance(item, re.Pattern):
        return [_pattern_rule(item)]
    if callable(item):
        return [item]
    raise ConfigError(
        f"redact: {item!r} is not True, a rule name ({', '.join(BUILT_INS)}), a regex or a callable"
    )


class Redactor:
    """Rules applied in order to every free-text field of a record."""

    def __init__(self, rules: Iterable[Rule]) -> None:
        self.rules = tuple(rules)

    @classmethod
    def from_spec(cls, spec: Any) -> Redactor | None:
        """The redactor ``init(redact=spec)`` asks for; None when redaction is off."""
        if spec is None or spec is False:
            return None
        if isinstance(spec, Redactor):
            return spec
        items = spec if isinstance(spec, list | tuple | set | frozenset) else [spec]
        rules = [rule for item in items for rule in _rule(item)]
        return cls(rules) if rules else None

    def text(self, value: str) -> str:
        for rule in self.rules:
            value = rule(value)
            if not isinstance(value, str):
                raise TypeError(f"a redaction rule returned {type(value).__name__}, not str")
        return value

    def value(self, value: Any, depth: int = 0) -> Any:
        """Strings redacted, containers walked (keys kept), everything else unchanged."""
        if isinstance(value, str):
            return self.text(value)
        if depth >= MAX_DEPTH and isinstance(value, Mapping | list | tuple):
            return REPLACEMENT  # too deep to walk: fail closed, never send it as is
        if isinstance(value, Mapping):
            return {key: self.value(item, depth + 1) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self.value(item, depth + 1) for item in value]
        return value

    def record(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """A copy of a wire record with its free text redacted."""
        out = dict(record)
        for name in TEXT_FIELDS:
            value = out.get(name)
            if isinstance(value, str):
                out[name] = self.text(value)
        metadata = out.get("metadata")
        if isinstance(metadata, Mapping):
            out["metadata"] = self.value(metadata)
        return out

    def __call__(self, record: Mapping[str, Any]) -> dict[str, Any]:
        return self.record(record)


Encoder = Callable[[Mapping[str, Any]], bytes]


def redacting(encode: Encoder, redactor: Redactor | None) -> Encoder:
    """The transport's record encoder: ``encode``, after redaction when it is on."""
    if redactor is None:
        return encode
    return lambda record: encode(redactor.record(record))
