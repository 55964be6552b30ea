"""Small helpers shared by the SQL backends."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from typing import Any, TypeVar

import orjson

from promptloop.core.records import FeedbackEvent, Interaction

# `:name` but not the `::type` cast operator nor a `:` inside a time literal like '12:30'.
_NAMED_PARAM = re.compile(r"(?<![:\w]):([A-Za-z_][A-Za-z0-9_]*)")

INTERACTION_COLUMNS: tuple[str, ...] = tuple(Interaction.model_fields)
FEEDBACK_COLUMNS: tuple[str, ...] = tuple(FeedbackEvent.model_fields)

Record = TypeVar("Record", Interaction, FeedbackEvent)


def to_dollar_params(sql: str) -> str:
    """``:name`` to DuckDB's ``$name``."""
    return _NAMED_PARAM.sub(r"$\1", sql)


def to_pyformat_params(sql: str) -> str:
    """``:name`` to psycopg's ``%(name)s``; literal ``%`` doubled first."""
    return _NAMED_PARAM.sub(r"%(\1)s", sql.replace("%", "%%"))


def unique_by_id(items: Sequence[Record], key: str) -> list[Record]:
    """Keep the first record of each ID: a batch may repeat an event that a client retried."""
    seen: set[str] = set()
    kept: list[Record] = []
    for item in items:
        ident = getattr(item, key)
        if ident not in seen:
            seen.add(ident)
            kept.append(item)
    return kept


_ORJSON_OPTIONS = (
    orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
)


def metadata_json(metadata: dict[str, Any]) -> str:
    """Compact JSON text; values JSON cannot hold are written as their ``str()``.

    orjson is ~10x faster than the json module on the ingest path; what it refuses (integers
    beyond 64 bits, say) goes through json, which writes the same compact form. NaN and
    infinities become null either way.
    """
    try:
        return orjson.dumps(metadata, default=str, option=_ORJSON_OPTIONS).decode()
    except TypeError:
        return json.dumps(_finite(metadata), separators=(",", ":"), default=str, ensure_ascii=False)


def _finite(value: Any) -> Any:
    """Non-finite floats as None, as orjson writes them: the JSON columns refuse NaN."""
    if isinstance(value, dict):
        return {key: _finite(child) for key, child in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(child) for child in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def decode_json_columns(row: dict[str, Any]) -> dict[str, Any]:
    """JSON columns come back as text from DuckDB and as objects from PostgreSQL: unify."""
    value = row.get("metadata")
    if isinstance(value, str):
        row["metadata"] = json.loads(value)
    return row
