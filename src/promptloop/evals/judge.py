"""LLM-as-judge: rubric grading, reference-guided grading, pairwise comparison and calibration.

Every verdict names the judge that produced it: :class:`JudgeConfig` fixes the provider,
model, temperature and seed, sends them with each call, and ``describe()`` is attached to
every result (``GradingResult.judge``), so a verdict can always be traced and reproduced.

:func:`pairwise` asks twice, with the answers in both orders, and counts a win only when it
survives the swap; a judge that prefers whichever answer comes first yields a tie.

:func:`calibrate` measures a judge against people before its verdicts gate anything: Cohen's
kappa (scikit-learn), true-positive and true-negative rates and raw agreement on items people
labelled, with a warning when kappa is below 0.6 or there are too few items to tell.
:func:`calibrate_from_store` pairs feedback events with ``source='judge'`` with the human ones
(``annotator`` first, else ``user``) per interaction.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

from promptloop.core.enums import (
    NEGATIVE_RATING_MAX,
    NEGATIVE_TYPES,
    FeedbackSource,
    FeedbackType,
)
from promptloop.core.records import FeedbackEvent
from promptloop.evals.providers import load_provider
from promptloop.evals.types import GradingResult, Provider, ProviderRequest, ProviderResponse
from promptloop.store.base import Store

KAPPA_WARNING = 0.6
JUDGE_SCORE_PASS = 0.5
MIN_CALIBRATION_ITEMS = 30


@dataclass
class JudgeConfig:
    """Which model judges, and how: explicit, logged with every verdict.

    ``provider`` is a provider, an id (``openai:chat:gpt-4o-mini``) or promptfoo's provider
    mapping. ``model`` overrides the provider's model when set. Temperature defaults to 0 and
    seed to 0, so a judge is as repeatable as the model allows.
    """

    provider: Provider | str | Mapping[str, Any]
    model: str | None = None
    temperature: float = 0.0
    seed: int | None = 0
    max_tokens: int | None = None
    _resolved: Provider | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        temperature = self.temperature
        if isinstance(temperature, bool) or not isinstance(temperature, int | float):
            raise ValueError(f"judge.temperature: expected a number, got {temperature!r}")
        if not 0 <= temperature <= 2:
            raise ValueError(f"judge.temperature: expected 0 to 2, got {temperature!r}")
        self.temperature = float(temperature)
        if self.seed is not None and (
            isinstance(self.seed, bool) or not isinstance(self.seed, int)
        ):
            raise ValueError(f"judge.seed: expected an integer, got {self.seed!r}")
        if self.model is not None and (not isinstance(self.model, str) or not self.model):
            raise ValueError(f"judge.model: expected a model name, got {self.model!r}")

    @classmethod
    def of(cls, judge: JudgeConfig | Provider | str | Mapping[str, Any]) -> JudgeConfig:
        """A config from a config, a provider, an id or a mapping (defaults for the rest)."""
        if isinstance(judge, JudgeConfig):
            return judge
        if isinstance(judge, Mapping) and "provider" in judge:
            keys = ("model", "temperature", "seed", "max_tokens")
            return cls(provider=judge["provider"], **{k: judge[k] for k in keys if k in judge})
        return cls(provider=judge)

    def resolve(self) -> Provider:
        """The judge as a provider (loaded once) that sends this config's model, temperature
        and seed with every call, and carries the config (``judge_config``), so that an
        ``EvalContext(grader=config.resolve())`` grades with exactly these settings."""
        if self._resolved is None:
            inner = self.provider
            if isinstance(inner, ConfiguredJudge):
                inner = inner.inner
            self._resolved = ConfiguredJudge(load_provider(inner), self)
        return self._resolved

    @property
    def base_provider(self) -> Provider:
        """The underlying provider, without the judge settings."""
        resolved = self.resolve()
        return resolved.inner if isinstance(resolved, ConfiguredJudge) else resolved

    @property
    def model_name(self) -> str | None:
        return self.model or getattr(self.base_provider, "model", None)

    def settings(self) -> dict[str, Any]:
        """The call settings sent with every judge request."""
        settings: dict[str, Any] = {"temperature": self.temperature}
        if self.seed is not None:
            settings["seed"] = self.seed
        if self.model:
            settings["model"] = self.model
        if self.max_tokens is not None:
            settings["max_tokens"] = self.max_tokens
        return settings

    def describe(self) -> dict[str, Any]:
        """What is logged with every verdict."""
        return {
            "provider": self.base_provider.id,
            "model": self.model_name,
            "temperature": self.temperature,
            "seed": self.seed,
        }

    async def ask(self, messages: list[dict[str, str]]) -> ProviderResponse:
        """One judge call with the explicit settings."""
        request = ProviderRequest(prompt=messages, settings=self.settings())
        return await self.base_provider.call(request)


class ConfiguredJudge:
    """A provider with a judge's settings applied (request settings still win)."""

    def __init__(self, inner: Provider, config: JudgeConfig) -> None:
        self.inner = inner
        self.judge_config = config
        self.id = inner.id
        self.label = inner.label
        self.model = config.model or getattr(inner, "model", None)

    async def call(self, request: ProviderRequest) -> ProviderResponse:
        settings = {**self.judge_config.settings(), **request.settings}
        return await self.inner.call(replace(request, settings=settings))

    async def aclose(self) -> None:
        close = getattr(self.inner, "aclose", None)
        if close is not None:
            await close()


def tokens_of(response: ProviderResponse) -> int:
    return (response.input_tokens or 0) + (response.output_tokens or 0)


# -- parsing what a judge says -----------------------------------------------------------


def json_objects(text: str) -> list[Any]:
    """Every top-level JSON object or array embedded in ``text``, in order."""
    decoder = json.JSONDecoder()
    found: list[Any] = []
    position = 0
    while position < len(text):
        starts = [i for i in (text.find("{", position), text.find("[", position)) if i >= 0]
        if not starts:
            break
        start = min(starts)
        try:
            value, end = decoder.raw_decode(text, start)
        except ValueError:
            position = start + 1
            continue
        found.append(value)
        position = end
    return found


def _first_json_object(text: str) -> dict[str, Any] | None:
    return next((value for value in json_objects(text) if isinstance(value, dict)), None)


def _truthy(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return bool(re.fullmatch(r"\s*(true|yes|pass|y|1)\s*", str(value), re.IGNORECASE))


def verdict_from_json(
    response: ProviderResponse, judge: JudgeConfig, *, label: str, threshold: float | None
) -> GradingResult:
    """promptfoo's ``{"pass", "score", "reason"}`` grader answer as a result."""
    if response.error or not response.output:
        return grader_error(response.error or "the judge returned no output", response, judge)
    parsed = _first_json_object(response.output)
    if parsed is None:
        return grader_error(
            f"could not read JSON from the {label} judge: {response.output[:200]!r}",
            response,
            judge,
        )
    passed = _truthy(parsed.get("pass", True))
    raw_score = parsed.get("score")
    try:
        score = float(raw_score) if raw_score is not None else float(passed)
    except (TypeError, ValueError):
        score = float(passed)
    if math.isnan(score):
        score = float(passed)
    if threshold is not None:
        passed = passed and score >= threshold
    reason = str(parsed.get("reason") or "")
    if not reason:
        reason = "Grading passed" if passed else f"Score {score:g} below threshold {threshold}"
    return GradingResult(
        passed=passed,
        score=score,
        reason=reason,
        grader_tokens=tokens_of(response),
        judge=judge.describe(),
    )


def grader_error(
    reason: str, response: ProviderResponse | None, judge: JudgeConfig
) -> GradingResult:
    """A failed verdict because the judge could not judge (never inverted by ``not-``)."""
    return GradingResult(
        passed=False,
        score=0.0,
        reason=f"Judge error: {reason}",
        grader_tokens=tokens_of(response) if response else 0,
        judge={**judge.describe(), "error": True},
    )


# -- rubric and reference-guided grading ---------------------------------------------------

RUBRIC_SYSTEM = """You grade an output against a rubric. The output passes when the rubric's
statement is true of it. Answer with one JSON object and nothing else:
{"reason": "<one or two sentences>", "pass": true|false, "score": <number from 0.0 to 1.0>}

Example: output "Hello world", rubric "Contains a greeting" ->
{"reason": "It says hello.", "pass": true, "score": 1.0}
Example: output "Avast ye, repel boarders!", rubric "Does not talk like a pirate" ->
{"reason": "'Avast ye' is pirate talk.", "pass": false, "score": 0.0}"""


def rubric_messages(output: str, rubric_text: str) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": RUBRIC_SYSTEM},
        {
            "role": "user",
            "content": f"<Output>\n{output}\n</Output>\n<Rubric>\n{rubric_text}\n</Rubric>",
        },
    ]


async def rubric(
    output: str,
    rubric_text: str,
    *,
    judge: JudgeConfig | Provider | str | Mapping[str, Any],
    threshold: float | None = None,
) -> GradingResult:
    """Grade ``output`` against a rubric (promptfoo's ``llm-rubric``)."""
    config = JudgeConfig.of(judge)
    response = await config.ask(rubric_messages(output, rubric_text))
    return verdict_from_json(response, config, label="rubric", threshold=threshold)


REFERENCE_SYSTEM = """You grade a submitted answer against a reference answer written by
an expert (or by the user who corrected it). The submission passes when it is consistent with
the reference and omits nothing the reference treats as essential; wording and style do not
matter. Answer with one JSON object and nothing else:
{"reason": "<one or two sentences>", "pass": true|false, "score": <number from 0.0 to 1.0>}"""


async def reference_guided(
    output: str,
    reference: str,
    *,
    judge: JudgeConfig | Provider | str | Mapping[str, Any],
    question: str = "",
    criteria: str | None = None,
    threshold: float | None = None,
) -> GradingResult:
    """Grade ``output`` against a reference answer (e.g. the user's correction)."""
    config = JudgeConfig.of(judge)
    parts = [f"<Question>\n{question}\n</Question>"] if question else []
    parts += [f"<Reference>\n{reference}\n</Reference>", f"<Submission>\n{output}\n</Submission>"]
    if criteria:
        parts.append(f"<Criteria>\n{criteria}\n</Criteria>")
    messages = [
        {"role": "system", "content": REFERENCE_SYSTEM},
        {"role": "user", "content": "\n".join(parts)},
    ]
    response = await config.ask(messages)
    return verdict_from_json(response, config, label="reference-guided", threshold=threshold)


# -- pairwise ------------------------------------------------------------------------------

Winner = Literal["a", "b", "tie"]

PAIRWISE_SYSTEM = """You compare two responses to the same request and pick the better one
by the criteria given. Judge substance, not length or position. Answer with one JSON object
and nothing else: {"reason": "<one or two sentences>", "winner": "1" | "2" | "tie"}"""


@dataclass
class PairwiseVerdict:
    """Who won after both orders: a win counts only if it survives the swap."""

    winner: Winner
    reason: str
    first_order: Winner  # verdict with A shown first (mapped to a/b)
    swapped_order: Winner  # verdict with B shown first (mapped back to a/b)
    judge: dict[str, Any]
    grader_tokens: int = 0
    consistent: bool = True
    reasons: tuple[str, str] = ("", "")


def _pair_messages(request: str, first: str, second: str, criteria: str) -> list[dict[str, str]]:
    body = (
        f"<Request>\n{request}\n</Request>\n<Criteria>\n{criteria}\n</Criteria>\n"
        f"<Response1>\n{first}\n</Response1>\n<Response2>\n{second}\n</Response2>"
    )
    return [{"role": "system", "content": PAIRWISE_SYSTEM}, {"role": "user", "content": body}]


def _read_winner(response: ProviderResponse) -> tuple[Literal["1", "2", "tie"] | None, str]:
    if response.error or not response.output:
        return None, response.error or "no output"
    parsed = _first_json_object(response.output)
    raw = str(parsed.get("winner", "")) if parsed else response.output
    reason = str(parsed.get("reason", "")) if parsed else response.output[:200]
    token = raw.strip().strip("\"'()[]").lower()
    mapping: dict[str, Literal["1", "2", "tie"]] = {
        "1": "1",
        "a": "1",
        "response1": "1",
        "2": "2",
        "b": "2",
        "response2": "2",
        "tie": "tie",
        "equal": "tie",
        "draw": "tie",
    }
    return mapping.get(token.replace(" ", "")), reason


async def pairwise(
    output_a: str,
    output_b: str,
    *,
    judge: JudgeConfig | Provider | str | Mapping[str, Any],
    request: str = "",
    criteria: str = "Which response better fulfils the request?",
) -> PairwiseVerdict:
    """Compare A and B in both orders (sequentially, so a scripted judge stays deterministic)."""
    config = JudgeConfig.of(judge)
    first = await config.ask(_pair_messages(request, output_a, output_b, criteria))
    swapped = await config.ask(_pair_messages(request, output_b, output_a, criteria))
    said_first, reason_first = _read_winner(first)
    said_swapped, reason_swapped = _read_winner(swapped)
    as_first: Winner = {"1": "a", "2": "b"}.get(said_first or "", "tie")  # type: ignore[assignment]
    as_swapped: Winner = {"1": "b", "2": "a"}.get(said_swapped or "", "tie")  # type: ignore[assignment]
    consistent = as_first == as_swapped
    winner: Winner = as_first if consistent else "tie"
    if said_first is None or said_swapped is None:
        reason = f"Judge error: {reason_first if said_first is None else reason_swapped}"
        winner, consistent = "tie", False
    elif consistent:
        reason = reason_first or f"{winner} in both orders"
    else:
        reason = (
            f"Position-dependent verdict ({as_first} first, {as_swapped} after the swap):"
            " counted as a tie"
        )
    return PairwiseVerdict(
        winner=winner,
        reason=reason,
        first_order=as_first,
        swapped_order=as_swapped,
        judge=config.describe(),
        grader_tokens=tokens_of(first) + tokens_of(swapped),
        consistent=consistent,
        reasons=(reason_first, reason_swapped),
    )


def verdict_event(
    interaction_id: str,
    verdict: GradingResult,
    *,
    criterion: str | None = None,
    timestamp: datetime | None = None,
) -> FeedbackEvent:
    """A judge's verdict on a logged interaction as a feedback event (``source='judge'``):
    thumbs up or down, the score as ``value``, the reason as ``comment`` and the judge's
    settings in ``metadata``, ready for ``store.insert_feedback`` and for calibration."""
    fields: dict[str, Any] = {
        "interaction_id": interaction_id,
        "feedback_type": FeedbackType.THUMBS_UP if verdict.passed else FeedbackType.THUMBS_DOWN,
        "value": verdict.score,
        "comment": verdict.reason[:20_000],
        "source": FeedbackSource.JUDGE,
        "metadata": {"judge": verdict.judge or {}, "criterion": criterion},
    }
    if timestamp is not None:
        fields["timestamp"] = timestamp
    return FeedbackEvent(**fields)


# -- calibration ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Calibration:
    """How far a judge agrees with people on the same items (positive = "good")."""

    n: int
    kappa: float | None
    tpr: float | None  # judge says good, among items people call good
    tnr: float | None  # judge says bad, among items people call bad
    agreement: float | None
    warning: str | None

    @property
    def trusted(self) -> bool:
        """True when the judge may gate: enough items and kappa at least 0.6."""
        return self.warning is None

    def as_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "kappa": self.kappa,
            "tpr": self.tpr,
            "tnr": self.tnr,
            "agreement": self.agreement,
            "warning": self.warning,
        }


def calibrate(
    judge_verdicts: Sequence[bool],
    human_labels: Sequence[bool],
    *,
    min_items: int = MIN_CALIBRATION_ITEMS,
    kappa_warning: float = KAPPA_WARNING,
) -> Calibration:
    """Agreement between a judge's pass/fail verdicts and people's good/bad labels."""
    if len(judge_verdicts) != len(human_labels):
        raise ValueError(
            f"human_labels: expected {len(judge_verdicts)} labels (one per judge verdict),"
            f" got {len(human_labels)}"
        )
    judged = [bool(v) for v in judge_verdicts]
    labelled = [bool(v) for v in human_labels]
    n = len(judged)
    if n == 0:
        return Calibration(0, None, None, None, None, "no items labelled by both judge and people")
    agreement = sum(j == h for j, h in zip(judged, labelled, strict=True)) / n
    positives = [j for j, h in zip(judged, labelled, strict=True) if h]
    negatives = [j for j, h in zip(judged, labelled, strict=True) if not h]
    tpr = sum(positives) / len(positives) if positives else None
    tnr = sum(not j for j in negatives) / len(negatives) if negatives else None
    kappa = _kappa(judged, labelled)
    return Calibration(n, kappa, tpr, tnr, agreement, _warning(n, kappa, min_items, kappa_warning))


def _kappa(judged: list[bool], labelled: list[bool]) -> float | None:
    from sklearn.metrics import cohen_kappa_score

    if len(set(judged) | set(labelled)) < 2:
        return None  # one class only: chance agreement is total and kappa is undefined
    value = float(cohen_kappa_score(labelled, judged))
    return None if math.isnan(value) else value


def _warning(n: int, kappa: float | None, min_items: int, kappa_warning: float) -> str | None:
    problems = []
    if n < min_items:
        problems.append(f"only {n} labelled item{'s' * (n != 1)} (need {min_items})")
    if kappa is None:
        problems.append("kappa is undefined (every label is the same)")
    elif kappa < kappa_warning:
        problems.append(f"kappa {kappa:.2f} is below {kappa_warning}")
    if not problems:
        return None
    return "Judge agreement with people is not established: " + "; ".join(problems) + "."


def feedback_label(feedback_type: str, value: float | None, source: str = "user") -> bool | None:
    """Good (True), bad (False) or no opinion (None) from one feedback event.

    Thumbs up is good; thumbs down, corrections and reports are bad. A rating from a person is
    on the 1-5 scale (good above 2); a judge's rating is a 0-1 score (good from 0.5)."""
    if feedback_type == FeedbackType.THUMBS_UP.value:
        return True
    if feedback_type in NEGATIVE_TYPES:
        return False
    if feedback_type == FeedbackType.RATING.value and value is not None:
        if source == FeedbackSource.JUDGE.value and 0.0 <= value <= 1.0:
            return value >= JUDGE_SCORE_PASS
        return value > NEGATIVE_RATING_MAX
    return None


HUMAN_SOURCES = ("annotator", "user")


def calibrate_from_store(
    store: Store,
    *,
    feature: str | None = None,
    prompt_version: str | None = None,
    since: datetime | None = None,
    human_sources: Sequence[str] = HUMAN_SOURCES,
    min_items: int = MIN_CALIBRATION_ITEMS,
    kappa_warning: float = KAPPA_WARNING,
) -> Calibration:
    """Calibrate the judge on interactions that both a judge and people gave feedback on.

    Per interaction the latest judge event is the verdict; the human label is the latest
    event of the first source in ``human_sources`` that has one (annotators outrank users).
    """
    pairs = labelled_pairs(
        store,
        feature=feature,
        prompt_version=prompt_version,
        since=since,
        human_sources=human_sources,
    )
    return calibrate(
        [judged for judged, _ in pairs.values()],
        [human for _, human in pairs.values()],
        min_items=min_items,
        kappa_warning=kappa_warning,
    )


def labelled_pairs(
    store: Store,
    *,
    feature: str | None = None,
    prompt_version: str | None = None,
    since: datetime | None = None,
    human_sources: Sequence[str] = HUMAN_SOURCES,
) -> dict[str, tuple[bool, bool]]:
    """``interaction_id -> (judge verdict, human label)`` for interactions with both."""
    sources = ["judge", *human_sources]
    params: dict[str, Any] = {f"s{i}": source for i, source in enumerate(sources)}
    where = [f"f.source IN ({', '.join(f':s{i}' for i in range(len(sources)))})"]
    join = ""
    if feature is not None or prompt_version is not None:
        join = " JOIN llm_interaction_logs l ON l.interaction_id = f.interaction_id"
        if feature is not None:
            where.append("l.feature = :feature")
            params["feature"] = feature
        if prompt_version is not None:
            where.append("l.prompt_version = :prompt_version")
            params["prompt_version"] = prompt_version
    if since is not None:
        where.append("f.timestamp >= :since")
        params["since"] = since
    sql = (
        "SELECT f.interaction_id, f.source, f.feedback_type, f.value, f.timestamp"
        f" FROM feedback_events f{join} WHERE {' AND '.join(where)}"
        " ORDER BY f.timestamp, f.feedback_id"
    )
    latest: dict[tuple[str, str], bool] = {}
    for row in store.fetch_all(sql, params):
        label = feedback_label(str(row["feedback_type"]), row["value"], str(row["source"]))
        if label is not None:
            latest[(str(row["interaction_id"]), str(row["source"]))] = label
    pairs: dict[str, tuple[bool, bool]] = {}
    for (interaction, source), verdict in latest.items():
        if source != "judge":
            continue
        human = next(
            (latest[(interaction, s)] for s in human_sources if (interaction, s) in latest), None
        )
        if human is not None:
            pairs[interaction] = (verdict, human)
    return pairs
