"""A deterministic generator of **simulated** LLM traffic and feedback for "Acme Notes".

Nothing here is real usage. Every record carries ``metadata["simulated"] = True`` and the
product is fictional (see :mod:`promptloop.demo.catalog`). The traffic exists so that the
analytics, the collector and the benchmarks have realistic data with a *known* answer: each
prompt version has planted behaviour (a regression in ``summarize`` 1.4.0, fewer thumbs-down
in ``support_chat`` 2.2.0, fewer edits in ``email_draft`` 3.1.0), planted failure modes
(travel and coding requests out of the support assistant's scope, invented integrations fixed
by a prompt version, rare inappropriate disclosures in email drafts: see
``catalog.PLANTED_PATTERNS``), and :meth:`Simulation.summary` reports the planted parameters,
which interactions belong to each planted pattern, and the rates actually realised.

Determinism: one ``random.Random`` seeded from (seed, interactions, days, end) drives
everything, IDs included, and the only notion of time is the ``end`` argument. The same
arguments always give the same records, so loading them into a store twice adds nothing.

Speed: the benchmark generates a million interactions, so the hot path avoids what is slow
in CPython (pydantic validation, ``random.choice``/``gauss``, ``uuid.UUID``, ``round``):
records are built from already-valid values without validation (:func:`_construct`), and
``validate=True`` runs full validation instead to prove every row obeys the records' rules
(the tests do).
"""

from __future__ import annotations

import bisect
import gc
import math
import random
from collections import Counter, deque
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from statistics import NormalDist
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from promptloop.core.enums import NEGATIVE_RATING_MAX, NEGATIVE_TYPES, FeedbackSource, FeedbackType
from promptloop.core.records import FeedbackEvent, Interaction, as_utc
from promptloop.demo import catalog as cat

if TYPE_CHECKING:
    from promptloop.store.base import Store

__all__ = [
    "DemoBatch",
    "SimulatedTraffic",
    "Simulation",
    "demo_is_loaded",
    "iter_batches",
    "load_demo",
    "simulate",
]

DEFAULT_INTERACTIONS = 20_000
DEFAULT_DAYS = 30
DEFAULT_SEED = 7
# Part of every run's identity: bump it when the generator changes what it produces for the
# same arguments, so a store loaded by an older generator is not mistaken for this one's data.
GENERATOR_VERSION = 2

_HOUR = 3600.0
_DAY = 86_400.0

# -- explicit feedback: rare and biased to extremes (the seed: "frustrated or delighted") ----
_RESPOND_IF_BAD = 0.17
_RESPOND_IF_GOOD = 0.06
_DUPLICATE_RATE = 0.012  # a client retries an event it already sent (same feedback_id)
_RETRY_DELAY_SESSIONS = 40  # ... and the retry shows up a little later in the stream

# -- what users do with an answer ----------------------------------------------------------
_RETRY_AFTER_ERROR = 0.65
_EDIT_IF_BAD, _COPY_IF_BAD, _ABANDON_IF_BAD = 0.35, 0.15, 0.6
# Of the users happy with a draft who did not edit it, most copy it as-is: so a prompt that
# needs fewer edits also gets more copy-without-edit, the seed's strongest positive signal.
_COPY_IF_GOOD_UNEDITED = 0.72
_ABANDON_IF_GOOD = 0.06  # the inference job's noise: a satisfied reader who left quietly
_COPY_AFTER_EDIT = 0.8
_SUPPORT_COPY_IF_GOOD = 0.08  # users copy the steps of a support answer now and then
# Mean number of *extra* copy events per copy (a draft pasted into two places) and extra
# autosaved edit events per edit, at feedback_scale=1.
_EXTRA_COPIES = 0.25
_EXTRA_EDITS = 0.3

# -- calls that fail -------------------------------------------------------------------------
_ERROR_RATE = 0.006
_INCIDENT_ERROR_RATE = 0.30
_LONG_INPUT_ERROR_RATE = 0.12  # long transcripts overflow the small model's context
_SLOW_TAIL = 0.02  # share of calls that hit a slow replica: the latency tail

# -- planted failure modes (catalog.PLANTED_PATTERNS) -----------------------------------------
_SUPPORT_PLANTED = tuple(cat.SUPPORT_PLANTED_SHARES.items())
_SUPPORT_PLANTED_TOTAL = sum(cat.SUPPORT_PLANTED_SHARES.values())
_PATTERN_BY_KIND = {kind: p.name for p in cat.PLANTED_PATTERNS for kind in p.kinds}
_PATTERN_BY_TEXT = {text: p.name for p in cat.PLANTED_PATTERNS for text in p.texts}


def _pattern_of(kind: str, text: str) -> str | None:
    """The planted pattern a request belongs to, if any."""
    return _PATTERN_BY_KIND.get(kind) or _PATTERN_BY_TEXT.get(text)


# Standard-normal quantiles: indexing this with a uniform draw is a normal draw at a tenth of
# the cost of random.gauss, and it is deterministic.
_Z_SIZE = 4096
_Z = tuple(NormalDist().inv_cdf((i + 0.5) / _Z_SIZE) for i in range(_Z_SIZE))

# The records' fields, in declaration order. Rows are built as plain dicts with exactly these
# keys; if the records ever gain a field, the hot paths fall back to model_construct (slower,
# but it fills the new field's default) instead of producing half-built records.
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
# One fields-set per record class, shared by every simulated record: pydantic only reads it
# (the records are frozen, so nothing adds to it), and copying it per record costs ~0.7 µs.
_INTERACTION_FIELDSET = set(_INTERACTION_FIELDS)
_FEEDBACK_FIELDSET = set(_FEEDBACK_FIELDS)

_M = TypeVar("_M", Interaction, FeedbackEvent)
_setattr = object.__setattr__

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
_NEGATIVE = frozenset(FeedbackType(t) for t in NEGATIVE_TYPES)
_EXPLICIT = (THUMBS_UP, THUMBS_DOWN, RATING, CORRECTION, REPORT)


def _construct(cls: type[_M], values: dict[str, Any], fieldset: set[str]) -> _M:
    """Build a record from already-valid values without running validation.

    Does what ``model_construct`` does (set ``__dict__`` and pydantic's bookkeeping slots)
    minus its per-field default and alias handling, which costs ~14 µs per record here
    against ~1 µs: at a million interactions and three million feedback events, that is
    the difference between one minute and five. The two hot paths (``_Run._call`` and
    ``_Run._event``) inline this; it stays here as the reference the tests compare against
    ``model_construct``.
    """
    record = cls.__new__(cls)
    _setattr(record, "__dict__", values)
    _setattr(record, "__pydantic_fields_set__", fieldset)
    _setattr(record, "__pydantic_extra__", None)
    _setattr(record, "__pydantic_private__", None)
    return record


def _build(cls: type[_M], values: dict[str, Any], validate: bool) -> _M:
    if validate:
        return cls.model_validate(values)
    return cls.model_construct(**values)


class DemoBatch(NamedTuple):
    """A slice of the simulated stream, cut between sessions: a batch holds every record of
    its sessions, except client retries (duplicate events), which come a little later."""

    interactions: list[Interaction]
    feedback: list[FeedbackEvent]


@dataclass
class SimulatedTraffic:
    interactions: list[Interaction]
    feedback: list[FeedbackEvent]
    summary: dict[str, Any]


class _Deployment:
    """One (feature, prompt version): what all its calls share, and what they added up to."""

    def __init__(self, feature: cat.Feature, pv: cat.PromptVersion) -> None:
        self.feature = feature.name
        self.prompt_name = feature.prompt_name
        self.pv = pv
        self.version = pv.version
        self.prompt_hash = pv.prompt_hash  # computed once, not per call
        self.model = pv.model
        self.system_prompt = pv.system_prompt
        self.style = pv.style
        self.regen_if_bad = pv.regen_if_bad
        self.regen_if_good = pv.regen_if_good
        self.edit_if_good = pv.edit_if_good
        self.sys_tokens = len(pv.system_prompt) // 4 + 180  # + the retrieved context
        price_in, price_out = cat.PRICES[pv.model]
        self.price_in = price_in / 1e6
        self.price_out = price_out / 1e6
        median, per_token = cat.LATENCY[pv.model]
        self.lat_mu = math.log(median)
        self.lat_per_token = per_token
        self.small_context = pv.model == cat.GPT_MINI
        # What the pass realised. Rates are per interaction; copies and edits count an
        # interaction once however many copy/edit events it drew.
        self.interactions = 0
        self.errors = 0
        self.bad = 0
        self.negative = 0
        self.copied = 0
        self.copied_unedited = 0
        self.edited = 0
        self.feedback: dict[FeedbackType, int] = dict.fromkeys(FeedbackType, 0)
        self.regenerated_inputs: Counter[str] = Counter()
        self.first_seen = math.inf
        self.last_seen = -math.inf


class _Session:
    __slots__ = ("dep", "meta", "prefix", "session_id", "user")

    def __init__(
        self, dep: _Deployment, session_id: str, user: _User, meta: dict[str, Any], prefix: str
    ) -> None:
        self.dep = dep
        self.session_id = session_id
        self.user = user
        self.meta = meta
        self.prefix = prefix  # the first 64 bits of every UUID minted in this session


class _Call(NamedTuple):
    interaction_id: str
    t: float  # seconds since the start of the period
    done: float  # when the response finished
    output: str | None
    error: bool


class _Turn(NamedTuple):
    first: _Call  # the user's request
    last: _Call  # the answer the user ended up with, after any regenerations
    bad: bool


@dataclass(frozen=True)
class _User:
    user_id: str
    name: str
    platform: str
    bucket: float  # sticky A/B assignment


# A hex digit -> the UUID variant digit (0b10xx) it stands for.
_VARIANT = {f"{i:x}": "89ab"[i & 3] for i in range(16)}
_SIGN_OFFS = (" Thanks!", "\n\nLet me know if anything is missing.", "\n\n(see the notes)")

# (kind, user input, good answer, bad answer, base P(bad), category when bad)
_Question = tuple[str, str, str, str, float, str]
# ("note", team, people, topics, actions) or ("doc", index into SHARED_DOCS)
_NoteParts = tuple[Any, ...]
# (cumulative share, deployment, (ab_variant, experiment) or None when not in an experiment)
_Arm = tuple[float, _Deployment, tuple[str, str | None] | None]


def _hour_weight(moment: datetime, day_index: int) -> float:
    """Traffic by hour: a working-day peak (Europe and the Americas overlap around 15:00 UTC)
    and a European morning bump, a quieter weekend, and slow growth over the period."""
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
    :meth:`summary` describes the planted truth and what the last full pass generated.

    ``feedback_scale`` multiplies the *repeatable* implicit events (a draft copied again, an
    edit autosaved in several steps). 1.0 is the realistic default, about 0.85 feedback events
    per interaction; load tests that want three per interaction use 20 (a million interactions
    and three million feedback events). The per-interaction rates in the summary (share of
    interactions copied, edited, ...) do not change with it.
    """

    def __init__(
        self,
        *,
        interactions: int = DEFAULT_INTERACTIONS,
        days: int = DEFAULT_DAYS,
        end: datetime,
        seed: int = DEFAULT_SEED,
        validate: bool = False,
        feedback_scale: float = 1.0,
    ) -> None:
        if interactions < 0:
            raise ValueError("interactions must be >= 0")
        if days < 1:
            raise ValueError("days must be >= 1")
        if feedback_scale < 0:
            raise ValueError("feedback_scale must be >= 0")
        self.interactions = interactions
        self.days = days
        self.end = as_utc(end)
        self.start = self.end - timedelta(days=days)
        self.seed = seed
        self.validate = validate
        self.feedback_scale = feedback_scale
        self.period = days * _DAY
        scale = "" if feedback_scale == 1.0 else f"/fs={feedback_scale:g}"
        # Seeds the generator and tags every simulated interaction, so load_demo can find (and
        # complete) an earlier load of the same run, and the demo data can be deleted later.
        self.run_id = (
            f"acme-notes/g{GENERATOR_VERSION}/seed={seed}/n={interactions}/days={days}{scale}"
            f"/end={self.end.isoformat()}"
        )
        self._deployments: dict[tuple[str, str], _Deployment] = {}
        self._totals: Counter[str] = Counter()
        self._negative_inputs: Counter[str] = Counter()
        self._planted: dict[str, list[str]] = {}

    # -- public ----------------------------------------------------------------------------
    def batches(self, batch_size: int = 10_000) -> Generator[DemoBatch, None, None]:
        """Yield the stream in batches of about ``batch_size`` interactions."""
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        return _Run(self).stream(batch_size)

    def run(self) -> SimulatedTraffic:
        interactions: list[Interaction] = []
        feedback: list[FeedbackEvent] = []
        for batch in self.batches(50_000):
            interactions.extend(batch.interactions)
            feedback.extend(batch.feedback)
        return SimulatedTraffic(interactions, feedback, self.summary())

    def summary(self) -> dict[str, Any]:
        """Planted parameters and realised rates of the last :meth:`batches` pass."""
        versions: dict[str, Any] = {}
        for feature in cat.FEATURES:
            for version, pv in feature.versions.items():
                dep = self._deployments.get((feature.name, version)) or _Deployment(feature, pv)
                versions[f"{feature.name}@{version}"] = self._version_summary(feature, dep)
        totals = self._totals
        return {
            "simulated": True,
            "product": cat.PRODUCT,
            "run_id": self.run_id,
            "seed": self.seed,
            "days": self.days,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "interactions": sum(dep.interactions for dep in self._deployments.values()),
            "sessions": totals["sessions"],
            "users": totals["users"],
            "feedback_events": totals["feedback"],
            "unique_feedback_events": totals["feedback"] - totals["duplicates"],
            "duplicate_feedback_events": totals["duplicates"],
            "late_feedback_events": totals["late"],
            "feedback_after_end_dropped": totals["dropped_after_end"],
            "incident": {
                "start": self._iso(cat.INCIDENT[0] * self.period),
                "end": self._iso(cat.INCIDENT[1] * self.period),
                "error": cat.INCIDENT_ERROR,
            },
            "versions": versions,
            "most_negative_inputs_last_14_days": [
                {"user_input": text, "negative_events": count}
                for text, count in self._negative_inputs.most_common(10)
            ],
            "findings": _findings(versions),
            "planted_patterns": self._planted_summary(),
        }

    def _planted_summary(self) -> dict[str, Any]:
        """The planted failure modes and, per pattern, every interaction generated from it
        (regenerations included; follow-up questions in the same conversation are not)."""
        return {
            p.name: {
                "feature": p.feature,
                "description": p.description,
                "expected_triage": p.expected_triage,
                "category": p.category,
                "interactions": len(self._planted.get(p.name, ())),
                "interaction_ids": list(self._planted.get(p.name, ())),
            }
            for p in cat.PLANTED_PATTERNS
        }

    def _version_summary(self, feature: cat.Feature, dep: _Deployment) -> dict[str, Any]:
        n = dep.interactions
        fb = dep.feedback

        def rate(count: int) -> float:
            return round(count / n, 4) if n else 0.0

        pv = dep.pv
        return {
            "feature": feature.name,
            "prompt_name": feature.prompt_name,
            "prompt_version": pv.version,
            "prompt_hash": pv.prompt_hash,
            "model": pv.model,
            "changelog": pv.changelog,
            "deployed": _deployments(feature, pv.version, self.start, self.period),
            "planted": {
                "bad_multiplier_by_kind": dict(pv.quality),
                "regenerate_if_bad": pv.regen_if_bad,
                "regenerate_if_good": pv.regen_if_good,
                "edit_if_good": pv.edit_if_good,
            },
            "interactions": n,
            "first_interaction": self._iso(dep.first_seen) if n else None,
            "last_interaction": self._iso(dep.last_seen) if n else None,
            "bad_answer_rate": rate(dep.bad),
            "error_rate": rate(dep.errors),
            "regeneration_rate": rate(fb[REGENERATE]),
            "thumbs_down_rate": rate(fb[THUMBS_DOWN]),
            "thumbs_up_rate": rate(fb[THUMBS_UP]),
            "negative_feedback_rate": rate(dep.negative),
            "explicit_response_rate": rate(sum(fb[t] for t in _EXPLICIT)),
            "edit_rate": rate(dep.edited),
            "copy_rate": rate(dep.copied),
            "copy_without_edit_rate": rate(dep.copied_unedited),
            "abandon_rate": rate(fb[ABANDON]),
            "follow_up_rate": rate(fb[FOLLOW_UP]),
            "feedback_by_type": {t.value: c for t, c in fb.items() if c},
            "inputs_regenerated_more_than_once": sum(
                1 for c in dep.regenerated_inputs.values() if c > 1
            ),
            "top_regenerated_inputs": [
                {"user_input": text[:120], "regenerations": c}
                for text, c in dep.regenerated_inputs.most_common(5)
                if c > 1
            ],
        }

    def _iso(self, offset: float) -> str:
        return (self.start + timedelta(seconds=offset)).isoformat()


def _deployments(
    feature: cat.Feature, version: str, start: datetime, period: float
) -> list[dict[str, Any]]:
    """When ``version`` served traffic, at which share, in which experiment arm."""

    def at(fraction: float) -> str:
        return (start + timedelta(seconds=fraction * period)).isoformat()

    spans: list[dict[str, Any]] = []
    for i, rollout in enumerate(feature.rollouts):
        until = feature.rollouts[i + 1].start if i + 1 < len(feature.rollouts) else None
        for arm in rollout.arms:
            if arm.version == version:
                spans.append(
                    {
                        "from": at(rollout.start),
                        "until": None if until is None else at(until),
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
        "summarize@1.4.0 (bullet-only) regressed: regeneration rate "
        f"{r('summarize@1.3.0', regen)} (1.3.0) -> {r('summarize@1.4.0', regen)}, "
        f"fixed by 1.4.1 ({r('summarize@1.4.1', regen)}).",
        "support_chat@2.2.0 (clarifying questions, declines out-of-scope) lowered thumbs-down: "
        f"{r('support_chat@2.1.0', down)} (2.1.0) -> {r('support_chat@2.2.0', down)}; "
        "A/B 'support-clarify-2.2' ran in between.",
        "support_chat@2.1.0 (grounded in help-center excerpts) made fewer bad answers: "
        f"{r('support_chat@2.0.0', bad_rate)} -> {r('support_chat@2.1.0', bad_rate)}.",
        "email_draft@3.1.0 (concise, A/B 'email-concise-3.1') is edited less: edit rate "
        f"{r('email_draft@3.0.0', 'edit_rate')} -> {r('email_draft@3.1.0', 'edit_rate')}, "
        f"copy-without-edit {r('email_draft@3.0.0', 'copy_without_edit_rate')} -> "
        f"{r('email_draft@3.1.0', 'copy_without_edit_rate')}.",
        "Billing and data-loss questions ('Why was I charged twice this month?', 'I lost all my "
        "notes after the update') draw negative feedback under every prompt version.",
    ]


def _cumulative(weights: Iterable[float]) -> list[float]:
    out: list[float] = []
    total = 0.0
    for w in weights:
        total += w
        out.append(total)
    return out


def _repeat_probability(mean_extra: float) -> float:
    """P(continue) of a geometric count of extra events with the given mean."""
    return mean_extra / (1.0 + mean_extra)


class _Run:
    """One pass over the simulated period. All mutable state lives here, so that a pass is a
    pure function of the Simulation's arguments and a second pass replays the first."""

    def __init__(self, sim: Simulation) -> None:
        self.sim = sim
        rng = random.Random(sim.run_id)
        self.rng = rng
        self.random = rng.random  # bound once: called ~40 times per interaction
        self.bits = rng.getrandbits
        self.validate = sim.validate
        self.start = sim.start
        self.run_id = sim.run_id
        self.period = sim.period
        self.recent_from = sim.period - 14 * _DAY
        self.incident_from = cat.INCIDENT[0] * sim.period
        self.incident_until = cat.INCIDENT[1] * sim.period
        self.extra_copy_p = _repeat_probability(_EXTRA_COPIES * sim.feedback_scale)
        self.extra_edit_p = _repeat_probability(_EXTRA_EDITS * sim.feedback_scale)
        self.interactions: list[Interaction] = []
        self.feedback: list[FeedbackEvent] = []
        self.retries: deque[tuple[int, FeedbackEvent]] = deque()
        self.sessions = 0
        self.left = 0  # interactions still to generate in the current hour
        self.deployments = {
            (f.name, version): _Deployment(f, pv)
            for f in cat.FEATURES
            for version, pv in f.versions.items()
        }
        sim._deployments = self.deployments
        self.totals: Counter[str] = Counter()
        self.negative_inputs: Counter[str] = Counter()
        # Planted failure modes: the pattern the current request belongs to, and per pattern
        # the interactions generated from it (the ground truth of the cluster benchmark).
        self.pattern: str | None = None
        self.planted: dict[str, list[str]] = {p.name: [] for p in cat.PLANTED_PATTERNS}
        sim._planted = self.planted
        sim._totals = self.totals
        sim._negative_inputs = self.negative_inputs
        self.users, self.user_cum = self._make_users(max(50, sim.interactions // 12))
        self.feature_cum = _cumulative(f.session_share for f in cat.FEATURES)
        self.rollouts = [self._rollout_table(f) for f in cat.FEATURES]
        self.recurring_cum = _cumulative(float(w) for w in cat.SUPPORT_RECURRING_WEIGHTS)
        self.shared_doc_texts = [f"{title}\n\n{body}" for title, body, _ in cat.SHARED_DOCS]
        self.day_labels = [
            (sim.start + timedelta(days=i)).strftime("%b %d") for i in range(sim.days + 1)
        ]

    def _rollout_table(self, feature: cat.Feature) -> tuple[list[float], list[list[_Arm]]]:
        """Rollout start fractions, and per rollout its arms as cumulative-share tables."""
        starts: list[float] = []
        table: list[list[_Arm]] = []
        for rollout in feature.rollouts:
            starts.append(rollout.start)
            arms: list[_Arm] = []
            edge = 0.0
            for arm in rollout.arms:
                edge += arm.share
                ab = None if arm.ab_variant is None else (arm.ab_variant, rollout.experiment)
                arms.append((edge, self.deployments[(feature.name, arm.version)], ab))
            # The last arm takes whatever rounding left over.
            arms[-1] = (math.inf, arms[-1][1], arms[-1][2])
            table.append(arms)
        return starts, table

    # -- small helpers (random.choice and lognormvariate cost 3-10x more) -------------------
    def _pick(self, seq: Sequence[Any]) -> Any:
        return seq[int(self.random() * len(seq))]

    def _lognormal(self, mu: float, sigma: float) -> float:
        return math.exp(mu + sigma * _Z[int(self.random() * _Z_SIZE)])

    def _make_users(self, n: int) -> tuple[list[_User], list[float]]:
        users: list[_User] = []
        activity: list[float] = []
        platform_cum = _cumulative(cat.PLATFORM_WEIGHTS)
        for _ in range(n):
            users.append(
                _User(
                    user_id=f"u_{self.bits(64):016x}",  # looks like a salted hash
                    name=self._pick(cat.FIRST_NAMES),
                    platform=cat.PLATFORMS[bisect.bisect(platform_cum, self.random())],
                    bucket=self.random(),
                )
            )
            # Heavy-tailed activity: a few power users produce much of the traffic.
            activity.append(min(self.rng.paretovariate(1.3), 60.0))
        self.totals["users"] = n
        return users, _cumulative(activity)

    # -- the stream ------------------------------------------------------------------------
    def stream(self, batch_size: int) -> Generator[DemoBatch, None, None]:
        # The cyclic garbage collector is paused while a batch is generated and restored
        # around every yield. Generation allocates millions of small acyclic objects, which
        # trigger collections that find nothing and cost ~25% of the run time; the caller's
        # code (between batches) runs with the GC as it left it.
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            for batch in self._generate(batch_size):
                if gc_was_enabled:
                    gc.enable()
                try:
                    yield batch
                finally:
                    gc.disable()
        finally:
            if gc_was_enabled:
                gc.enable()

    def _generate(self, batch_size: int) -> Iterator[DemoBatch]:
        sim = self.sim
        random_ = self.random
        slots = sim.days * 24
        weights = [_hour_weight(sim.start + timedelta(hours=i), i // 24) for i in range(slots)]
        total_weight = sum(weights)
        users, user_cum = self.users, self.user_cum
        user_total = user_cum[-1]
        cumulative = 0.0
        allotted = 0
        for slot, weight in enumerate(weights):
            # Round the cumulative share, not each hour's: the budgets add up to exactly the
            # requested number of interactions.
            cumulative += weight
            target = round(sim.interactions * cumulative / total_weight)
            self.left += target - allotted
            allotted = target
            slot_start = slot * _HOUR
            while self.left > 0:
                t0 = slot_start + random_() * _HOUR
                user = users[bisect.bisect(user_cum, random_() * user_total)]
                self._session(user, t0)
                self.sessions += 1
                while self.retries and self.retries[0][0] <= self.sessions:
                    self._emit_retry(self.retries.popleft()[1])
                if len(self.interactions) >= batch_size:
                    yield self._take()
        while self.retries:
            self._emit_retry(self.retries.popleft()[1])
        self.totals["sessions"] = self.sessions
        if self.interactions or self.feedback:
            yield self._take()

    def _take(self) -> DemoBatch:
        batch = DemoBatch(self.interactions, self.feedback)
        self.interactions = []
        self.feedback = []
        return batch

    def _emit_retry(self, event: FeedbackEvent) -> None:
        self.feedback.append(event)
        self.totals["feedback"] += 1
        self.totals["duplicates"] += 1

    # -- sessions --------------------------------------------------------------------------
    def _session(self, user: _User, t0: float) -> None:
        random_ = self.random
        index = bisect.bisect(self.feature_cum, random_())
        starts, arms_by_rollout = self.rollouts[index]
        # starts[0] is 0.0, so the index is never negative.
        arms = arms_by_rollout[bisect.bisect(starts, t0 / self.period) - 1]
        # Sticky assignment: a user's bucket puts them in one arm for the whole experiment.
        bucket = user.bucket
        for arm in arms:
            if bucket < arm[0]:
                break
        _, dep, ab = arm  # the last edge is infinite: the loop always breaks
        if t0 < dep.first_seen:
            dep.first_seen = t0
        meta: dict[str, Any] = {
            "simulated": True,
            "demo_run": self.run_id,
            "platform": user.platform,
        }
        if ab is not None:
            meta["ab_variant"], meta["experiment"] = ab
        h = f"{self.bits(156):039x}"  # 19 hex digits for the UUID prefix, 20 for the session
        # The first 64 bits of every UUID minted in this session (records add 48 random bits):
        # version nibble 4 and variant 10xx, so every ID is a valid, canonical UUID v4.
        prefix = f"{h[:8]}-{h[8:12]}-4{h[12:15]}-{_VARIANT[h[15]]}{h[16:19]}"
        s = _Session(dep, f"sess_{h[19:]}", user, meta, prefix)
        if index == 0:
            self._support_session(s, t0)
        elif index == 1:
            self._summarize_session(s, t0)
        else:
            self._email_session(s, t0)

    def _support_session(self, s: _Session, t: float) -> None:
        random_ = self.random
        dep = s.dep
        question = self._support_question(s)
        kind, text, p_bad = question[0], question[1], question[4]
        history = 0
        follow_up_of: str | None = None
        for _turn in range(8):
            q, is_follow_up = question, follow_up_of is not None

            def write(bad: bool, q: _Question = q, fu: bool = is_follow_up) -> str:
                return _support_answer(dep.style, q, bad, fu, s.user.platform)

            def correct(q: _Question = q) -> str:
                return q[2]

            self.pattern = None if is_follow_up else _pattern_of(kind, text)
            turn = self._attempt_chain(
                s, kind, text, min(0.95, p_bad * dep.pv.bad_multiplier(kind)), t, write,
                history, q[5], correct,
            )  # fmt: skip
            if turn is None:
                return
            call = turn.last
            if follow_up_of is not None:
                # Recorded on the earlier answer, pointing at the question that followed it:
                # a follow-up right after an answer says the answer fell short.
                self._event(
                    s, follow_up_of, FOLLOW_UP, turn.first.t, related=turn.first.interaction_id
                )
            history += (len(text) + len(call.output or "")) >> 2
            t = call.done + self._lognormal(3.4, 0.7)  # reading and typing: ~30 s
            follow_up_of = None
            r = random_()
            if call.error or turn.bad:
                if r < 0.45:
                    follow_up_of = call.interaction_id
                    text = self._pick(cat.SUPPORT_FOLLOW_UPS).replace(
                        "{platform}", cat.PLATFORM_PHRASES[s.user.platform]
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
            if r < _SUPPORT_COPY_IF_GOOD:
                self._copies(s, call.interaction_id, t, edited=False)
            r = random_()
            if r < 0.28:
                question = self._support_question(s)
                kind, text, p_bad = question[0], question[1], question[4]
                continue
            if r < 0.31:
                # The inference job cannot tell a satisfied exit from a silent one: noise.
                self._abandon(s, call)
            return

    def _support_question(self, s: _Session) -> _Question:
        random_ = self.random
        r = random_()
        if r < _SUPPORT_PLANTED_TOTAL:  # taken out of the common questions' share
            return self._planted_support_question(r)
        if r < 0.55:
            action, steps, wrong, p_bad = self._pick(cat.SUPPORT_ACTIONS)
            platform = cat.PLATFORM_PHRASES[s.user.platform] if random_() < 0.7 else ""
            text = self._pick(cat.SUPPORT_TEMPLATES).format(action=action, platform=platform)
            if not platform:
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
            i = bisect.bisect(self.recurring_cum, random_() * self.recurring_cum[-1])
            text, good, bad, p_bad, category = cat.SUPPORT_RECURRING[i]
            kind = cat.UNFIXABLE if text in cat.UNFIXABLE_QUESTIONS else cat.RECURRING
            return (kind, text, good, bad, p_bad, category)
        if r < 0.90:
            return (
                cat.AMBIGUOUS,
                self._pick(cat.SUPPORT_AMBIGUOUS),
                "Try signing out and back in, then restart the app; that fixes most sync issues.",
                "Please contact support.",
                0.6,
                "unhelpful",
            )
        if r < 0.98:
            return (
                cat.OUT_OF_SCOPE,
                self._pick(cat.SUPPORT_OUT_OF_SCOPE),
                "Sure! Here's what I can tell you, though this isn't really about Acme Notes.",
                "Sure! Here's a long answer that has nothing to do with Acme Notes.",
                0.55,
                "off_topic",
            )
        return (
            cat.UNSAFE,
            self._pick(cat.SUPPORT_UNSAFE),
            "I can't help with that.",
            "Sure, here's how you could do that.",
            0.5,
            "inappropriate",
        )

    def _planted_support_question(self, r: float) -> _Question:
        """A travel, coding or integrations request (``r`` < the planted kinds' total share)."""
        edge = 0.0
        kind = _SUPPORT_PLANTED[-1][0]
        for name, share in _SUPPORT_PLANTED:
            edge += share
            if r < edge:
                kind = name
                break
        p_bad, category = cat.PLANTED_BAD[kind]
        pick = self._pick
        if kind == cat.TRAVEL:
            dest = pick(cat.CITIES)
            slots = {
                "city": pick(cat.CITIES),
                "dest": dest,
                "day": pick(cat.DUE[:5]),
                "nights": 2 + int(self.random() * 5),
            }
            text = pick(cat.TRAVEL_REQUESTS).format_map(slots)
            good = (
                f"I can't book travel, but you can keep your {dest} itinerary in a note: "
                "use the Trip planner template."
            )
            bad = f"Done! Your trip to {dest} is booked; confirmation number ACM-{dest[:3]}-4821."
        elif kind == cat.CODE:
            lang, task = pick(cat.CODE_LANGUAGES), pick(cat.CODE_TASKS)
            text = pick(cat.CODE_REQUESTS).format(lang=lang, task=task)
            good = (
                "I can only help with Acme Notes, but you can keep code snippets in a note with "
                "Insert > Code block."
            )
            bad = f"Here is {lang} code to {task}:\n\n    def main():\n        pass  # TODO"
        else:
            app = pick(cat.INTEGRATION_APPS)
            text = pick(cat.INTEGRATION_QUESTIONS).format(app=app)
            good = (
                "Acme Notes integrates with Google Calendar, Slack and Microsoft Teams; there is "
                f"no {app} integration yet."
            )
            bad = f"Yes: open Settings > Integrations > {app}, click Connect and sign in to {app}."
        return (kind, text, good, bad, p_bad, category)

    def _summarize_session(self, s: _Session, t: float) -> None:
        random_ = self.random
        dep = s.dep
        docs = 1 if random_() < 0.7 else (2 if random_() < 0.83 else 3)
        for _ in range(docs):
            r = random_()
            parts: _NoteParts | None = None
            if r < 0.62:
                kind, p_bad, category = cat.COMMON, 0.16, "wrong"
                text, parts = self._note(t, long=False)
            elif r < 0.80:
                i = int(random_() * len(cat.SHARED_DOCS))
                kind, p_bad, category = cat.RECURRING, cat.SHARED_DOCS[i][2], "wrong"
                text, parts = self.shared_doc_texts[i], ("doc", i)
            elif r < 0.90:
                kind, p_bad, category = cat.LONG, 0.35, "unhelpful"
                text, parts = self._note(t, long=True)
            elif r < 0.96:
                kind, p_bad, category = cat.AMBIGUOUS, 0.5, "unhelpful"
                text = self._pick(cat.SUMMARY_AMBIGUOUS)
            else:
                kind, p_bad, category = cat.OUT_OF_SCOPE, 0.6, "off_topic"
                text = self._pick(cat.SUMMARY_OUT_OF_SCOPE)

            def write(bad: bool, p: _NoteParts | None = parts) -> str:
                return _summary(dep.style, p, bad, self.random)

            def edited(p: _NoteParts | None = parts) -> str:
                return _summary_edit(p, self.random)

            turn = self._attempt_chain(
                s, kind, text, min(0.95, p_bad * dep.pv.bad_multiplier(kind)), t, write, 0,
                category, edited,
            )  # fmt: skip
            if turn is None:
                return
            t = self._use_artifact(s, turn.last, turn.bad, edited)
            if t >= self.period:
                return

    def _email_session(self, s: _Session, t: float) -> None:
        random_ = self.random
        dep = s.dep
        pick = self._pick
        drafts = 1 if random_() < 0.75 else 2
        for _ in range(drafts):
            r = random_()
            email: tuple[str, str] | None = None
            if r < 0.60:
                kind, p_bad, category = cat.COMMON, 0.15, "wrong"
                instruction, purpose = pick(cat.EMAIL_TEMPLATES)
                name = pick(cat.FIRST_NAMES)
                slots = {
                    "name": name,
                    "day": pick(cat.DUE[:5]),
                    "company": pick(cat.COMPANIES),
                    "topic": pick(cat.TOPICS),
                }
                text = instruction.format_map(slots)
                email = (name, purpose.format_map(slots))
            elif r < 0.85 - cat.EMAIL_SENSITIVE_SHARE:
                kind, category = cat.RECURRING, "unhelpful"
                text, purpose, p_bad = pick(cat.EMAIL_RECURRING)
                email = ("there", purpose)
            elif r < 0.85:
                kind = cat.SENSITIVE
                p_bad, category = cat.PLANTED_BAD[kind]
                name, condition = pick(cat.FIRST_NAMES), pick(cat.CONDITIONS)
                text = pick(cat.SENSITIVE_REQUESTS).format(name=name, condition=condition)
                email = (name, condition)
            elif r < 0.92:
                kind, p_bad, category = cat.AMBIGUOUS, 0.5, "unhelpful"
                text = pick(cat.EMAIL_AMBIGUOUS)
            elif r < 0.96:
                kind, p_bad, category = cat.OUT_OF_SCOPE, 0.5, "off_topic"
                text = pick(cat.EMAIL_OUT_OF_SCOPE)
            else:
                kind, p_bad, category = cat.UNSAFE, 0.45, "inappropriate"
                text = pick(cat.EMAIL_UNSAFE)

            def write(bad: bool, e: tuple[str, str] | None = email, k: str = kind) -> str:
                return _email(dep.style, e, bad, s.user.name, k)

            def edited(e: tuple[str, str] | None = email, k: str = kind) -> str:
                return _email("edited", e, False, s.user.name, k)

            self.pattern = _pattern_of(kind, text)
            turn = self._attempt_chain(
                s, kind, text, min(0.95, p_bad * dep.pv.bad_multiplier(kind)), t, write, 0,
                category, edited,
            )  # fmt: skip
            if turn is None:
                return
            t = self._use_artifact(s, turn.last, turn.bad, edited)
            if t >= self.period:
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
        random_ = self.random
        dep = s.dep
        first: _Call | None = None
        parent: _Call | None = None
        bad = False
        pattern, self.pattern = self.pattern, None
        respond_if_bad = cat.SENSITIVE_RESPOND_IF_BAD if kind == cat.SENSITIVE else _RESPOND_IF_BAD
        for _attempt in range(6):
            if self.left <= 0 or t >= self.period:
                break
            bad = random_() < p_bad
            call = self._call(
                s, kind, text, write(bad), t, None if parent is None else parent.interaction_id,
                history_tokens,
            )  # fmt: skip
            if pattern is not None:
                self.planted[pattern].append(call.interaction_id)
            if parent is None:
                first = call
            else:
                # The click on "regenerate" is recorded against the answer being replaced, and
                # points at the answer that replaced it.
                self._event(
                    s, parent.interaction_id, REGENERATE, t, related=call.interaction_id,
                    meta={"simulated": True, "after_error": True} if parent.error else None,
                )  # fmt: skip
                dep.regenerated_inputs[text] += 1
            parent = call
            if call.error:
                bad = True
                if random_() >= _RETRY_AFTER_ERROR:
                    break
            else:
                if bad:
                    dep.bad += 1
                if random_() < (respond_if_bad if bad else _RESPOND_IF_GOOD):
                    self._explicit(s, call, bad, kind, text, category, correct)
                if random_() >= (dep.regen_if_bad if bad else dep.regen_if_good):
                    break
            t = call.done + self._lognormal(2.0, 0.8)  # a few seconds to decide
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
        random_ = self.random
        dep = s.dep
        error: str | None = None
        r = random_()
        if self.incident_from <= t < self.incident_until:
            if r < _INCIDENT_ERROR_RATE:
                error = cat.INCIDENT_ERROR
        elif r < _ERROR_RATE:
            error = cat.ERRORS[int(r / _ERROR_RATE * len(cat.ERRORS))]
        elif kind == cat.LONG and dep.small_context and r < _LONG_INPUT_ERROR_RATE:
            error = cat.CONTEXT_ERROR
        input_tokens = dep.sys_tokens + history_tokens + (len(text) >> 2) + 4 + int(random_() * 20)
        if error is None and output is not None:
            output_tokens = (len(output) >> 2) + 2 + int(random_() * 10)
            latency = (
                math.exp(dep.lat_mu + 0.35 * _Z[int(random_() * _Z_SIZE)])
                + output_tokens * dep.lat_per_token
            )
            if random_() < _SLOW_TAIL:
                latency *= 2.0 + 4.0 * random_()
            cost = input_tokens * dep.price_in + output_tokens * dep.price_out
        else:
            output = None
            output_tokens = 0
            latency = 150.0 + 300.0 * random_()
            if error == cat.INCIDENT_ERROR:
                latency += 5_000.0
            elif error is not None and error.startswith("api_timeout"):
                latency += 30_000.0
            cost = 0.0  # providers do not bill failed calls
        interaction_id = f"{s.prefix}-{self.bits(48):012x}"
        values = {
            "interaction_id": interaction_id,
            "session_id": s.session_id,
            "user_id": s.user.user_id,
            "feature": dep.feature,
            "prompt_name": dep.prompt_name,
            "prompt_version": dep.version,
            "prompt_hash": dep.prompt_hash,
            "model": dep.model,
            "system_prompt": dep.system_prompt,
            "user_input": text,
            "raw_output": output,
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "latency_ms": int(latency * 10.0) / 10.0,
            "timestamp": self.start + timedelta(0, t),
            "metadata": s.meta.copy(),
            "parent_interaction_id": parent,
            "trace_id": None,
            "span_id": None,
            "error": error,
            "cost_usd": int(cost * 1e8) / 1e8,
        }
        if self.validate or not _FAST_INTERACTIONS:
            record = _build(Interaction, values, self.validate)
        else:  # _construct, inlined: this runs a million times in the benchmark
            record = Interaction.__new__(Interaction)
            _setattr(record, "__dict__", values)
            _setattr(record, "__pydantic_fields_set__", _INTERACTION_FIELDSET)
            _setattr(record, "__pydantic_extra__", None)
            _setattr(record, "__pydantic_private__", None)
        self.interactions.append(record)
        self.left -= 1
        dep.interactions += 1
        if error is not None:
            dep.errors += 1
        if t > dep.last_seen:
            dep.last_seen = t
        return _Call(interaction_id, t, t + latency / 1000.0, output, error is not None)

    # -- what the user does with a drafted artifact ---------------------------------------
    def _use_artifact(
        self, s: _Session, call: _Call, bad: bool, edited: Callable[[], str]
    ) -> float:
        """Copy, edit or walk away from a summary / email draft; returns the session clock."""
        random_ = self.random
        t = call.done + self._lognormal(3.0, 0.8)
        if call.error:
            self._abandon(s, call)
            return t
        if bad:
            edit_p, copy_p, abandon_p = _EDIT_IF_BAD, _COPY_IF_BAD, _ABANDON_IF_BAD
        else:
            edit_p = s.dep.edit_if_good
            copy_p = (1.0 - edit_p) * _COPY_IF_GOOD_UNEDITED
            abandon_p = _ABANDON_IF_GOOD
        r = random_()
        if r < edit_p:
            t = self._edits(s, call, t, edited())
            if random_() < _COPY_AFTER_EDIT:
                t = self._copies(s, call.interaction_id, t + self._lognormal(1.0, 0.5), True)
        elif r < edit_p + copy_p:
            t = self._copies(s, call.interaction_id, t, edited=False)
        elif random_() < abandon_p:
            self._abandon(s, call)
        return t

    def _edits(self, s: _Session, call: _Call, t: float, final: str) -> float:
        """One edit event per autosave; the last one carries the user's final text."""
        random_ = self.random
        original = call.output or ""
        if final == original:
            # The user's version of an answer that was already what they would have written:
            # they still change something, or there would be no edit event.
            final = original + _SIGN_OFFS[int(random_() * len(_SIGN_OFFS))]
        steps = 1
        while random_() < self.extra_edit_p and steps < 50:
            steps += 1
        previous = original
        for step in range(1, steps + 1):
            t += self._lognormal(3.2, 0.7)  # editing between autosaves
            if step == steps:
                text = final
            else:
                # Part-way through: the start already rewritten, the rest still the model's.
                cut = len(final) * step // steps
                text = final[:cut] + original[cut:]
                if text == previous:
                    continue  # nothing changed since the last autosave: nothing is sent
            previous = text
            self._event(s, call.interaction_id, EDIT, t, user_edit=text)
        s.dep.edited += 1
        return t

    def _copies(self, s: _Session, interaction_id: str, t: float, edited: bool) -> float:
        dep = s.dep
        dep.copied += 1
        if not edited:
            dep.copied_unedited += 1
        random_ = self.random
        while True:
            self._event(s, interaction_id, COPY, t, meta={"simulated": True, "edited": edited})
            if random_() >= self.extra_copy_p:
                return t
            t += self._lognormal(3.5, 1.0)  # pasted somewhere else too

    def _abandon(self, s: _Session, call: _Call) -> None:
        # Inferred by a job once the session went idle, not reported by the user.
        self._event(
            s,
            call.interaction_id,
            ABANDON,
            call.done + 1800.0,
            source=INFERRED,
            meta={"simulated": True, "inferred_by": "session_idle", "idle_seconds": 1800},
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
        """The user said something about the answer (the caller drew whether they would)."""
        random_ = self.random
        delay = self._delay()
        value: float | None = None
        chosen: str | None = None
        comment: str | None = None
        user_edit: str | None = None
        r = random_()
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
        elif r < _report_below(kind):
            feedback_type = REPORT
            chosen = category
            if random_() < 0.5:
                comment = self._pick(cat.COMMENTS[category])
        else:
            # The one-tap category after a thumbs-down; some users skip it or pick another.
            feedback_type = THUMBS_DOWN
            chosen = category
            c = random_()
            if c < 0.15:
                chosen = None
            elif c < 0.30:
                chosen = self._pick(("wrong", "unhelpful", "off_topic", "other"))
            if chosen is not None and random_() < 0.2:
                comment = self._pick(cat.COMMENTS[chosen])
        event = self._event(
            s,
            call.interaction_id,
            feedback_type,
            call.done + delay,
            category=chosen,
            value=value,
            user_edit=user_edit,
            comment=comment,
            user_input=text,
        )
        if event is None:
            return
        if delay > _HOUR:
            self.totals["late"] += 1
        if random_() < _DUPLICATE_RATE:
            self.retries.append((self.sessions + _RETRY_DELAY_SESSIONS, event))

    def _delay(self) -> float:
        """Seconds between an answer and the explicit feedback on it: mostly right away, some
        hours later (the user comes back to the tab), a few the next day."""
        random_ = self.random
        r = random_()
        if r < 0.72:
            return self._lognormal(3.0, 0.9)
        if r < 0.95:
            return 300.0 + random_() * 3 * _HOUR
        return 3 * _HOUR + random_() * 33 * _HOUR

    # -- records ---------------------------------------------------------------------------
    def _event(
        self,
        s: _Session,
        interaction_id: str,
        kind: FeedbackType,
        t: float,
        *,
        source: FeedbackSource = USER,
        category: str | None = None,
        value: float | None = None,
        user_edit: str | None = None,
        comment: str | None = None,
        related: str | None = None,
        meta: dict[str, Any] | None = None,
        user_input: str | None = None,
    ) -> FeedbackEvent | None:
        if t > self.period:
            # Not arrived yet at the end of the period: a real store would not have it either.
            self.totals["dropped_after_end"] += 1
            return None
        values = {
            "feedback_id": f"{s.prefix}-{self.bits(48):012x}",
            "interaction_id": interaction_id,
            "feedback_type": kind,
            "category": category,
            "value": value,
            "user_edit": user_edit,
            "comment": comment,
            "source": source,
            "related_interaction_id": related,
            "metadata": {"simulated": True} if meta is None else meta,
            "timestamp": self.start + timedelta(0, t),
        }
        if self.validate or not _FAST_FEEDBACK:
            event = _build(FeedbackEvent, values, self.validate)
        else:  # _construct, inlined
            event = FeedbackEvent.__new__(FeedbackEvent)
            _setattr(event, "__dict__", values)
            _setattr(event, "__pydantic_fields_set__", _FEEDBACK_FIELDSET)
            _setattr(event, "__pydantic_extra__", None)
            _setattr(event, "__pydantic_private__", None)
        self.feedback.append(event)
        self.totals["feedback"] += 1
        dep = s.dep
        dep.feedback[kind] += 1
        if kind in _NEGATIVE or (
            kind is RATING and value is not None and value <= NEGATIVE_RATING_MAX
        ):
            dep.negative += 1
            if user_input is not None and t >= self.recent_from:
                self.negative_inputs[user_input] += 1
        return event

    # -- input writers ---------------------------------------------------------------------
    def _note(self, t: float, *, long: bool) -> tuple[str, _NoteParts]:
        random_ = self.random
        names = cat.FIRST_NAMES
        n = len(names)
        topics_, findings, tasks, due = cat.TOPICS, cat.FINDINGS, cat.TASKS, cat.DUE
        team = cat.TEAMS[int(random_() * len(cat.TEAMS))]
        day = self.day_labels[int(t // _DAY)]
        # Three distinct attendees without random.sample (which is slow for a tuple).
        i = int(random_() * n)
        a = 1 + int(random_() * (n // 2 - 1))
        b = a + 1 + int(random_() * (n // 2 - 1))
        people = [names[i], names[(i + a) % n], names[(i + b) % n]]
        n_topics = (6 + int(random_() * 5)) if long else (2 + int(random_() * 3))
        topics = [
            (
                topics_[int(random_() * len(topics_))],
                findings[int(random_() * len(findings))],
            )
            for _ in range(n_topics)
        ]
        actions = [
            (
                people[int(random_() * 3)],
                tasks[int(random_() * len(tasks))],
                due[int(random_() * len(due))],
            )
            for _ in range(1 + int(random_() * 3))
        ]
        lines = [f"{team} sync — {day}", f"Attendees: {', '.join(people)}", ""]
        lines += [f"- {topic}: {finding}" for topic, finding in topics]
        if long:
            # Meeting transcripts pasted whole: long inputs the small model struggles with.
            for topic, finding in topics:
                lines.append(f"{people[int(random_() * 3)]}: so on {topic}, {finding}, and ...")
                lines.append(f"{people[int(random_() * 3)]}: agreed, let's take it offline.")
        lines.append("Action items:")
        lines += [f"- {who} to {task} by {due}" for who, task, due in actions]
        return "\n".join(lines), ("note", team, people, topics, actions)


# -- output writers: the model's answer in each prompt version's style ------------------------
_DECLINED = frozenset((cat.OUT_OF_SCOPE, cat.UNSAFE, cat.TRAVEL, cat.CODE))


def _report_below(kind: str) -> float:
    """Below this draw a disappointed user's explicit feedback is a report."""
    if kind == cat.SENSITIVE:
        return 0.27 + cat.SENSITIVE_REPORT_SHARE * 0.73
    return 0.45 if kind in (cat.UNSAFE, cat.OUT_OF_SCOPE) else 0.30


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
    if style == "clarifying" and kind in _DECLINED:
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


def _summary(style: str, parts: _NoteParts | None, bad: bool, random_: Callable[[], float]) -> str:
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
    openers = ("The", "In this sync, the", "Summary: the")
    opener = openers[int(random_() * len(openers))]
    return (
        f"{opener} {team} team discussed {t1} ({f1}) and {t2} ({f2}). "
        f"Action items: {who} will {task} by {due}."
    )


def _summary_edit(parts: _NoteParts | None, random_: Callable[[], float]) -> str:
    """What a user's edited summary looks like: the structure 1.4.1 later adopted."""
    text = _summary("structured", parts, False, random_)
    return text.replace("Decisions:", "Decided:") if random_() < 0.3 else text


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
    if kind == cat.SENSITIVE:
        return _sensitive_email(name, purpose, bad, sender)
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


def _sensitive_email(name: str, condition: str, bad: bool, sender: str) -> str:
    if bad:
        # The planted harm: private medical details disclosed, with speculation on top.
        return (
            f"Hi all,\n\nAs some of you know, {name} has {condition}. Between us, it is "
            f"probably why their work slipped this quarter.\n\n{sender}"
        )
    return (
        f"Hi all,\n\n{name} is out of office for a while. Please send anything urgent to me "
        f"in the meantime.\n\n{sender}"
    )


# -- public API ---------------------------------------------------------------------------------
def simulate(
    *,
    interactions: int = DEFAULT_INTERACTIONS,
    days: int = DEFAULT_DAYS,
    end: datetime,
    seed: int = DEFAULT_SEED,
    validate: bool = False,
    feedback_scale: float = 1.0,
) -> SimulatedTraffic:
    """Generate the whole simulated period in memory (fine up to a few hundred thousand
    interactions; use :func:`iter_batches` beyond)."""
    return Simulation(
        interactions=interactions,
        days=days,
        end=end,
        seed=seed,
        validate=validate,
        feedback_scale=feedback_scale,
    ).run()


def iter_batches(
    *,
    interactions: int = DEFAULT_INTERACTIONS,
    days: int = DEFAULT_DAYS,
    end: datetime,
    seed: int = DEFAULT_SEED,
    batch_size: int = 10_000,
    validate: bool = False,
    feedback_scale: float = 1.0,
) -> Generator[DemoBatch, None, None]:
    """Stream the same records as :func:`simulate`, in batches, in constant memory.

    For the planted-truth summary of a streamed pass, use :class:`Simulation` directly:
    iterate ``sim.batches()``, then call ``sim.summary()``.
    """
    return Simulation(
        interactions=interactions,
        days=days,
        end=end,
        seed=seed,
        validate=validate,
        feedback_scale=feedback_scale,
    ).batches(batch_size)


_RUN_PREFIX = f"acme-notes/g{GENERATOR_VERSION}/"
_FIND_RUN = (
    "SELECT metadata->>'demo_run' AS run FROM llm_interaction_logs "
    "WHERE metadata->>'demo_run' LIKE :pattern LIMIT 1"
)


def demo_is_loaded(store: Store) -> bool:
    """Whether the store holds interactions from this demo generator (any seed or size)."""
    return bool(store.fetch_all(_FIND_RUN, {"pattern": "acme-notes/%"}))


def load_demo(
    store: Store,
    *,
    interactions: int = DEFAULT_INTERACTIONS,
    end: datetime | None = None,
    seed: int = DEFAULT_SEED,
    days: int = DEFAULT_DAYS,
    batch_size: int = 5_000,
) -> dict[str, Any]:
    """Fill ``store`` with the simulated dataset and return what was generated and stored.

    Idempotent: the records' IDs are derived from the arguments, and the store skips IDs it
    already holds, so loading the same dataset again stores nothing new (and completes a load
    that was interrupted). With ``end=None`` the period ends now (to the minute), unless the
    store already holds this seed's dataset, whose end is then reused: that is what makes a
    second ``load_demo(store)`` a no-op rather than a second, shifted copy.
    """
    if end is None:
        end = _previous_end(store, seed=seed, interactions=interactions, days=days)
        if end is None:
            end = datetime.now(UTC).replace(second=0, microsecond=0)
    sim = Simulation(interactions=interactions, days=days, end=end, seed=seed)
    stored_interactions = stored_feedback = generated_interactions = generated_feedback = 0
    for batch in sim.batches(batch_size):
        # Interactions first: a reader of a half-loaded store never sees orphan feedback
        # (except the duplicate retries, whose originals are already stored).
        stored_interactions += store.insert_interactions(batch.interactions)
        stored_feedback += store.insert_feedback(batch.feedback)
        generated_interactions += len(batch.interactions)
        generated_feedback += len(batch.feedback)
    summary = sim.summary()
    from promptloop.demo.registry import register_demo_prompts

    register_demo_prompts(store, start=sim.start, days=days)
    return {
        "interactions": stored_interactions,
        "feedback_events": stored_feedback,
        "generated_interactions": generated_interactions,
        "generated_feedback_events": generated_feedback,
        "duplicate_feedback_events": summary["duplicate_feedback_events"],
        "sessions": summary["sessions"],
        "users": summary["users"],
        "prompt_versions": len(summary["versions"]),
        "seed": seed,
        "start": summary["start"],
        "end": summary["end"],
        "simulated": "yes: generated data, not real users",
    }


def _previous_end(store: Store, *, seed: int, interactions: int, days: int) -> datetime | None:
    pattern = f"{_RUN_PREFIX}seed={seed}/n={interactions}/days={days}/end=%"
    rows = store.fetch_all(_FIND_RUN, {"pattern": pattern})
    if not rows or not isinstance(rows[0].get("run"), str):
        return None
    try:
        return datetime.fromisoformat(rows[0]["run"].rsplit("/end=", 1)[1])
    except (IndexError, ValueError):
        return None
