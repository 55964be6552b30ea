"""Exports: interactions and feedback to Parquet, CSV and DataFrames; feedback to Phoenix
span annotations and Langfuse scores. Filters are the explorer's
:class:`~promptloop.analytics.queries.InteractionFilter`.

>>> from promptloop.exports import to_dataframe
>>> frame = to_dataframe(store, InteractionFilter(feature="summarize"))  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any, Literal

from promptloop.analytics.queries import InteractionFilter
from promptloop.exports.annotations import (
    AnnotationExport,
    langfuse_score,
    langfuse_scores,
    phoenix_annotation,
    phoenix_annotations,
)
from promptloop.exports.files import (
    csv_chunks,
    neutralise,
    write_csv,
    write_parquet,
    write_records,
)
from promptloop.exports.tables import KINDS, Kind, check_kind, count_rows, read_table
from promptloop.store.base import Store

Library = Literal["pandas", "polars"]

__all__ = [
    "KINDS",
    "AnnotationExport",
    "Kind",
    "Library",
    "count_rows",
    "csv_chunks",
    "langfuse_score",
    "langfuse_scores",
    "neutralise",
    "phoenix_annotation",
    "phoenix_annotations",
    "read_table",
    "to_dataframe",
    "write_csv",
    "write_parquet",
    "write_records",
]


def to_dataframe(
    store: Store,
    filter: InteractionFilter | None = None,
    kind: Kind = "interactions",
    library: Library = "pandas",
) -> Any:
    """Interactions (or their feedback) as a pandas or polars DataFrame.

    Columns are the store's; ``metadata`` is a JSON string, timestamps are UTC. pandas and
    polars are optional (``pip install promptloop[dataframes]``).
    """
    table = read_table(store, check_kind(kind), filter)
    if library == "pandas":
        return table.to_pandas()
    if library == "polars":
        import polars as pl

        return pl.from_arrow(table)
    raise ValueError(f"library must be 'pandas' or 'polars', got {library!r}")
