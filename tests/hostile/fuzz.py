"""Shared settings and strategies of the hostile-input tests.

``make test`` runs each property with a few dozen derandomised examples (deterministic,
fast); ``benchmarks/reliability_hostile.py`` sets ``PROMPTLOOP_FUZZ_EXAMPLES`` to run the
same properties with thousands of random examples.
"""

from __future__ import annotations

import os
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

EXAMPLES = int(os.environ.get("PROMPTLOOP_FUZZ_EXAMPLES", "15"))
LONG_RUN = "PROMPTLOOP_FUZZ_EXAMPLES" in os.environ

FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=not LONG_RUN,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
    ],
)

# Text that hurts: control characters, lone surrogates excluded (JSON cannot carry them),
# right-to-left marks, NUL, markup and SQL fragments.
NASTY = st.sampled_from(
    [
        "'; DROP TABLE llm_interaction_logs; --",
        '" OR 1=1 --',
        "<script>window.__xss=1</script>",
        '<img src=x onerror="window.__xss=1">',
        '=HYPERLINK("http://evil.example","click")',
        "+cmd|' /C calc'!A0",
        "@SUM(1+1)",
        "\x00",
        "\u202e",
        "{{variable}}",
        "../../etc/passwd",
        "%s%s%s%n",
    ]
)
TEXT = st.one_of(st.text(max_size=60), NASTY)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    TEXT,
)


def json_values(max_leaves: int = 12) -> st.SearchStrategy[Any]:
    return st.recursive(
        SCALARS,
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(st.text(max_size=10), children, max_size=4)
        ),
        max_leaves=max_leaves,
    )


def records(known_keys: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """Dicts mixing a model's own keys (snake and camel case) with strangers."""
    key = st.one_of(st.sampled_from(known_keys), st.text(max_size=12))
    return st.dictionaries(key, json_values(6), max_size=10)
