"""Dataset items as JSONL, CSV and promptfoo tests.

CSV cells that a spreadsheet would run as a formula (starting with ``=``, ``+``, ``-``,
``@``, a tab or a carriage return) are written with a leading ``'`` (OWASP's advice against
CSV injection); import removes that quote again, so a round trip keeps the text.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import yaml

from promptloop.evals.datasets import INPUT_VAR, STATUSES, NewItem

FORMATS = ("jsonl", "csv", "promptfoo")
EXPORT_FIELDS = (
    "item_id",
    "source_interaction_id",
    "feature",
    "prompt_name",
    "prompt_version",
    "input",
    "vars",
    "bad_output",
    "reference",
    "feedback_types",
    "status",
    "expected",
    "assertions",
    "split",
)
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_STRUCTURED = ("vars", "assertions")


def neutralise(cell: str) -> str:
    """A CSV cell a spreadsheet shows as text rather than evaluating."""
    return "'" + cell if cell.startswith(_FORMULA_STARTS) else cell


def restore(cell: str) -> str:
    """Undo :func:`neutralise`."""
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(_FORMULA_STARTS) else cell


def _export_row(item: Mapping[str, Any]) -> dict[str, Any]:
    return {name: item.get(name) for name in EXPORT_FIELDS}


def to_jsonl(items: Iterable[Mapping[str, Any]]) -> str:
    return "".join(
        json.dumps(_export_row(item), ensure_ascii=False, default=str) + "\n" for item in items
    )


def to_csv(items: Iterable[Mapping[str, Any]]) -> str:
    buffer = io.StringIO()
    # CRLF rows (RFC 4180): a field holding a bare "\r" is then quoted, not split in two.
    writer = csv.DictWriter(buffer, fieldnames=EXPORT_FIELDS, lineterminator="\r\n")
    writer.writeheader()
    for item in items:
        row = _export_row(item)
        cells = {}
        for name, value in row.items():
            if name in _STRUCTURED:
                value = json.dumps(value or ({} if name == "vars" else []), ensure_ascii=False)
            cells[name] = "" if value is None else neutralise(str(value))
        writer.writerow(cells)
    return buffer.getvalue()


def item_assertions(item: Mapping[str, Any]) -> list[dict[str, Any]]:
    """An item's own assertions: its assertion list, and its expected property as a rubric."""
    found = [dict(spec) for spec in item.get("assertions") or []]
    if item.get("expected"):
        found.append({"type": "llm-rubric", "value": item["expected"]})
    return found


def to_promptfoo(items: Iterable[Mapping[str, Any]], *, description: str | None = None) -> str:
    """promptfoo ``tests`` (YAML): vars, assertions, and the source in ``metadata``."""
    tests = []
    for item in items:
        test: dict[str, Any] = {
            "description": _description(item),
            "vars": dict(item.get("vars") or {INPUT_VAR: item.get("input")}),
        }
        asserts = item_assertions(item)
        if asserts:
            test["assert"] = asserts
        metadata = {
            key: item[key]
            for key in ("item_id", "source_interaction_id", "reference")
            if item.get(key)
        }
        if metadata:
            test["metadata"] = metadata
        tests.append(test)
    document: dict[str, Any] = {"tests": tests}
    if description:
        document = {"description": description, **document}
    return str(yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100))


def _description(item: Mapping[str, Any]) -> str:
    text = " ".join(str(item.get("input") or "").split())
    return text if len(text) <= 80 else text[:79] + "…"


# ---------------------------------------------------------------------- import


class ImportReport:
    """The items that parsed, and a message per line or row that did not."""

    def __init__(self) -> None:
        self.items: list[NewItem] = []
        self.errors: list[str] = []


def from_jsonl(text: str) -> ImportReport:
    report = ImportReport()
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if not isinstance(record, dict):
                raise ValueError("expected a JSON object")
            report.items.append(new_item(record))
        except ValueError as exc:
            report.errors.append(f"line {number}: {exc}")
    return report


def from_csv(text: str) -> ImportReport:
    report = ImportReport()
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        rows = list(reader)
    except csv.Error as exc:  # malformed CSV is bad input, not a server error
        report.errors.append(f"row {reader.line_num}: not valid CSV: {exc}")
        return report
    for number, row in enumerate(rows, start=2):
        try:
            record: dict[str, Any] = {
                key: restore(value) for key, value in row.items() if key and value not in ("", None)
            }
            for name in _STRUCTURED:
                if name in record:
                    try:
                        record[name] = json.loads(record[name])
                    except ValueError:
                        raise ValueError(f"{name}: not valid JSON") from None
            report.items.append(new_item(record))
        except ValueError as exc:
            report.errors.append(f"row {number}: {exc}")
    return report


def new_item(record: Mapping[str, Any]) -> NewItem:
    """An imported record as an item; raises ``ValueError`` naming the bad field."""
    variables = record.get("vars") or {}
    if not isinstance(variables, Mapping):
        raise ValueError("vars: expected an object")
    text = record.get("input", variables.get(INPUT_VAR))
    if text is None and not variables:
        raise ValueError("input: required (or vars)")
    if text is not None and not isinstance(text, str):
        raise ValueError("input: expected a string")
    assertions = record.get("assertions") or []
    if not isinstance(assertions, list) or not all(isinstance(a, Mapping) for a in assertions):
        raise ValueError("assertions: expected a list of objects")
    status = str(record.get("status") or "accepted")
    if status not in STATUSES:
        raise ValueError(f"status: {status!r} is not one of {', '.join(STATUSES)}")
    merged_vars = dict(variables)
    if text is not None:
        merged_vars.setdefault(INPUT_VAR, text)
    return NewItem(
        input=text,
        vars=merged_vars,
        bad_output=_optional_str(record, "bad_output"),
        reference=_optional_str(record, "reference"),
        source_interaction_id=_optional_str(record, "source_interaction_id"),
        feature=_optional_str(record, "feature"),
        prompt_name=_optional_str(record, "prompt_name"),
        prompt_version=_optional_str(record, "prompt_version"),
        feedback_types=_optional_str(record, "feedback_types"),
        status=status,
        expected=_optional_str(record, "expected"),
        assertions=[dict(a) for a in assertions],
        accepted_by="import" if status == "accepted" else None,
    )


def _optional_str(record: Mapping[str, Any], key: str) -> str | None:
    value = record.get(key)
    if value is None:
        return None
    if not isinstance(value, str | int | float):
        raise ValueError(f"{key}: expected text")
    return str(value)


def parse(text: str, fmt: str) -> ImportReport:
    if fmt == "jsonl":
        return from_jsonl(text)
    if fmt == "csv":
        return from_csv(text)
    raise ValueError(f"format: {fmt!r} cannot be imported; one of: jsonl, csv")


def render(items: Sequence[Mapping[str, Any]], fmt: str, *, description: str | None = None) -> str:
    if fmt == "jsonl":
        return to_jsonl(items)
    if fmt == "csv":
        return to_csv(items)
    if fmt == "promptfoo":
        return to_promptfoo(items, description=description)
    raise ValueError(f"format: {fmt!r} is not one of: {', '.join(FORMATS)}")
