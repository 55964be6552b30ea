"""Deterministic text assertions, with promptfoo's names and semantics.

equals, contains, icontains, contains-any, contains-all, icontains-any, icontains-all,
starts-with, regex, word-count, levenshtein and rouge-n. A list value for the ``-any``/``-all``
types may be written as one comma-separated string (quotes keep commas inside a value).
"""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from collections.abc import Mapping
from typing import Any

from rapidfuzz.distance import Levenshtein

from promptloop.evals.assertions._registry import AssertionValueError, Check, register_assertion
from promptloop.evals.types import GradingResult

DEFAULT_LEVENSHTEIN_THRESHOLD = 5.0
DEFAULT_ROUGE_THRESHOLD = 0.75


def _scalar(check: Check) -> str:
    value = check.value
    if isinstance(value, bool) or not isinstance(value, str | int | float) or value == "":
        raise AssertionValueError("value must be a non-empty string or a number")
    return str(value)


def _values(check: Check) -> list[str]:
    value = check.value
    if isinstance(value, str):
        value = [item.strip() for item in next(csv.reader([value], skipinitialspace=True))]
    if not isinstance(value, list) or not value:
        raise AssertionValueError("value must be a list (or a comma-separated string)")
    return [str(item) for item in value]


def equals(check: Check) -> GradingResult:
    if isinstance(check.value, Mapping | list):
        try:
            holds = json.loads(check.output) == check.value
        except ValueError:
            holds = False
        expected = json.dumps(check.value)
    else:
        value = check.value
        expected = json.dumps(value) if isinstance(value, bool) else str(value)
        holds = check.output == expected
    return check.binary(holds, f'equal "{expected}"')


def contains(check: Check) -> GradingResult:
    needle = _scalar(check)
    return check.binary(needle in check.output, f'contain "{needle}"')


def icontains(check: Check) -> GradingResult:
    needle = _scalar(check)
    return check.binary(needle.lower() in check.output.lower(), f'contain "{needle}"')


def _any(check: Check, fold: bool) -> GradingResult:
    values = _values(check)
    haystack = check.output.lower() if fold else check.output
    holds = any((v.lower() if fold else v) in haystack for v in values)
    return check.binary(holds, f'contain one of "{", ".join(values)}"')


def _all(check: Check, fold: bool) -> GradingResult:
    values = _values(check)
    haystack = check.output.lower() if fold else check.output
    missing = [v for v in values if (v.lower() if fold else v) not in haystack]
    return check.binary(
        not missing, f"contain all of [{', '.join(values)}]. Missing: [{', '.join(missing)}]"
    )


def starts_with(check: Check) -> GradingResult:
    prefix = _scalar(check)
    return check.binary(check.output.startswith(prefix), f'start with "{prefix}"')


def regex(check: Check) -> GradingResult:
    pattern = _scalar(check)
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        return GradingResult(False, 0.0, f"Invalid regex pattern: {exc}", assertion=check.spec)
    return check.binary(compiled.search(check.output) is not None, f'match regex "{pattern}"')


def count_words(text: str) -> int:
    return len(text.split())


def word_count(check: Check) -> GradingResult:
    count = count_words(check.output)
    value = check.value
    if isinstance(value, Mapping):
        low, high = value.get("min"), value.get("max")
        for name, bound in (("min", low), ("max", high)):
            if bound is not None and (
                isinstance(bound, bool) or not isinstance(bound, int | float)
            ):
                raise AssertionValueError(f"value.{name} must be a number")
        if low is None and high is None:
            raise AssertionValueError("value must have 'min' and/or 'max'")
        if low is not None and high is not None and low > high:
            raise AssertionValueError(f"value.min ({low}) must not exceed value.max ({high})")
        holds = (low is None or count >= low) and (high is None or count <= high)
        bounds = " and ".join(
            part
            for part in (
                f"at least {low}" if low is not None else "",
                f"at most {high}" if high is not None else "",
            )
            if part
        )
        return _counted(check, holds, f"have {bounds} words", count)
    try:
        expected = int(float(value))
    except (TypeError, ValueError) as exc:
        raise AssertionValueError("value must be a number or {min, max}") from exc
    return _counted(check, count == expected, f"have exactly {expected} words", count)


def _counted(check: Check, holds: bool, expectation: str, count: int) -> GradingResult:
    result = check.binary(holds, expectation)
    if not result.passed:
        result.reason += f" (got {count})"
    return result


def levenshtein(check: Check) -> GradingResult:
    if not isinstance(check.value, str):
        raise AssertionValueError("value must be a string")
    threshold = (
        check.spec.threshold if check.spec.threshold is not None else DEFAULT_LEVENSHTEIN_THRESHOLD
    )
    distance = Levenshtein.distance(check.output, check.value)
    passed = (distance <= threshold) != check.inverse
    if passed:
        reason = f"Levenshtein distance {distance} {'>' if check.inverse else '<='} {threshold:g}"
    elif check.inverse:
        reason = f"Levenshtein distance {distance} is within threshold {threshold:g}"
    else:
        reason = f"Levenshtein distance {distance} is greater than threshold {threshold:g}"
    return GradingResult(passed, 1.0 if passed else 0.0, reason, assertion=check.spec)


_TOKEN = re.compile(r"\w+(?:'\w+)?|[^\w\s]")


def rouge_n_score(candidate: str, reference: str, n: int = 1) -> float:
    """ROUGE-N recall: the share of the reference's n-grams the candidate contains (clipped
    counts, case-sensitive, words and punctuation as tokens)."""

    def grams(text: str) -> Counter[tuple[str, ...]]:
        tokens = _TOKEN.findall(text)
        return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))

    reference_grams = grams(reference)
    total = sum(reference_grams.values())
    if total == 0:
        return 0.0
    matched = sum((grams(candidate) & reference_grams).values())
    return matched / total


def rouge_n(check: Check) -> GradingResult:
    if not isinstance(check.value, str) or not check.value:
        raise AssertionValueError("value must be a non-empty reference string")
    n = _int_config(check, "n", 1)
    threshold = (
        check.spec.threshold if check.spec.threshold is not None else DEFAULT_ROUGE_THRESHOLD
    )
    score = rouge_n_score(check.output, check.value, n)
    passed = (score >= threshold) != check.inverse
    comparison = "is greater than or equal to" if score >= threshold else "is less than"
    return GradingResult(
        passed,
        1 - score if check.inverse else score,
        f"ROUGE-{n} score {score:.2f} {comparison} threshold {threshold:g}",
        assertion=check.spec,
    )


def _int_config(check: Check, name: str, default: int) -> int:
    value: Any = check.spec.config.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise AssertionValueError(f"config.{name} must be a positive integer")
    return value


register_assertion("equals", equals, uses_reference=True)
register_assertion("contains", contains)
register_assertion("icontains", icontains)
register_assertion("contains-any", lambda c: _any(c, fold=False))
register_assertion("icontains-any", lambda c: _any(c, fold=True))
register_assertion("contains-all", lambda c: _all(c, fold=False))
register_assertion("icontains-all", lambda c: _all(c, fold=True))
register_assertion("starts-with", starts_with)
register_assertion("regex", regex)
register_assertion("word-count", word_count)
register_assertion("levenshtein", levenshtein, uses_reference=True)
register_assertion("rouge-n", rouge_n, uses_reference=True)
