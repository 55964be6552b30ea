"""The demo chat at ``/demo``: a SIMULATED assistant that uses the feedback widget.

Nothing here calls a model. ``POST /demo/api/chat`` picks a canned answer for the message
(keyword table, fallback; a regeneration takes the next variant, so it is deterministic),
logs it as a real interaction through the ingestor (``model="simulated-assistant"``,
``metadata.simulated = true``) and returns the answer with a signed feedback token, as an
app's server would. ``GET /demo/api/events`` shows the feedback events of interactions this
demo created, and of no other, so a person can watch the loop close.

Only mounted when the collector's ``demo_enabled`` setting is true.
"""

from __future__ import annotations

import re
import secrets
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from promptloop.analytics import queries
from promptloop.core.prompts import content_hash
from promptloop.core.records import Interaction, canonical_uuid
from promptloop.core.tokens import sign
from promptloop.server.api.browser import STATIC_DIR, keyring
from promptloop.server.errors import APIError
from promptloop.server.ingest import Backpressure, Ingestor

FEATURE = "support_chat"
PROMPT_NAME = "support_assistant_demo"
PROMPT_VERSION = "1.0.0"
MODEL = "simulated-assistant"
SYSTEM_PROMPT = (
    "You are the Acme Notes support assistant. Acme Notes is a note-taking app with "
    "notebooks, tags, sharing, reminders, templates, offline mode and version history. "
    "Answer questions about using Acme Notes in at most three sentences. If a feature is not "
    "listed, say it is not available."
)
PROMPT_HASH = content_hash(SYSTEM_PROMPT, {"model": MODEL})
MAX_DEMO_INTERACTIONS = 10_000
MAX_EVENT_QUERY_IDS = 200


@dataclass(frozen=True)
class Topic:
    name: str
    keywords: tuple[str, ...]
    answers: tuple[str, ...]


TOPICS: tuple[Topic, ...] = (
    Topic(
        "export",
        ("export", "pdf", "download", "backup"),
        (
            "To export a notebook, open it, choose File > Export and pick PDF, Markdown or "
            "HTML. Large notebooks are exported in the background and you get a notification "
            "when the file is ready.",
            "Open the notebook, then File > Export. PDF keeps the formatting; Markdown is best "
            "if you want to move your notes to another tool.",
            "Exports live under File > Export in any notebook. Pick a format, choose where to "
            "save it, and Acme Notes does the rest.",
        ),
    ),
    Topic(
        "share",
        ("share", "sharing", "teammate", "collaborat", "invite"),
        (
            "Open the note, click Share and enter your teammate's email. Choose Can view or "
            "Can edit; they get an email with a link.",
            "Use the Share button at the top of a note. You can invite people by email or "
            "create a link, and change their access at any time.",
        ),
    ),
    Topic(
        "restore",
        ("restore", "deleted", "trash", "recover", "undo"),
        (
            "Deleted notes stay in Trash for 30 days. Open Trash in the sidebar, select the "
            "note and click Restore.",
            "Go to Trash in the sidebar, find the note, and choose Restore: it goes back to "
            "the notebook it came from.",
        ),
    ),
    Topic(
        "reminder",
        ("remind", "reminder", "due", "alarm"),
        (
            "Open the note, click the bell icon and pick a date and time. Reminders show up "
            "on every device where you are signed in.",
            "Click the bell icon on a note to set a reminder; Settings > Notifications "
            "controls how you are notified.",
        ),
    ),
    Topic(
        "tags",
        ("tag", "label", "organi"),
        (
            "Shift-click to select several notes, then choose Add tag. Tags appear in the "
            "sidebar, and clicking one shows every note that has it.",
            "Type # followed by a name in a note to tag it, or select notes and use Add tag. "
            "Rename or merge tags from the Tags page.",
        ),
    ),
    Topic(
        "offline",
        ("offline", "sync", "internet", "airplane"),
        (
            "Turn on offline mode in Settings > Offline. Notebooks marked Available offline "
            "are kept on the device and sync when you are back online.",
            "Acme Notes syncs automatically. For offline access, right-click a notebook and "
            "choose Available offline.",
        ),
    ),
    Topic(
        "security",
        ("password", "2fa", "two-factor", "login", "sign in", "security"),
        (
            "Go to Settings > Security to change your password or turn on two-factor "
            "authentication with an authenticator app.",
            "Two-factor authentication and password changes are both under Settings > "
            "Security. Keep your recovery codes somewhere safe.",
        ),
    ),
    Topic(
        "billing",
        ("price", "plan", "billing", "cost", "invoice", "subscription"),
        (
            "Settings > Billing shows your plan, invoices and the billing email. You can "
            "change plans there at any time; changes apply from the next billing period.",
            "Plans and invoices are under Settings > Billing, where you can also update the "
            "card and the invoice email.",
        ),
    ),
    Topic(
        "history",
        ("history", "version", "previous", "revert"),
        (
            "Open the note and choose History from the ... menu. Pick an earlier version to "
            "preview it, then Restore this version.",
            "Every note keeps its version history: ... menu > History. Restoring a version "
            "keeps the current one in history too.",
        ),
    ),
)
FALLBACK = Topic(
    "fallback",
    (),
    (
        "I can help with Acme Notes: notebooks, tags, sharing, reminders, templates, offline "
        "mode and version history. Could you tell me a bit more about what you want to do?",
        "I'm not sure I understood. Are you asking about organising notes, sharing them, or "
        "your account? A few more words will help me answer.",
    ),
)
_KEYWORD_PATTERNS = [
    (topic, re.compile(r"\b(" + "|".join(re.escape(k) for k in topic.keywords) + ")"))
    for topic in TOPICS
]


def answer_for(message: str, attempt: int = 0) -> tuple[str, str]:
    """(topic, answer) for a message: the first topic whose keyword it contains; a
    regeneration (``attempt`` 1, 2, ...) takes the topic's next variant."""
    text = message.lower()
    topic = next((t for t, pattern in _KEYWORD_PATTERNS if pattern.search(text)), FALLBACK)
    return topic.name, topic.answers[attempt % len(topic.answers)]


def _tokens(text: str) -> int:
    return max(1, len(text) // 4)


# -- the demo's own interactions --------------------------------------------------------
@dataclass(frozen=True)
class DemoTurn:
    session_id: str
    attempt: int


class DemoRegistry:
    """The interactions this demo created (bounded, newest kept): the only ones it shows."""

    def __init__(self, limit: int = MAX_DEMO_INTERACTIONS) -> None:
        self._turns: OrderedDict[str, DemoTurn] = OrderedDict()
        self._limit = limit
        self._lock = threading.Lock()

    def add(self, interaction_id: str, turn: DemoTurn) -> None:
        with self._lock:
            self._turns[interaction_id] = turn
            while len(self._turns) > self._limit:
                self._turns.popitem(last=False)

    def get(self, interaction_id: str) -> DemoTurn | None:
        with self._lock:
            return self._turns.get(interaction_id)


def _registry(request: Request) -> DemoRegistry:
    registry: DemoRegistry = request.app.state.demo_registry
    return registry


# -- API --------------------------------------------------------------------------------
class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: str = Field(min_length=1, max_length=2000)
    session_id: str = Field(pattern=r"^[A-Za-z0-9_\-.:]{1,100}$")
    parent_interaction_id: str | None = None


router = APIRouter(prefix="/demo", tags=["demo"])


@router.post("/api/chat", summary="Ask the SIMULATED Acme Notes assistant (demo only)")
async def chat(body: ChatRequest, request: Request) -> dict[str, Any]:
    registry = _registry(request)
    attempt = 0
    parent_id: str | None = None
    if body.parent_interaction_id is not None:
        try:
            parent_id = canonical_uuid(body.parent_interaction_id, "parent_interaction_id")
        except ValueError as exc:
            raise APIError(
                422, "invalid_request", str(exc), field="parent_interaction_id"
            ) from None
        parent = registry.get(parent_id)
        if parent is None:
            raise APIError(404, "not_found", f"{parent_id} is not an interaction of this demo")
        attempt = parent.attempt + 1
    topic, output = answer_for(body.message, attempt)
    interaction_id = str(uuid.uuid4())
    input_tokens = _tokens(SYSTEM_PROMPT) + _tokens(body.message)
    output_tokens = _tokens(output)
    interaction = Interaction(
        interaction_id=interaction_id,
        session_id=body.session_id,
        user_id=f"demo-{body.session_id}",
        feature=FEATURE,
        prompt_name=PROMPT_NAME,
        prompt_version=PROMPT_VERSION,
        prompt_hash=PROMPT_HASH,
        model=MODEL,
        system_prompt=SYSTEM_PROMPT,
        user_input=body.message,
        raw_output=output,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        # Simulated, but deterministic: what a small model might take for this answer.
        latency_ms=float(350 + 12 * output_tokens),
        metadata={"simulated": True, "demo": "chat", "topic": topic, "attempt": attempt + 1},
        parent_interaction_id=parent_id,
    )
    ingestor: Ingestor = request.app.state.ingestor
    try:
        await run_in_threadpool(ingestor.submit, "interactions", [interaction])
    except Backpressure as exc:
        raise APIError(503, "busy", f"try again shortly: {exc}") from None
    registry.add(interaction_id, DemoTurn(body.session_id, attempt))
    token = sign(keyring(request.app).signing_key, interaction_id)
    return {
        "interaction_id": interaction_id,
        "output": output,
        "token": token,
        "attempt": attempt + 1,
        "prompt_name": PROMPT_NAME,
        "prompt_version": PROMPT_VERSION,
        "model": MODEL,
        "simulated": True,
    }


_EVENT_FIELDS = (
    "feedback_id",
    "interaction_id",
    "feedback_type",
    "category",
    "value",
    "user_edit",
    "comment",
    "source",
    "metadata",
    "timestamp",
)


def _events_of(request: Request, ids: list[str]) -> list[dict[str, Any]]:
    request.app.state.ingestor.flush()
    store = request.app.state.store
    rows = [row for iid in ids for row in queries.feedback_for(store, iid)]
    rows.sort(key=lambda row: (row["timestamp"], row["feedback_id"]))
    return [{name: row.get(name) for name in _EVENT_FIELDS} for row in rows]


@router.get("/api/events", summary="Feedback events of this demo's interactions (demo only)")
async def events(
    request: Request,
    interaction_id: Annotated[list[str], Query(max_length=MAX_EVENT_QUERY_IDS)],
) -> dict[str, Any]:
    registry = _registry(request)
    known: list[str] = []
    unknown: list[str] = []
    for raw in dict.fromkeys(interaction_id):
        try:
            iid = canonical_uuid(raw, "interaction_id")
        except ValueError:
            unknown.append(raw)
            continue
        (known if registry.get(iid) is not None else unknown).append(iid)
    items = await run_in_threadpool(_events_of, request, known) if known else []
    return {"items": items, "unknown": unknown}


# -- the page ---------------------------------------------------------------------------
def _page(nonce: str) -> str:
    return (STATIC_DIR / "demo.html").read_text(encoding="utf-8").replace("{{nonce}}", nonce)


@router.get("", include_in_schema=False)
async def page() -> HTMLResponse:
    nonce = secrets.token_urlsafe(16)
    csp = (
        "default-src 'self'; "
        f"script-src 'self' 'nonce-{nonce}'; style-src 'self' 'nonce-{nonce}'; "
        "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    )
    return HTMLResponse(
        _page(nonce),
        headers={
            "Content-Security-Policy": csp,
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        },
    )


@router.get("/demo.js", include_in_schema=False)
async def page_js() -> Response:
    return FileResponse(STATIC_DIR / "demo.js", media_type="text/javascript; charset=utf-8")


@router.get("/demo.css", include_in_schema=False)
async def page_css() -> Response:
    return FileResponse(STATIC_DIR / "demo.css", media_type="text/css; charset=utf-8")


def install(app: FastAPI) -> None:
    app.state.demo_registry = DemoRegistry()
    app.include_router(router)
