"""The ``promptloop.*`` span attributes: what the LLM conventions have no name for.

Set them on the LLM span (or on the resource, for values that hold for a whole service)
next to whatever convention the instrumentation already speaks; they win over every
convention's own spelling. Documented in docs/otlp.md.
"""

from __future__ import annotations

NAMESPACE = "promptloop."

INTERACTION_ID = "promptloop.interaction.id"  # use this ID instead of one derived from the span
PARENT_INTERACTION_ID = "promptloop.parent_interaction.id"  # the call this one regenerated
PROMPT_NAME = "promptloop.prompt.name"
PROMPT_VERSION = "promptloop.prompt.version"
PROMPT_HASH = "promptloop.prompt.hash"
FEATURE = "promptloop.feature"
VARIANT = "promptloop.variant"  # stored as metadata["variant"], the A/B arm
SESSION_ID = "promptloop.session.id"
USER_ID = "promptloop.user.id"
COST_USD = "promptloop.cost_usd"
METADATA_PREFIX = "promptloop.metadata."  # promptloop.metadata.KEY -> metadata[KEY]
# Setting this to false on a span keeps it out of the store even when it looks like an LLM call;
# true makes any span an interaction (for hand-made spans that speak no convention).
LLM = "promptloop.llm"

ALL: tuple[str, ...] = (
    INTERACTION_ID,
    PARENT_INTERACTION_ID,
    PROMPT_NAME,
    PROMPT_VERSION,
    PROMPT_HASH,
    FEATURE,
    VARIANT,
    SESSION_ID,
    USER_ID,
    COST_USD,
    LLM,
)
