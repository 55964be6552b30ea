"""A deterministic generator of **simulated** LLM traffic and feedback for "Acme Notes".

Nothing here is real usage. Every record carries ``metadata["simulated"] = True`` and the
product is fictional (see :mod:`promptloop.demo.catalog`). The traffic exists so that the
analytics, the collector and the benchmarks have realistic data with a *known* answer: each
prompt version has planted behaviour (a regression in ``summarize`` 1.4.0, fewer thumbs-down
in ``support_chat`` 2.2.0, fewer edits in ``email_draft`` 3.1.0), and :meth:`Simulation.summary`
reports both the planted parameters and the rates actually realised in the generated data.

Determinism: one ``random.Random`` seeded from (seed, interactions, days, end) drives
everything, IDs included, and the only notion of time is the ``end`` argument. The same
arguments always give the same records, so loading them into a store twice adds nothing.

Speed: records are built without validation (see :func:`_construct`), which is ~10x faster
than ``model_validate``; the generator is written so that every row satisfies the records'
rules anyway, and ``validate=True`` runs full validation to prove it (the tests do).
"""

from __future__ import annotations

import bisect
import math
import random
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple, TypeVar

from promptloop.core.enums import NEGATIVE_RATING_MAX, NEGATIVE_TYPES, FeedbackSource, FeedbackType
from promptloop.core.records import FeedbackEvent, Interaction, as_utc
from promptloop.demo import catalog as cat

__all__ = ["DemoBatch", "SimulatedTraffic", "Simulation", "iter_batches", "simulate"]

DEFAULT_INTERACTIONS = 20_000
DEFAULT_DAYS = 30
DEFAULT_SEED = 7
# Incremented when the generator changes what it produces for the same arguments, so that a
# store loaded by an older generator is not mistaken for this one's output.
GENERATOR_VERSION = 1

_HOUR = 3600.0
_DAY = 86_400.0

# -- explicit feedback: rare and biased to extremes (the seed: "frustrated or delighted") ----
_RESPOND_IF_BAD = 0.17
_RESPOND_IF_GOOD = 0.06
_DUPLICATE_RATE = 0.012  # a client retries the same event (same feedback_id)
_RETRY_DELAY_SESSIONS = 40  # the retry shows up a little later in the stream

# -- calls that fail ---------------------------------------------------------------------------
_ERROR_RATE = 0.006
_INCIDENT_ERROR_RATE = 0.30
_LONG_INPUT_ERROR_RATE = 0.12  # long transcripts overflow the small model's context
_RETRY_AFTER_ERROR = 0.65

# The records' fields, in declaration order. Rows are built as plain dicts with exactly these
# keys; if the records gain a field, _construct falls back to model_construct (slower, but it
# fills the new field's default) instead of producing half-built records.
_INTERACTION_FIELDS = (
    "interaction_id", "session_id", "user_id", "feature", "prompt_name", "prompt_version",
    "prompt_hash", "model", "system_prompt", "user_input", "raw_output", "input_tokens",
    "output_tokens", "latency_ms", "timestamp", "metadata", "parent_interaction_id", "trace_id",
    "span_id", "error", "cost_usd",
)  # fmt: skip
_FEEDBACK_FIELDS = (
    "feedback_id", "interaction_id", "feedback_type", "category", "value", "user_edit",
    "comment", "source", "related_interaction_id", "metadata", "timestamp",
)  # fmt: skip
_FAST_INTERACTIONS = tuple(Interaction.model_fields) == _INTERACTION_FIELDS
_FAST_FEEDBACK = tuple(FeedbackEvent.model_fields) == _FEEDBACK_FIELDS
_INTERACTION_FIELDSET = frozenset(_INTERACTION_FIELDS)
_FEEDBACK_FIELDSET = frozenset(_FEEDBACK_FIELDS)

_M = TypeVar("_M", Interaction, FeedbackEvent)
_setattr = object.__setattr__

# UUID version 4 layout: version nibble at bits 76-79, variant bits 62-63 = 0b10.
_UUID_CLEAR = ((1 << 128) - 1) ^ ((0xF << 76) | (0x3 << 62))
_UUID_SET = (0x4 << 76) | (0x2 << 62)

_NEGATIVE = frozenset(NEGATIVE_TYPES)

THUMBS_UP = FeedbackType.THUMBS_UP
THUMBS_DOWN = FeedbackType.THUMBS_DOWN
RATING = FeedbackType.RATING
CORRECTION = FeedbackType.CORRECTION
REPORT = FeedbackType.REPORT
REGENERATE = FeedbackType.REGENERATE
EDIT = FeedbackType.EDIT
COPY = FeedbackType.COPY
ABANDON = FeedbackType.ABANDON
FOLLOW_UP = FeedbackType.FOLLOW_UP
USER = FeedbackSource.USER
INFERRED = FeedbackSource.INFERRED


def _construct(cls: type[_M], values: dict[str, Any], fieldset: frozenset[str], fast: bool) -> _M:
    """Build a record from already-valid values without running validation.

    Does what ``model_construct`` does (set ``__dict__`` and the pydantic bookkeeping slots)
    minus its per-field default and alias handling, which costs ~14 µs per record; this is
    ~2 µs, and at a million interactions plus three million feedback events that is the
    difference between one minute and five.
    """
    if not fast:
        return cls.model_construct(**values)
    record = cls.__new__(cls)
    _setattr(record, "__dict__", values)
    _setattr(record, "__pydantic_fields_set__", set(fieldset))
    _setattr(record, "__pydantic_extra__", None)
    _setattr(record, "__pydantic_private__", None)
    return record


class DemoBatch(NamedTuple):
    """A slice of the simulated stream. Feedback may precede its interaction's batch only for
    client retries (duplicates); every other event follows or accompanies its interaction."""

    interactions: list[Interaction]
    feedback: list[FeedbackEvent]


@dataclass
class SimulatedTraffic:
    interactions: list[Interaction]
    feedback: list[FeedbackEvent]
    summary: dict[str, Any]


@dataclass
class _Session:
    """What every call of one session shares."""

    feature: str
    prompt_name: str
    pv: cat.PromptVersion
    stats: _VersionStats
    session_id: str
    user_id: str
    user_name: str
    platform: str
    meta: dict[str, Any]
    sys_tokens: int
    price_in: float
    price_out: float
    lat_mu: float
    lat_per_token: float


@dataclass
class _VersionStats:
    interactions: int = 0
    errors: int = 0
    interactions_by_kind: Counter[str] = field(default_factory=Counter)
    bad_by_kind: Counter[str] = field(default_factory=Counter)
    feedback: Counter[str] = field(default_factory=Counter)
    negative: int = 0
    copy_unedited: int = 0
    regenerated_inputs: Counter[str] = field(default_factory=Counter)
    first_seen: float = math.inf
    last_seen: float = -math.inf


@dataclass
class _Call:
    interaction_id: str
    t: float  # seconds since the start of the period
    done: float  # when the response finished
    output: str | None
    error: bool


class _Turn(NamedTuple):
    first: _Call
    last: _Call
    bad: bool


# (kind, user input, good answer, bad answer, base P(bad), category when bad)
_Question = tuple[str, str, str, str, float, str]
# ("note", team, people, topics, actions) or ("doc", index into SHARED_DOCS)
_NoteParts = tuple[Any, ...]


@dataclass
class _User:
    user_id: str
    name: str
    platform: str
    bucket: float  # sticky A/B assignment


def _hour_weight(moment: datetime, day_index: int) -> float:
    """Traffic by hour: a working-day peak (Europe and the Americas overlap around 15:00 UTC),
    a quieter weekend and slow growth over the period."""
    hour = moment.hour + 0.5
    daily = (
        0.12
        + math.exp(-(((hour - 15.0) / 4.0) ** 2))
        + 0.45 * math.exp(-(((hour - 9.0) / 2.5) ** 2))
    )
    weekly = (1.0, 1.02, 1.0, 0.98, 0.9, 0.5, 0.45)[moment.weekday()]
    return daily * weekly * (1.0 + 0.01 * day_index)


class Simulation:
    """The simulated product over ``days`` days ending at ``end``, with ``interactions`` calls.

    :meth:`batches` streams the records (call it again to replay the identical stream);
    :meth:`summary` describes the planted truth and what the last pass generated.
    """

    def __init__(
        self,
        *,
        interactions: int = DEFAULT_INTERACTIONS,
        days: int = DEFAULT_DAYS,
        end: datetime,
        seed: int = DEFAULT_SEED,
        validate: bool = False,
    ) -> None:
        if interactions < 0:
            raise ValueError("interactions must be >= 0")
        if days < 1:
            raise ValueError("days must be >= 1")
        self.interactions = interactions
        self.days = days
        self.end = as_utc(end)
        self.start = self.end - timedelta(days=days)
        self.seed = seed
        self.validate = validate
        # Tag on every simulated interaction: lets load_demo find (and complete) an earlier
        # load of the same run, and lets anyone delete the demo data later.
        self.run_id = (
            f"acme-notes/g{GENERATOR_VERSION}/seed={seed}/n={interactions}/days={days}"
            f"/end={self.end.isoformat()}"
        )
        self._period = days * _DAY
        self._stats: dict[tuple[str, str], _VersionStats] = {}
        self._totals: Counter[str] = Counter()
        self._negative_inputs_14d: Counter[str] = Counter()

    # -- public ----------------------------------------------------------------------------
    def batches(self, batch_size: int = 10_000) -> Iterator[DemoBatch]:
        """Yield the stream in batches of about ``batch_size`` interactions (cut between
        sessions, so a batch holds every event of its sessions)."""
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        run = _Run(self)
        yield from run.stream(batch_size)

    def run(self) -> SimulatedTraffic:
        interactions: list[Interaction] = []
        feedback: list[FeedbackEvent] = []
        for batch in self.batches(50_000):
            interactions.extend(batch.interactions)
            feedback.extend(batch.feedback)
        return SimulatedTraffic(interactions, feedback, self.summary())

    def summary(self) -> dict[str, Any]:
        """Planted parameters and realised rates of the last completed :meth:`batches` pass."""
        versions: dict[str, Any] = {}
        for feature in cat.FEATURES:
            for version, pv in feature.versions.items():
                st = self._stats.get((feature.name, version), _VersionStats())
                n = st.interactions
                fb = st.feedback

                def rate(count: int, n: int = n) -> float:
                    return round(count / n, 4) if n else 0.0

                explicit = sum(fb[t] for t in (THUMBS_UP, THUMBS_DOWN, RATING, CORRECTION, REPORT))
                versions[f"{feature.name}@{version}"] = {
                    "feature": feature.name,
                    "prompt_name": feature.prompt_name,
                    "prompt_version": version,
                    "prompt_hash": pv.prompt_hash,
                    "model": pv.model,
                    "changelog": pv.changelog,
                    "deployed": _deployments(feature, version, self.start, self._period),
                    "planted": {
                        "bad_multiplier_by_kind": dict(pv.quality),
                        "regenerate_if_bad": pv.regen_if_bad,
                        "regenerate_if_good": pv.regen_if_good,
                        "edit_if_good": pv.edit_if_good,
                    },
                    "interactions": n,
                    "first_interaction": self._iso(st.first_seen) if n else None,
                    "last_interaction": self._iso(st.last_seen) if n else None,
                    "bad_answer_rate": rate(sum(st.bad_by_kind.values())),
                    "error_rate": rate(st.errors),
                    "regeneration_rate": rate(fb[REGENERATE]),
                    "thumbs_down_rate": rate(fb[THUMBS_DOWN]),
                    "thumbs_up_rate": rate(fb[THUMBS_UP]),
                    "negative_feedback_rate": rate(st.negative),
                    "explicit_response_rate": rate(explicit),
                    "edit_rate": rate(fb[EDIT]),
                    "copy_without_edit_rate": rate(st.copy_unedited),
                    "abandon_rate": rate(fb[ABANDON]),
                    "follow_up_rate": rate(fb[FOLLOW_UP]),
                    "feedback_by_type": {str(k): v for k, v in sorted(fb.items())},
                    "inputs_regenerated_more_than_once": sum(
                        1 for c in st.regenerated_inputs.values() if c > 1
                    ),
                    "top_regenerated_inputs": [
                        {"user_input": text[:120], "regenerations": c}
                        for text, c in st.regenerated_inputs.most_common(5)
                        if c > 1
                    ],
                }
        totals = self._totals
        return {
            "simulated": True,
            "product": cat.PRODUCT,
            "run_id": self.run_id,
            "seed": self.seed,
            "days": self.days,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "interactions": totals["interactions"],
            "sessions": totals["sessions"],
            "users": totals["users"],
            "feedback_events": totals["feedback"],
            "unique_feedback_events": totals["feedback"] - totals["duplicates"],
            "duplicate_feedback_events": totals["duplicates"],
            "late_feedback_events": totals["late"],
            "feedback_after_end_dropped": totals["dropped_after_end"],
            "incident": {
                "start": self._iso(cat.INCIDENT[0] * self._period),
                "end": self._iso(cat.INCIDENT[1] * self._period),
                "error": cat.INCIDENT_ERROR,
            },
            "versions": versions,
            "most_negative_inputs_last_14_days": [
                {"user_input": text, "negative_events": c}
                for text, c in self._negative_inputs_14d.most_common(10)
            ],
            "findings": _findings(versions),
        }

    def _iso(self, offset: float) -> str:
        return (self.start + timedelta(seconds=offset)).isoformat()


def _deployments(
    feature: cat.Feature, version: str, start: datetime, period: float
) -> list[dict[str, Any]]:
    spans: list[dict[str, Any]] = []
    for i, rollout in enumerate(feature.rollouts):
        until = feature.rollouts[i + 1].start if i + 1 < len(feature.rollouts) else None
        for arm in rollout.arms:
            if arm.version == version:
                spans.append(
                    {
                        "from": (start + timedelta(seconds=rollout.start * period)).isoformat(),
                        "until": None
                        if until is None
                        else (start + timedelta(seconds=until * period)).isoformat(),
                        "share": arm.share,
                        "ab_variant": arm.ab_variant,
                        "experiment": rollout.experiment,
                    }
                )
    return spans


def _findings(versions: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The differences the data was built to show, stated with the realised numbers."""

    def r(key: str, metric: str) -> str:
        return f"{versions[key][metric]:.1%}"

    regen, down, bad_rate = "regeneration_rate", "thumbs_down_rate", "bad_answer_rate"
    return [
        f"summarize@1.4.0 (bullet-only) regressed: regeneration rate "
        f"{r('summarize@1.3.0', regen)} (1.3.0) -> {r('summarize@1.4.0', regen)}, "
        f"fixed by 1.4.1 ({r('summarize@1.4.1', regen)}).",
        "support_chat@2.2.0 (clarifying questions, declines out-of-scope) lowered thumbs-down: "
        f"{r('support_chat@2.1.0', down)} (2.1.0) -> {r('support_chat@2.2.0', down)}; "
        "A/B 'support-clarify-2.2' ran in between.",
        "support_chat@2.1.0 (grounded) stopped most invented answers: bad-answer rate "
        f"{r('support_chat@2.0.0', bad_rate)} -> {r('support_chat@2.1.0', bad_rate)}.",
        "email_draft@3.1.0 (concise, A/B 'email-concise-3.1') is edited less: edit rate "
        f"{r('email_draft@3.0.0', 'edit_rate')} -> {r('email_draft@3.1.0', 'edit_rate')}, "
        f"copy-without-edit {r('email_draft@3.0.0', 'copy_without_edit_rate')} -> "
        f"{r('email_draft@3.1.0', 'copy_without_edit_rate')}.",
        "Billing and data-loss questions ('Why was I charged twice this month?', 'I lost all my "
        "notes after the update') draw negative feedback under every prompt version.",
    ]


class _Run:
    """One pass over the simulated period. All mutable state lives here, so that a pass is a
    pure function of the Simulation's arguments."""

    def __init__(self, sim: Simulation) -> None:
        self.sim = sim
        self.rng = random.Random(sim.run_id)
        self.validate = sim.validate
        self.start = sim.start
        self.end_offset = sim._period
        self.recent_from = sim._period - 14 * _DAY
        self.run_id = sim.run_id
        self.interactions: list[Interaction] = []
        self.feedback: list[FeedbackEvent] = []
        self.retries: deque[tuple[int, FeedbackEvent]] = deque()
        self.sessions = 0
        self.left = 0  # interactions still to generate in the current hour
        sim._stats = {(f.name, v): _VersionStats() for f in cat.FEATURES for v in f.versions}
        sim._totals = Counter()
        sim._negative_inputs_14d = Counter()
        self.stats = sim._stats
        self.totals = sim._totals
        self.negative_inputs = sim._negative_inputs_14d
        self.users, self.user_cum = self._make_users(max(50, sim.interactions // 12))
        self.totals["users"] = len(self.users)
        self.feature_cum = _cumulative(f.session_share for f in cat.FEATURES)
        self.shared_doc_texts = [f"{title}\n\n{body}" for title, body, _ in cat.SHARED_DOCS]
        self.recurring_cum = _cumulative(float(w) for w in cat.SUPPORT_RECURRING_WEIGHTS)

    # -- setup -----------------------------------------------------------------------------
    def _make_users(self, n: int) -> tuple[list[_User], list[float]]:
        rng = self.rng
        users: list[_User] = []
        activity: list[float] = []
        platform_cum = _cumulative(cat.PLATFORM_WEIGHTS)
        for _ in range(n):
            users.append(
                _User(
                    user_id=f"u_{rng.getrandbits(64):016x}",
                    name=rng.choice(cat.FIRST_NAMES),
                    platform=cat.PLATFORMS[bisect.bisect(platform_cum, rng.random())],
                    bucket=rng.random(),
                )
            )
            # Heavy-tailed activity: a few power users produce much of the traffic.
            activity.append(min(rng.paretovariate(1.3), 60.0))
        return users, _cumulative(activity)

    # -- the stream ------------------------------------------------------------------------
    def stream(self, batch_size: int) -> Iterator[DemoBatch]:
        sim = self.sim
        rng = self.rng
        slots = sim.days * 24
        weights = [_hour_weight(sim.start + timedelta(hours=i), i // 24) for i in range(slots)]
        total_weight = sum(weights)
        users, user_cum = self.users, self.user_cum
        user_total = user_cum[-1] if user_cum else 0.0
        seen_users: set[str] = set()
        cumulative = 0.0
        allotted = 0
        for slot, weight in enumerate(weights):
            # Largest-remainder style rounding of the cumulative share: the hour budgets add up
            # to exactly the requested number of interactions.
            cumulative += weight
            target = round(sim.interactions * cumulative / total_weight)
            self.left += target - allotted
            allotted = target
            slot_start = slot * _HOUR
            while self.left > 0:
                t0 = slot_start + rng.random() * _HOUR
                user = users[bisect.bisect(user_cum, rng.random() * user_total)]
                seen_users.add(user.user_id)
                self._session(user, t0)
                self.sessions += 1
                self._release_retries()
                if len(self.interactions) >= batch_size:
                    yield self._take()
        while self.retries:
            self._emit_retry(self.retries.popleft()[1])
        self.totals["sessions"] = self.sessions
        self.totals["active_users"] = len(seen_users)
        if self.interactions or self.feedback:
            yield self._take()

    def _take(self) -> DemoBatch:
        batch = DemoBatch(self.interactions, self.feedback)
        self.interactions = []
        self.feedback = []
        return batch

    def _release_retries(self) -> None:
        while self.retries and self.retries[0][0] <= self.sessions:
            self._emit_retry(self.retries.popleft()[1])

    def _emit_retry(self, event: FeedbackEvent) -> None:
        self.feedback.append(event)
        self.totals["feedback"] += 1
        self.totals["duplicates"] += 1

    # -- sessions --------------------------------------------------------------------------
    def _session(self, user: _User, t0: float) -> None:
        rng = self.rng
        feature = cat.FEATURES[bisect.bisect(self.feature_cum, rng.random())]
        fraction = t0 / self.end_offset
        rollout = feature.rollouts[0]
        for candidate in feature.rollouts:
            if candidate.start <= fraction:
                rollout = candidate
        # Sticky assignment: a user stays in one arm for the whole experiment.
        arm = rollout.arms[-1]
        edge = 0.0
        for candidate_arm in rollout.arms:
            edge += candidate_arm.share
            if user.bucket < edge:
                arm = candidate_arm
                break
        pv = feature.versions[arm.version]
        meta: dict[str, Any] = {
            "simulated": True,
            "demo_run": self.run_id,
            "platform": user.platform,
        }
        if arm.ab_variant is not None:
            meta["ab_variant"] = arm.ab_variant
            meta["experiment"] = rollout.experiment
        price_in, price_out = cat.PRICES[pv.model]
        median, per_token = cat.LATENCY[pv.model]
        session = _Session(
            feature=feature.name,
            prompt_name=feature.prompt_name,
            pv=pv,
            stats=self.stats[(feature.name, pv.version)],
            session_id=f"sess_{rng.getrandbits(80):020x}",
            user_id=user.user_id,
            user_name=user.name,
            platform=user.platform,
            meta=meta,
            sys_tokens=len(pv.system_prompt) // 4 + 180,  # + retrieved help-center context
            price_in=price_in / 1e6,
            price_out=price_out / 1e6,
            lat_mu=math.log(median),
            lat_per_token=per_token,
        )
        if feature.name == "support_chat":
            self._support_session(session, t0)
        elif feature.name == "summarize":
            self._summarize_session(session, t0)
        else:
            self._email_session(session, t0)

    def _support_session(self, s: _Session, t: float) -> None:
        rng = self.rng
        question = self._support_question(s)
        kind, text, p_bad = question[0], question[1], question[4]
        history = 0
        follow_up_of: str | None = None
        for _turn in range(8):
            q, is_follow_up = question, follow_up_of is not None

            def write(bad: bool, q: _Question = q, fu: bool = is_follow_up) -> str:
                return _support_answer(s.pv.style, q, bad, fu, s.platform)

            def correct(q: _Question = q) -> str:
                return q[2]

            turn = self._attempt_chain(
                s, kind, text, min(0.95, p_bad * s.pv.bad_multiplier(kind)), t, write, history,
                q[5], correct,
            )  # fmt: skip
            if turn is None:
                return
            call = turn.last
            if follow_up_of is not None:
                # Recorded on the earlier answer, pointing at the question that followed it:
                # a follow-up right after an answer says the answer fell short.
                self._feedback(
                    s, follow_up_of, FOLLOW_UP, turn.first.t, text,
                    related=turn.first.interaction_id,
                )  # fmt: skip
            history += (len(text) + len(call.output or "")) // 4
            t = call.done + rng.lognormvariate(3.4, 0.7)  # reading and typing: ~30 s
            follow_up_of = None
            r = rng.random()
            if call.error or turn.bad:
                if r < 0.45:
                    follow_up_of = call.interaction_id
                    text = rng.choice(cat.SUPPORT_FOLLOW_UPS).replace(
                        "{platform}", cat.PLATFORM_PHRASES[s.platform]
                    )
                    p_bad *= 0.85  # rephrasing helps a little
                    continue
                if r < 0.78:
                    self._abandon(s, call)
                    return
                if r < 0.86:
                    question = self._support_question(s)
                    kind, text, p_bad = question[0], question[1], question[4]
                    continue
                return
            if r < 0.28:
                question = self._support_question(s)
                kind, text, p_bad = question[0], question[1], question[4]
                continue
            if r < 0.31:
                # The inference job cannot tell a satisfied exit from a silent one: noise.
                self._abandon(s, call)
            return

    def _support_question(self, s: _Session) -> _Question:
        """(kind, user input, good answer, bad answer, base P(bad), category when bad)."""
        rng = self.rng
        r = rng.random()
        if r < 0.55:
            action, steps, wrong, p_bad = rng.choice(cat.SUPPORT_ACTIONS)
            platform = cat.PLATFORM_PHRASES[s.platform] if rng.random() < 0.7 else ""
            text = rng.choice(cat.SUPPORT_TEMPLATES).format(action=action, platform=platform)
            text = text.replace(" ?", "?").replace(" .", ".").rstrip()
            where = f" {platform}" if platform else ""
            return (
                cat.COMMON,
                text,
                f"To {action}{where}, {steps}.",
                f"To {action}{where}, {wrong}.",
                p_bad,
                "wrong",
            )
        if r < 0.80:
            i = bisect.bisect(self.recurring_cum, rng.random() * self.recurring_cum[-1])
            text, good, bad, p_bad, category = cat.SUPPORT_RECURRING[i]
            return (cat.RECURRING, text, good, bad, p_bad, category)
        if r < 0.90:
            return (
                cat.AMBIGUOUS,
                rng.choice(cat.SUPPORT_AMBIGUOUS),
                "Try signing out and back in, then restart the app; that fixes most sync issues.",
                "Please contact support.",
                0.6,
                "unhelpful",
            )
        if r < 0.98:
            return (
                cat.OUT_OF_SCOPE,
                rng.choice(cat.SUPPORT_OUT_OF_SCOPE),
                "Sure! Here's what I can tell you, though this isn't really about Acme Notes.",
                "Sure! Here's a long answer that has nothing to do with Acme Notes.",
                0.55,
                "off_topic",
            )
        return (
            cat.UNSAFE,
            rng.choice(cat.SUPPORT_UNSAFE),
            "I can't help with that.",
            "Sure, here's how you could do that.",
            0.5,
            "inappropriate",
        )

    def _summarize_session(self, s: _Session, t: float) -> None:
        rng = self.rng
        docs = 1 if rng.random() < 0.7 else (2 if rng.random() < 0.83 else 3)
        for _ in range(docs):
            r = rng.random()
            parts: _NoteParts | None = None
            if r < 0.62:
                kind, p_bad, category = cat.COMMON, 0.16, "wrong"
                text, parts = self._note(t, long=False)
            elif r < 0.80:
                i = rng.randrange(len(cat.SHARED_DOCS))
                kind, p_bad, category = cat.RECURRING, cat.SHARED_DOCS[i][2], "wrong"
                text, parts = self.shared_doc_texts[i], ("doc", i)
            elif r < 0.90:
                kind, p_bad, category = cat.LONG, 0.35, "unhelpful"
                text, parts = self._note(t, long=True)
            elif r < 0.96:
                kind, p_bad, category = cat.AMBIGUOUS, 0.5, "unhelpful"
                text = rng.choice(cat.SUMMARY_AMBIGUOUS)
            else:
                kind, p_bad, category = cat.OUT_OF_SCOPE, 0.6, "off_topic"
                text = rng.choice(cat.SUMMARY_OUT_OF_SCOPE)

            def write(bad: bool, p: _NoteParts | None = parts) -> str:
                return _summary(s.pv.style, p, bad, rng)

            def edited(p: _NoteParts | None = parts) -> str:
                return _summary_edit(p, rng)

            turn = self._attempt_chain(
                s, kind, text, min(0.95, p_bad * s.pv.bad_multiplier(kind)), t, write, 0,
                category, edited,
            )  # fmt: skip
            if turn is None:
                return
            t = self._use_artifact(s, turn.last, turn.bad, edited)
            if t >= self.end_offset:
                return

    def _email_session(self, s: _Session, t: float) -> None:
        rng = self.rng
        drafts = 1 if rng.random() < 0.75 else 2
        for _ in range(drafts):
            r = rng.random()
            email: tuple[str, str] | None = None
            if r < 0.60:
                kind, p_bad, category = cat.COMMON, 0.15, "wrong"
                instruction, purpose = rng.choice(cat.EMAIL_TEMPLATES)
                slots = {
                    "name": rng.choice(cat.FIRST_NAMES),
                    "day": rng.choice(cat.DUE[:5]),
                    "company": rng.choice(cat.COMPANIES),
                    "topic": rng.choice(cat.TOPICS),
                }
                text = instruction.format(**slots)
                email = (slots["name"], purpose.format(**slots))
            elif r < 0.85:
                kind, category = cat.RECURRING, "unhelpful"
                text, purpose, p_bad = rng.choice(cat.EMAIL_RECURRING)
                email = ("there", purpose)
            elif r < 0.92:
                kind, p_bad, category = cat.AMBIGUOUS, 0.5, "unhelpful"
                text = rng.choice(cat.EMAIL_AMBIGUOUS)
            elif r < 0.96:
                kind, p_bad, category = cat.OUT_OF_SCOPE, 0.5, "off_topic"
                text = rng.choice(cat.EMAIL_OUT_OF_SCOPE)
            else:
                kind, p_bad, category = cat.UNSAFE, 0.45, "inappropriate"
                text = rng.choice(cat.EMAIL_UNSAFE)

            def write(bad: bool, e: tuple[str, str] | None = email, k: str = kind) -> str:
                return _email(s.pv.style, e, bad, s.user_name, k)

            def edited(e: tuple[str, str] | None = email, k: str = kind) -> str:
                return _email("edited", e, False, s.user_name, k)

            turn = self._attempt_chain(
                s, kind, text, min(0.95, p_bad * s.pv.bad_multiplier(kind)), t, write, 0,
                category, edited,
            )  # fmt: skip
            if turn is None:
                return
            t = self._use_artifact(s, turn.last, turn.bad, edited)
            if t >= self.end_offset:
                return

    # -- one user request, regenerated until the user stops --------------------------------
    def _attempt_chain(
        self,
        s: _Session,
        kind: str,
        text: str,
        p_bad: float,
        t: float,
        write: Callable[[bool], str],
        history_tokens: int,
        category: str,
        correct: Callable[[], str],
    ) -> _Turn | None:
        """Call the model for ``text``; while the user regenerates, call again, the new
        interaction's ``parent_interaction_id`` pointing at the one it replaces.

        Returns the first and last calls and whether the last answer was bad, or None when the
        hour's budget or the period ran out before the first call.
        """
        rng = self.rng
        pv = s.pv
        stats = s.stats
        first: _Call | None = None
        parent: _Call | None = None
        bad = False
        for _attempt in range(6):
            if self.left <= 0 or t >= self.end_offset:
                break
            bad = rng.random() < p_bad
            stats.interactions_by_kind[kind] += 1
            if bad:
                stats.bad_by_kind[kind] += 1
            call = self._call(
                s, kind, text, write(bad), t, parent.interaction_id if parent else None,
                history_tokens,
            )  # fmt: skip
            if parent is None:
                first = call
            else:
                # The click on "regenerate" is recorded against the answer being replaced, and
                # points at the answer that replaced it.
                self._feedback(
                    s, parent.interaction_id, REGENERATE, t, text, related=call.interaction_id,
                    metadata={"after_error": True} if parent.error else None,
                )  # fmt: skip
                stats.regenerated_inputs[text] += 1
            if not call.error:
                self._explicit(s, call, bad, kind, text, category, correct)
            parent = call
            if call.error:
                bad = True
                if rng.random() >= _RETRY_AFTER_ERROR:
                    break
            elif rng.random() >= (pv.regen_if_bad if bad else pv.regen_if_good):
                break
            t = call.done + rng.lognormvariate(2.0, 0.8)  # a few seconds to decide
        if first is None or parent is None:
            return None
        return _Turn(first, parent, bad)

    def _call(
        self,
        s: _Session,
        kind: str,
        text: str,
        output: str | None,
        t: float,
        parent: str | None,
        history_tokens: int,
    ) -> _Call:
        rng = self.rng
        fraction = t / self.end_offset
        error: str | None = None
        r = rng.random()
        if cat.INCIDENT[0] <= fraction < cat.INCIDENT[1]:
            if r < _INCIDENT_ERROR_RATE:
                error = cat.INCIDENT_ERROR
        elif r < _ERROR_RATE:
            error = cat.ERRORS[int(r / _ERROR_RATE * len(cat.ERRORS))]
        elif kind == cat.LONG and s.pv.model == cat.GPT_MINI and r < _LONG_INPUT_ERROR_RATE:
            error = cat.CONTEXT_ERROR
        input_tokens = s.sys_tokens + history_tokens + len(text) // 4 + rng.randrange(4, 24)
        if error is None:
            assert output is not None
            output_tokens = len(output) // 4 + rng.randrange(2, 12)
            latency = math.exp(s.lat_mu + 0.35 * rng.gauss()) + output_tokens * s.lat_per_token
            cost = input_tokens * s.price_in + output_tokens * s.price_out
        else:
            output = None
            output_tokens = 0
            latency = (30_000.0 if error.startswith("api_timeout") else 200.0) * (
                1.0 + rng.random()
            )
            cost = 0.0  # providers do not bill failed calls
        if error is not None and error == cat.INCIDENT_ERROR:
            latency += 5_000.0
        interaction_id = self._uuid()
        values = {
            "interaction_id": interaction_id,
            "session_id": s.session_id,
            "user_id": s.user_id,
            "feature": s.feature,
            "prompt_name": s.prompt_name,
            "prompt_version": s.pv.version,
            "prompt_hash": s.pv.prompt_hash,
            "model": s.pv.model,
            "system_prompt": s.pv.system_prompt,
            "user_input": text,
            "raw_output": output,
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "latency_ms": round(latency, 1),
            "timestamp": self.start + timedelta(seconds=t),
            "metadata": dict(s.meta),
            "parent_interaction_id": parent,
            "trace_id": None,
            "span_id": None,
            "error": error,
            "cost_usd": round(cost, 8),
        }
        if self.validate:
            record = Interaction.model_validate(values)
        else:
            record = _construct(Interaction, values, _INTERACTION_FIELDSET, _FAST_INTERACTIONS)
        self.interactions.append(record)
        self.left -= 1
        self.totals["interactions"] += 1
        stats = s.stats
        stats.interactions += 1
        if error is not None:
            stats.errors += 1
        stats.first_seen = min(stats.first_seen, t)
        stats.last_seen = max(stats.last_seen, t)
        return _Call(interaction_id, t, t + latency / 1000.0, output, error is not None)

    # -- what the user does with a drafted artifact ---------------------------------------
    def _use_artifact(
        self, s: _Session, call: _Call, bad: bool, edited: Callable[[], str]
    ) -> float:
        """Copy, edit or walk away from a summary / email draft; returns the session clock."""
        rng = self.rng
        t = call.done + rng.lognormvariate(3.0, 0.8)
        if call.error:
            self._abandon(s, call)
            return t
        r = rng.random()
        if bad:
            edit_p, copy_p, abandon_p = 0.35, 0.15, 0.6
        else:
            edit_p, copy_p, abandon_p = s.pv.edit_if_good, 0.55, 0.06
        if r < edit_p:
            t += rng.lognormvariate(4.0, 0.7)  # about a minute of editing
            self._feedback(s, call.interaction_id, EDIT, t, None, user_edit=edited())
            if rng.random() < 0.8:
                t += rng.lognormvariate(1.0, 0.5)
                self._feedback(s, call.interaction_id, COPY, t, None, metadata={"edited": True})
        elif r < edit_p + copy_p:
            self._feedback(s, call.interaction_id, COPY, t, None, metadata={"edited": False})
            s.stats.copy_unedited += 1
        elif rng.random() < abandon_p:
            self._abandon(s, call)
        return t

    def _abandon(self, s: _Session, call: _Call) -> None:
        # Inferred by a job after the session went idle, not reported by the user.
        self._feedback(
            s,
            call.interaction_id,
            ABANDON,
            call.done + 1800.0,
            None,
            source=INFERRED,
            metadata={"inferred_by": "session_idle", "idle_seconds": 1800},
        )

    # -- explicit feedback -----------------------------------------------------------------
    def _explicit(
        self,
        s: _Session,
        call: _Call,
        bad: bool,
        kind: str,
        text: str,
        category: str,
        correct: Callable[[], str],
    ) -> None:
        rng = self.rng
        if rng.random() >= (_RESPOND_IF_BAD if bad else _RESPOND_IF_GOOD):
            return
        delay = self._delay()
        value: float | None = None
        chosen: str | None = None
        comment: str | None = None
        user_edit: str | None = None
        r = rng.random()
        if not bad:
            if r < 0.78:
                feedback_type = THUMBS_UP
            else:
                feedback_type = RATING
                value = 5.0 if r < 0.93 else (4.0 if r < 0.985 else 3.0)
        elif r < 0.16:
            feedback_type = RATING
            value = 1.0 if r < 0.10 else (2.0 if r < 0.145 else 3.0)
        elif r < 0.27:
            feedback_type = CORRECTION
            user_edit = correct()
        elif r < (0.45 if kind in (cat.UNSAFE, cat.OUT_OF_SCOPE) else 0.30):
            feedback_type = REPORT
            chosen = category
            if rng.random() < 0.5:
                comment = rng.choice(cat.COMMENTS[category])
        else:
            # The one-tap category after a thumbs-down; some users skip it or pick another.
            feedback_type = THUMBS_DOWN
            chosen = category
            c = rng.random()
            if c < 0.15:
                chosen = None
            elif c < 0.30:
                chosen = rng.choice(("wrong", "unhelpful", "off_topic", "other"))
            if chosen is not None and rng.random() < 0.2:
                comment = rng.choice(cat.COMMENTS[chosen])
        event = self._feedback(
            s,
            call.interaction_id,
            feedback_type,
            call.done + delay,
            text,
            category=chosen,
            value=value,
            user_edit=user_edit,
            comment=comment,
        )
        if event is None:
            return
        if delay > _HOUR:
            self.totals["late"] += 1
        if rng.random() < _DUPLICATE_RATE:
            self.retries.append((self.sessions + _RETRY_DELAY_SESSIONS, event))

    def _delay(self) -> float:
        """Seconds between an answer and the explicit feedback on it: mostly right away, some
        hours later (a user comes back to the tab), a few the next day."""
        rng = self.rng
        r = rng.random()
        if r < 0.72:
            return rng.lognormvariate(3.0, 0.9)
        if r < 0.95:
            return 300.0 + rng.random() * 3 * _HOUR
        return 3 * _HOUR + rng.random() * 33 * _HOUR

    # -- records ---------------------------------------------------------------------------
    def _feedback(
        self,
        s: _Session,
        interaction_id: str,
        kind: FeedbackType,
        t: float,
        user_input: str | None,
        *,
        source: FeedbackSource = USER,
        category: str | None = None,
        value: float | None = None,
        user_edit: str | None = None,
        comment: str | None = None,
        related: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> FeedbackEvent | None:
        if t > self.end_offset:
            # Has not arrived yet at the end of the period.
            self.totals["dropped_after_end"] += 1
            return None
        meta: dict[str, Any] = {"simulated": True}
        if metadata:
            meta.update(metadata)
        values = {
            "feedback_id": self._uuid(),
            "interaction_id": interaction_id,
            "feedback_type": kind,
            "category": category,
            "value": value,
            "user_edit": user_edit,
            "comment": comment,
            "source": source,
            "related_interaction_id": related,
            "metadata": meta,
            "timestamp": self.start + timedelta(seconds=t),
        }
        if self.validate:
            event = FeedbackEvent.model_validate(values)
        else:
            event = _construct(FeedbackEvent, values, _FEEDBACK_FIELDSET, _FAST_FEEDBACK)
        self.feedback.append(event)
        totals = self.totals
        totals["feedback"] += 1
        stats = s.stats
        stats.feedback[kind] += 1
        negative = kind in _NEGATIVE or (
            kind is RATING and value is not None and value <= NEGATIVE_RATING_MAX
        )
        if negative:
            stats.negative += 1
            if t >= self.recent_from and user_input is not None:
                self.negative_inputs[user_input] += 1
        return event

    def _uuid(self) -> str:
        h = "%032x" % ((self.rng.getrandbits(128) & _UUID_CLEAR) | _UUID_SET)
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    # -- input writers ---------------------------------------------------------------------
    def _note(self, t: float, *, long: bool) -> tuple[str, _NoteParts]:
        rng = self.rng
        team = rng.choice(cat.TEAMS)
        day = (self.start + timedelta(seconds=t)).strftime("%b %d")
        people = rng.sample(cat.FIRST_NAMES, 3)
        n_topics = rng.randint(6, 10) if long else rng.randint(2, 4)
        topics = [(rng.choice(cat.TOPICS), rng.choice(cat.FINDINGS)) for _ in range(n_topics)]
        actions = [
            (rng.choice(people), rng.choice(cat.TASKS), rng.choice(cat.DUE))
            for _ in range(rng.randint(1, 3))
        ]
        lines = [f"{team} sync — {day}", f"Attendees: {', '.join(people)}", ""]
        lines += [f"- {topic}: {finding}" for topic, finding in topics]
        if long:
            # Meeting transcripts pasted whole: long inputs the small model struggles with.
            for topic, finding in topics:
                speaker = rng.choice(people)
                lines.append(f"{speaker}: so on {topic}, {finding}, and I think we should ")
                lines.append(f"{rng.choice(people)}: agreed, let's take it offline.")
        lines.append("Action items:")
        lines += [f"- {who} to {task} by {due}" for who, task, due in actions]
        return "\n".join(lines), ("note", team, people, topics, actions)


def _cumulative(weights: Iterable[float]) -> list[float]:
    out: list[float] = []
    total = 0.0
    for w in weights:
        total += float(w)
        out.append(total)
    return out


# -- output writers: the model's answer in each prompt version's style ------------------------
def _support_answer(
    style: str,
    question: _Question,
    bad: bool,
    follow_up: bool,
    platform: str,
) -> str:
    kind, _text, good_answer, bad_answer = question[0], question[1], question[2], question[3]
    if style == "clarifying" and kind == cat.AMBIGUOUS and not follow_up:
        return (
            "Happy to help! What isn't working — syncing, sharing, or something else — and "
            f"are you {cat.PLATFORM_PHRASES[platform].removeprefix('in the ')}?"
        )
    if style == "clarifying" and kind in (cat.OUT_OF_SCOPE, cat.UNSAFE):
        return (
            "I can only help with questions about Acme Notes. Is there something in the app "
            "I can help you with?"
        )
    body = bad_answer if bad else good_answer
    if style == "chatty":
        prefix = "I'm sorry that didn't work! " if follow_up else "Great question! "
        extra = (
            " You can also connect Acme Notes to Zapier to automate this."
            if bad and kind == cat.COMMON
            else ""
        )
        return (
            f"{prefix}{body}{extra} Let me know if there's anything else I can help you with "
            "— I'm always happy to help!"
        )
    if follow_up:
        return f"Sorry about that. {body}"
    return body


def _summary(style: str, parts: _NoteParts | None, bad: bool, rng: random.Random) -> str:
    if parts is None:
        if bad:
            return "The note covers upcoming tasks, ideas and next steps for the team."
        return "This note is too short to summarize. Add more content and try again."
    if parts[0] == "doc":
        title, body, _ = cat.SHARED_DOCS[parts[1]]
        sentences = [x.strip() for x in body.split(". ") if x.strip()]
        if style == "bullets":
            kept = sentences[:2] if bad else sentences[:4]
            return "\n".join(f"- {x.rstrip('.')}" for x in kept)
        if bad:
            return f"{title}: {sentences[0]}. Revenue grew 40% and the team hit every goal."
        if style == "structured":
            return f"{title}.\nDecisions: {sentences[0]}.\nAction items:\n- {sentences[-1]}"
        return f"{title}: " + ". ".join(sentences[:3]) + "."
    _tag, team, people, topics, actions = parts
    (t1, f1), (t2, f2) = topics[0], topics[1]
    who, task, due = actions[0]
    if bad:
        # Wrong owner: the classic summarization error users fix by hand.
        who = next(p for p in people if p != who)
    if style == "bullets":
        bullets = [f"- {t1}: {f1}", f"- {t2}: {f2}"]
        if not bad:
            bullets.append(f"- {who}: {task}")
        return "\n".join(bullets)
    if style == "structured":
        items = "\n".join(
            f"- {w if i else who}: {tk} ({d})" for i, (w, tk, d) in enumerate(actions)
        )
        return f"{team} sync: {t1}, {t2}.\nDecisions: {f1}.\nAction items:\n{items}"
    opener = rng.choice(("The", "In this sync, the", "Summary: the"))
    return (
        f"{opener} {team} team discussed {t1} ({f1}) and {t2} ({f2}). "
        f"Action items: {who} will {task} by {due}."
    )


def _summary_edit(parts: _NoteParts | None, rng: random.Random) -> str:
    """What a user's edited summary looks like: the structure 1.4.1 later adopted."""
    text = _summary("structured", parts, False, rng)
    return text.replace("Decisions:", "Decided:") if rng.random() < 0.3 else text


def _email(style: str, email: tuple[str, str] | None, bad: bool, sender: str, kind: str) -> str:
    if email is None:
        if kind == cat.UNSAFE:
            if bad:
                return "Dear Landlord,\n\nYou are a useless, greedy ...\n\n" + sender
            return "I can't help write that, but I can help you draft a firm, polite email."
        if bad:
            return f"Hi,\n\nJust following up on this.\n\nThanks,\n{sender}"
        return "Who is the email for, and what should it say?"
    name, purpose = email
    extra = " I've also moved our call to 8am and attached the signed contract." if bad else ""
    if style == "formal":
        return (
            f"Dear {name},\n\nI hope this email finds you well. I am writing to {purpose}."
            f"{extra}\n\nPlease do not hesitate to contact me should you have any questions."
            f"\n\nKind regards,\n{sender}"
        )
    if style == "concise":
        return f"Hi {name},\n\nI wanted to {purpose}.{extra}\n\nThanks,\n{sender}"
    # "edited": what users turn either style into before sending.
    return f"Hi {name},\n\nI wanted to {purpose}. Let me know what works for you.\n\n{sender}"


def simulate(
    *,
    interactions: int = DEFAULT_INTERACTIONS,
    days: int = DEFAULT_DAYS,
    end: datetime,
    seed: int = DEFAULT_SEED,
    validate: bool = False,
) -> SimulatedTraffic:
    """Generate the whole simulated period in memory (fine up to a few hundred thousand)."""
    return Simulation(
        interactions=interactions, days=days, end=end, seed=seed, validate=validate
    ).run()


def iter_batches(
    *,
    interactions: int = DEFAULT_INTERACTIONS,
    days: int = DEFAULT_DAYS,
    end: datetime,
    seed: int = DEFAULT_SEED,
    batch_size: int = 10_000,
    validate: bool = False,
) -> Iterator[DemoBatch]:
    """Stream the same records as :func:`simulate`, in batches, in constant memory."""
    sim = Simulation(interactions=interactions, days=days, end=end, seed=seed, validate=validate)
    return sim.batches(batch_size)
