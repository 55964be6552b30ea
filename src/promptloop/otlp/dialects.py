"""What each LLM tracing convention calls the fields of an interaction.

One extractor per convention reads a span's attributes (and events) into a partial
interaction; :mod:`promptloop.otlp.normalise` merges them, the most specific convention
first. Attribute names, as their projects spell them:

- OpenTelemetry GenAI (current): ``gen_ai.operation.name``, ``gen_ai.provider.name``,
  ``gen_ai.request.model``, ``gen_ai.response.model``, ``gen_ai.usage.input_tokens`` /
  ``output_tokens``, ``gen_ai.input.messages``, ``gen_ai.output.messages``,
  ``gen_ai.system_instructions``, ``gen_ai.conversation.id``; the same three message
  attributes on a ``gen_ai.client.inference.operation.details`` event.
- OpenTelemetry GenAI (legacy): ``gen_ai.system``, ``gen_ai.usage.prompt_tokens`` /
  ``completion_tokens``, ``gen_ai.prompt`` / ``gen_ai.completion`` (as attributes or on
  ``gen_ai.content.prompt`` / ``gen_ai.content.completion`` events), and per-message events
  ``gen_ai.system.message``, ``gen_ai.user.message``, ``gen_ai.assistant.message``,
  ``gen_ai.choice``.
- OpenInference (Arize Phoenix): ``openinference.span.kind`` = ``LLM``, ``llm.model_name``,
  ``llm.token_count.prompt`` / ``completion``, ``llm.input_messages.N.message.role`` /
  ``content`` (or ``contents.M.message_content.text``), ``llm.output_messages.N...``,
  ``input.value``, ``output.value``, ``llm.prompt_template.template`` / ``version`` /
  ``variables``, ``llm.invocation_parameters``, ``session.id``, ``user.id``, ``metadata``,
  ``tag.tags``.
- OpenLLMetry (Traceloop): ``llm.request.type``, indexed ``gen_ai.prompt.N.role`` /
  ``content`` and ``gen_ai.completion.N.content``, ``llm.usage.total_tokens``,
  ``traceloop.workflow.name``, ``traceloop.entity.name``,
  ``traceloop.association.properties.*``, ``traceloop.prompt.key`` / ``version``.
- Langfuse: ``langfuse.observation.type`` = ``generation``, ``langfuse.observation.input`` /
  ``output`` / ``model.name`` / ``usage_details`` / ``cost_details`` / ``prompt.name`` /
  ``prompt.version`` / ``metadata[.*]``, ``langfuse.trace.name`` / ``metadata[.*]`` /
  ``tags``, ``session.id`` / ``user.id`` (and the older ``langfuse.session.id`` /
  ``langfuse.user.id``).
- Vercel AI SDK: ``ai.operationId`` (the provider calls ``ai.*.doGenerate`` /
  ``ai.*.doStream`` are the LLM calls; their parents ``ai.generateText`` ... wrap them),
  ``ai.model.id``, ``ai.response.model``, ``ai.prompt``, ``ai.prompt.messages``,
  ``ai.response.text``, ``ai.response.object``, ``ai.usage.promptTokens`` /
  ``completionTokens`` (``inputTokens`` / ``outputTokens`` in AI SDK 5),
  ``ai.telemetry.functionId``, ``ai.telemetry.metadata.*``.
- promptloop: ``promptloop.*`` (see :mod:`promptloop.otlp.attributes`).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

from promptloop.core.prompts import content_hash
from promptloop.otlp import attributes as pl
from promptloop.otlp.messages import (
    Message,
    maybe_json,
    messages_of,
    output_of,
    raw_text,
    system_prompt_of,
    text_of,
    user_input_of,
)
from promptloop.otlp.spans import Span

Fields = dict[str, Any]

GENAI_LLM_OPERATIONS = frozenset({"chat", "text_completion", "generate_content", "completion"})
TRACELOOP_LLM_TYPES = frozenset({"chat", "completion"})
VERCEL_LLM_CALLS = frozenset(
    {
        "ai.generateText.doGenerate",
        "ai.streamText.doStream",
        "ai.generateObject.doGenerate",
        "ai.streamObject.doStream",
    }
)
_SESSION_KEYS = ("session_id", "sessionId", "session.id", "conversation_id", "conversationId")
_USER_KEYS = ("user_id", "userId", "user.id", "end_user_id")


# -- which spans are LLM calls -------------------------------------------------------------


def llm_dialect(span: Span) -> str | None:
    """The convention that marks this span as one LLM call, or None when it is not one.

    A convention that names the span's kind decides alone: an OpenInference CHAIN span or a
    Vercel ``ai.generateText`` wrapper is not a call even when it carries a model name.
    """
    attrs = span.attributes
    explicit = attrs.get(pl.LLM)
    if isinstance(explicit, bool):
        return "promptloop" if explicit else None
    kind = attrs.get("openinference.span.kind")
    if kind is not None:
        return "openinference" if str(kind).upper() == "LLM" else None
    operation_id = attrs.get("ai.operationId")
    if operation_id is not None:
        return "vercel_ai" if operation_id in VERCEL_LLM_CALLS else None
    observation = attrs.get("langfuse.observation.type")
    if observation is not None:
        return "langfuse" if observation == "generation" else None
    operation = attrs.get("gen_ai.operation.name")
    if operation is not None:
        return "gen_ai" if operation in GENAI_LLM_OPERATIONS else None
    request_type = attrs.get("llm.request.type")
    if request_type is not None:
        return "traceloop" if request_type in TRACELOOP_LLM_TYPES else None
    if "gen_ai.prompt.0.content" in attrs or "gen_ai.completion.0.content" in attrs:
        return "traceloop"
    if any(
        key in attrs
        for key in (
            "gen_ai.request.model",
            "gen_ai.response.model",
            "gen_ai.usage.input_tokens",
            "gen_ai.usage.prompt_tokens",
        )
    ):
        return "gen_ai"
    if "llm.model_name" in attrs:
        return "openinference"
    return None


# -- helpers -------------------------------------------------------------------------------


def first(attrs: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        value = attrs.get(key)
        if value is not None and value != "":
            return value
    return None


def as_int(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = int(float(value))
    except (TypeError, ValueError):
        return None
    return number if number >= 0 else None


def as_float(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def as_text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else str(value)


def indexed(attrs: dict[str, Any], prefix: str) -> list[dict[str, Any]]:
    """``prefix.N.rest`` attributes grouped by N, in order of N."""
    rows: dict[int, dict[str, Any]] = {}
    for key, value in attrs.items():
        if key.startswith(prefix):
            index, _, rest = key[len(prefix) :].partition(".")
            if index.isdigit() and rest:
                rows.setdefault(int(index), {})[rest] = value
    return [rows[number] for number in sorted(rows)]


def prefixed(attrs: dict[str, Any], prefix: str) -> dict[str, Any]:
    """``prefix.KEY`` attributes as ``{KEY: value}``."""
    return {key[len(prefix) :]: value for key, value in attrs.items() if key.startswith(prefix)}


def json_object(value: Any) -> dict[str, Any]:
    decoded = maybe_json(value)
    return dict(decoded) if isinstance(decoded, dict) else {}


def _with_messages(fields: Fields, inputs: list[Message], outputs: list[Message]) -> Fields:
    if inputs:
        fields.setdefault("system_prompt", system_prompt_of(inputs))
        fields.setdefault("user_input", user_input_of(inputs))
    if outputs:
        fields.setdefault("raw_output", output_of(outputs))
    return fields


def _people(fields: Fields, values: dict[str, Any]) -> Fields:
    """Session and user from a free-form metadata map (Vercel, Traceloop)."""
    session = first(values, *_SESSION_KEYS)
    user = first(values, *_USER_KEYS)
    if session is not None:
        fields["session_id"] = str(session)
    if user is not None:
        fields["user_id"] = str(user)
    return fields


def _drop_people(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if k not in _SESSION_KEYS and k not in _USER_KEYS}


# -- promptloop ----------------------------------------------------------------------------


def promptloop_fields(span: Span) -> Fields:
    """The span's own ``promptloop.*`` attributes; OpenInference's
    ``using_attributes(metadata={"promptloop.feature": ...})`` lands in its metadata JSON."""
    found: dict[str, Any] = {}
    if "metadata" in span.roots:
        found.update(_namespaced(json_object(span.attributes.get("metadata"))))
    if "promptloop" in span.roots:
        found.update(_namespaced(span.attributes))
    return _promptloop_from(found)


def promptloop_resource_fields(span: Span) -> Fields:
    """``promptloop.*`` on the resource: defaults for a whole service, below every convention."""
    return _promptloop_from(_namespaced(span.resource))


def _promptloop_from(attrs: dict[str, Any]) -> Fields:
    if not attrs:
        return {}
    metadata = prefixed(attrs, pl.METADATA_PREFIX)
    if attrs.get(pl.VARIANT) is not None:
        metadata["variant"] = as_text(attrs[pl.VARIANT])
    return {
        "interaction_id": as_text(attrs.get(pl.INTERACTION_ID)),
        "parent_interaction_id": as_text(attrs.get(pl.PARENT_INTERACTION_ID)),
        "prompt_name": as_text(attrs.get(pl.PROMPT_NAME)),
        "prompt_version": as_text(attrs.get(pl.PROMPT_VERSION)),
        "prompt_hash": as_text(attrs.get(pl.PROMPT_HASH)),
        "feature": as_text(attrs.get(pl.FEATURE)),
        "session_id": as_text(attrs.get(pl.SESSION_ID)),
        "user_id": as_text(attrs.get(pl.USER_ID)),
        "cost_usd": as_float(attrs.get(pl.COST_USD)),
        "metadata": metadata,
    }


@lru_cache(maxsize=1024)
def _template_hash(template: str) -> str:
    # Every call of a prompt carries the same template: hash each one once.
    return content_hash(template)


def _namespaced(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if k.startswith(pl.NAMESPACE)}


# -- OpenInference -------------------------------------------------------------------------


def _openinference_messages(attrs: dict[str, Any], prefix: str) -> list[Message]:
    found: list[Message] = []
    for row in indexed(attrs, prefix):
        role = str(row.get("message.role") or "user")
        text = text_of(row.get("message.content"))
        if text is None:
            parts = indexed(
                {k: v for k, v in row.items() if k.startswith("message.contents.")},
                "message.contents.",
            )
            texts = [str(p["message_content.text"]) for p in parts if "message_content.text" in p]
            text = "".join(texts) or None
        if text is not None:
            found.append(Message(role, text))
    return found


def openinference_fields(span: Span) -> Fields:
    attrs = span.attributes
    if span.roots.isdisjoint(("llm", "input", "output")):
        return {}
    inputs = _openinference_messages(attrs, "llm.input_messages.")
    outputs = _openinference_messages(attrs, "llm.output_messages.")
    fields: Fields = {
        "model": as_text(attrs.get("llm.model_name")),
        "input_tokens": as_int(attrs.get("llm.token_count.prompt")),
        "output_tokens": as_int(attrs.get("llm.token_count.completion")),
        "cost_usd": as_float(attrs.get("llm.cost.total")),
    }
    _with_messages(fields, inputs, outputs)
    if not inputs and attrs.get("input.value") is not None:
        fields["user_input"] = _value_text(attrs["input.value"], output=False)
    if not outputs and attrs.get("output.value") is not None:
        fields["raw_output"] = _value_text(attrs["output.value"], output=True)
    template = attrs.get("llm.prompt_template.template")
    metadata = {
        k: v
        for k, v in json_object(attrs.get("metadata")).items()
        if not k.startswith(pl.NAMESPACE)
    }
    if template is not None:
        fields["prompt_hash"] = _template_hash(str(template))
    fields["prompt_version"] = as_text(attrs.get("llm.prompt_template.version"))
    variables = maybe_json(attrs.get("llm.prompt_template.variables"))
    if variables is not None:
        metadata["prompt_variables"] = variables
    if attrs.get("tag.tags") is not None:
        metadata["tags"] = attrs["tag.tags"]
    parameters = json_object(attrs.get("llm.invocation_parameters"))
    if parameters:
        metadata["invocation_parameters"] = parameters
    if attrs.get("llm.provider") is not None:
        metadata["provider"] = attrs["llm.provider"]
    fields["metadata"] = metadata
    return fields


def _value_text(value: Any, *, output: bool) -> str | None:
    """``input.value``/``output.value`` are often the whole JSON request or response."""
    decoded = maybe_json(value)
    messages: list[Message] = []
    if isinstance(decoded, list):
        messages = messages_of(decoded)
    elif isinstance(decoded, dict) and isinstance(decoded.get("messages"), list):
        messages = messages_of(decoded["messages"])
    elif isinstance(decoded, dict) and isinstance(decoded.get("choices"), list):
        choices = [c.get("message") for c in decoded["choices"] if isinstance(c, dict)]
        messages = messages_of(
            [c for c in choices if isinstance(c, dict)], default_role="assistant"
        )
    found = (output_of(messages) if output else user_input_of(messages)) if messages else None
    return found if found is not None else raw_text(value)


# -- OpenTelemetry GenAI -------------------------------------------------------------------

_DETAILS_EVENT = "gen_ai.client.inference.operation.details"
_ROLE_EVENTS = {
    "gen_ai.system.message": "system",
    "gen_ai.user.message": "user",
    "gen_ai.assistant.message": "assistant",
    "gen_ai.tool.message": "tool",
}


def genai_fields(span: Span) -> Fields:
    attrs = span.attributes
    if "gen_ai" not in span.roots and not span.events:
        return {}
    details = _event_attributes(span, _DETAILS_EVENT)
    source = {**details, **attrs}
    inputs = messages_of(source.get("gen_ai.input.messages"))
    outputs = messages_of(source.get("gen_ai.output.messages"), default_role="assistant")
    instructions = source.get("gen_ai.system_instructions")
    if instructions is not None:
        inputs = [
            Message("system", text)
            for text in (text_of(maybe_json(instructions)),)
            if text is not None
        ] + inputs
    if not inputs and not outputs:
        inputs, outputs = _legacy_messages(span)
    fields: Fields = {
        "model": as_text(first(attrs, "gen_ai.response.model", "gen_ai.request.model")),
        "input_tokens": as_int(
            first(attrs, "gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens")
        ),
        "output_tokens": as_int(
            first(attrs, "gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens")
        ),
        "session_id": as_text(attrs.get("gen_ai.conversation.id")),
    }
    _with_messages(fields, inputs, outputs)
    metadata: dict[str, Any] = {}
    provider = first(attrs, "gen_ai.provider.name", "gen_ai.system")
    if provider is not None:
        metadata["provider"] = provider
    for key, name in (
        ("gen_ai.request.temperature", "temperature"),
        ("gen_ai.request.max_tokens", "max_tokens"),
        ("gen_ai.response.finish_reasons", "finish_reasons"),
        ("gen_ai.response.id", "response_id"),
    ):
        if attrs.get(key) is not None:
            metadata[name] = attrs[key]
    fields["metadata"] = metadata
    return fields


def _event_attributes(span: Span, name: str) -> dict[str, Any]:
    for event in span.events:
        if event.name == name:
            return event.attributes
    return {}


def _legacy_messages(span: Span) -> tuple[list[Message], list[Message]]:
    """``gen_ai.prompt``/``gen_ai.completion`` (attributes or events), per-message events."""
    attrs = span.attributes
    prompt = first(attrs, "gen_ai.prompt") or _event_attributes(span, "gen_ai.content.prompt").get(
        "gen_ai.prompt"
    )
    completion = first(attrs, "gen_ai.completion") or _event_attributes(
        span, "gen_ai.content.completion"
    ).get("gen_ai.completion")
    inputs = messages_of(prompt)
    outputs = messages_of(completion, default_role="assistant")
    for event in span.events:
        role = _ROLE_EVENTS.get(event.name)
        if role is not None and not prompt:
            text = text_of(event.attributes.get("content"))
            if text is not None:
                inputs.append(Message(str(event.attributes.get("role") or role), text))
        elif event.name == "gen_ai.choice" and not completion:
            outputs.extend(messages_of(event.attributes, default_role="assistant"))
    return inputs, outputs


# -- OpenLLMetry (Traceloop) ---------------------------------------------------------------


def _traceloop_messages(attrs: dict[str, Any], prefix: str, role: str) -> list[Message]:
    found: list[Message] = []
    for row in indexed(attrs, prefix):
        text = text_of(row.get("content"))
        if text is not None:
            found.append(Message(str(row.get("role") or role), text))
    return found


def traceloop_fields(span: Span) -> Fields:
    attrs = span.attributes
    if span.roots.isdisjoint(("gen_ai", "traceloop", "llm")):
        return {}
    inputs = _traceloop_messages(attrs, "gen_ai.prompt.", "user")
    outputs = _traceloop_messages(attrs, "gen_ai.completion.", "assistant")
    properties = prefixed(attrs, "traceloop.association.properties.")
    if not inputs and not outputs and not properties and "traceloop.workflow.name" not in attrs:
        return {}
    fields: Fields = {
        "feature": as_text(attrs.get("traceloop.workflow.name")),
        "prompt_name": as_text(attrs.get("traceloop.prompt.key")),
        "prompt_version": as_text(attrs.get("traceloop.prompt.version")),
    }
    _with_messages(fields, inputs, outputs)
    _people(fields, properties)
    metadata = _drop_people(properties)
    if attrs.get("traceloop.entity.name") is not None:
        metadata["entity"] = attrs["traceloop.entity.name"]
    if attrs.get("llm.usage.total_tokens") is not None:
        metadata["total_tokens"] = as_int(attrs["llm.usage.total_tokens"])
    fields["metadata"] = metadata
    return fields


# -- Langfuse ------------------------------------------------------------------------------


def _usage(details: dict[str, Any], *names: str) -> int | None:
    return as_int(first(details, *names))


def langfuse_fields(span: Span) -> Fields:
    attrs = span.attributes
    if "langfuse" not in span.roots:
        return {}
    usage = json_object(attrs.get("langfuse.observation.usage_details"))
    cost = json_object(attrs.get("langfuse.observation.cost_details"))
    inputs = messages_of(attrs.get("langfuse.observation.input"))
    outputs = messages_of(attrs.get("langfuse.observation.output"), default_role="assistant")
    fields: Fields = {
        "model": as_text(attrs.get("langfuse.observation.model.name")),
        "input_tokens": _usage(usage, "input", "prompt_tokens", "input_tokens"),
        "output_tokens": _usage(usage, "output", "completion_tokens", "output_tokens"),
        "cost_usd": as_float(first(cost, "total")),
        "prompt_name": as_text(
            first(attrs, "langfuse.observation.prompt.name", "langfuse.prompt.name")
        ),
        "prompt_version": as_text(
            first(attrs, "langfuse.observation.prompt.version", "langfuse.prompt.version")
        ),
        "session_id": as_text(first(attrs, "session.id", "langfuse.session.id")),
        "user_id": as_text(first(attrs, "user.id", "langfuse.user.id")),
        "feature": as_text(attrs.get("langfuse.trace.name")),
    }
    _with_messages(fields, inputs, outputs)
    metadata: dict[str, Any] = {}
    for key in ("langfuse.trace.metadata", "langfuse.observation.metadata"):
        metadata.update(json_object(attrs.get(key)))
        metadata.update(prefixed(attrs, key + "."))
    for key, name in (
        ("langfuse.trace.tags", "tags"),
        ("langfuse.environment", "environment"),
        ("langfuse.release", "release"),
    ):
        if attrs.get(key) is not None:
            metadata[name] = maybe_json(attrs[key])
    parameters = json_object(attrs.get("langfuse.observation.model.parameters"))
    if parameters:
        metadata["model_parameters"] = parameters
    fields["metadata"] = metadata
    return fields


# -- Vercel AI SDK -------------------------------------------------------------------------


def vercel_fields(span: Span) -> Fields:
    attrs = span.attributes
    if "ai" not in span.roots:
        return {}
    inputs = messages_of(attrs.get("ai.prompt.messages"))
    if not inputs:
        prompt = json_object(attrs.get("ai.prompt"))
        inputs = messages_of(prompt.get("messages") or prompt.get("prompt"))
        if prompt.get("system"):
            inputs.insert(0, Message("system", str(prompt["system"])))
    output = first(attrs, "ai.response.text", "ai.response.object")
    telemetry = prefixed(attrs, "ai.telemetry.metadata.")
    fields: Fields = {
        "model": as_text(first(attrs, "ai.response.model", "ai.model.id")),
        "input_tokens": as_int(first(attrs, "ai.usage.promptTokens", "ai.usage.inputTokens")),
        "output_tokens": as_int(first(attrs, "ai.usage.completionTokens", "ai.usage.outputTokens")),
        "feature": as_text(attrs.get("ai.telemetry.functionId")),
        "raw_output": raw_text(output),
    }
    _with_messages(fields, inputs, [])
    _people(fields, telemetry)
    metadata = _drop_people(telemetry)
    if attrs.get("ai.model.provider") is not None:
        metadata["provider"] = attrs["ai.model.provider"]
    if attrs.get("ai.response.finishReason") is not None:
        metadata["finish_reason"] = attrs["ai.response.finishReason"]
    fields["metadata"] = metadata
    return fields


# -- attributes every convention shares ----------------------------------------------------


def common_fields(span: Span) -> Fields:
    attrs = span.attributes
    return {
        "session_id": as_text(first(attrs, "session.id")),
        "user_id": as_text(first(attrs, "user.id", "enduser.id")),
        "error": as_text(attrs.get("error.type")) if span.status_code == 2 else None,
    }


# Most specific first: the span's own promptloop.* attributes, then the convention that wraps
# the call (Langfuse, Vercel), the instrumentations, the GenAI base they all extend, and last
# the service-wide promptloop.* defaults on the resource.
EXTRACTORS: tuple[tuple[str, Callable[[Span], Fields]], ...] = (
    ("promptloop", promptloop_fields),
    ("langfuse", langfuse_fields),
    ("openinference", openinference_fields),
    ("vercel_ai", vercel_fields),
    ("traceloop", traceloop_fields),
    ("gen_ai", genai_fields),
    ("common", common_fields),
    ("promptloop_resource", promptloop_resource_fields),
)
