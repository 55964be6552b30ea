"""is-json and contains-json, optionally validated against a JSON schema (``jsonschema``).

The value is the schema: a mapping, or a JSON/YAML string, or ``file://schema.json``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import yaml

from promptloop.evals.assertions._registry import AssertionValueError, Check, register_assertion
from promptloop.evals.judge import json_objects
from promptloop.evals.types import GradingResult


def _validator(schema_value: Any) -> Any:
    schema = schema_value
    if isinstance(schema, str):
        text = schema
        if schema.startswith("file://"):
            path = Path(schema.removeprefix("file://"))
            try:
                text = path.read_text(encoding="utf-8")
            except OSError as exc:
                raise AssertionValueError(f"cannot read the schema file {path}: {exc}") from exc
        try:
            schema = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise AssertionValueError(f"Invalid JSON schema: {exc}") from exc
    if not isinstance(schema, Mapping | bool):
        raise AssertionValueError("Invalid JSON schema: expected an object or a boolean")
    cls = jsonschema.validators.validator_for(schema)
    try:
        cls.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise AssertionValueError(f"Invalid JSON schema: {exc.message}") from exc
    return cls(schema)


def _schema_errors(validator: Any, instance: Any) -> list[str]:
    return [
        f"{'/'.join(map(str, error.absolute_path)) or '(root)'}: {error.message}"
        for error in validator.iter_errors(instance)
    ]


def is_json(check: Check) -> GradingResult:
    try:
        parsed = json.loads(check.output)
    except ValueError:
        return check.binary(False, "be valid JSON")
    if check.value in (None, ""):
        return check.binary(True, "be valid JSON")
    errors = _schema_errors(_validator(check.value), parsed)
    if check.inverse:
        return check.binary(not errors, "be JSON conforming to the provided schema")
    if errors:
        return GradingResult(
            False,
            0.0,
            "JSON does not conform to the provided schema. Errors: " + "; ".join(errors[:5]),
            assertion=check.spec,
        )
    return check.binary(True, "be valid JSON")


def contains_json(check: Check) -> GradingResult:
    candidates = json_objects(check.output)
    if not candidates:
        return check.binary(False, "contain valid JSON")
    if check.value in (None, ""):
        return check.binary(True, "contain valid JSON")
    validator = _validator(check.value)
    errors: list[str] = []
    for candidate in candidates:
        errors = _schema_errors(validator, candidate)
        if not errors:
            return check.binary(True, "contain JSON conforming to the provided schema")
    if check.inverse:
        return check.binary(False, "contain JSON conforming to the provided schema")
    return GradingResult(
        False,
        0.0,
        "JSON does not conform to the provided schema. Errors: " + "; ".join(errors[:5]),
        assertion=check.spec,
    )


register_assertion("is-json", is_json, needs_value=False)
register_assertion("contains-json", contains_json, needs_value=False)
