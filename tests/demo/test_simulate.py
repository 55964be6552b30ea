"""The simulated Acme Notes traffic: deterministic, valid, and showing what was planted."""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta

import pytest

from promptloop.core.enums import KNOWN_CATEGORIES, FeedbackSource, FeedbackType
from promptloop.core.records import FeedbackEvent, Interaction
from promptloop.demo import catalog
from promptloop.demo.simulate import (
    _FEEDBACK_FIELDSET,
    _INTERACTION_FIELDSET,
    SimulatedTraffic,
    Simulation,
    _construct,
    iter_batches,
    simulate,
)

END = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)
NEGATIVE = {"thumbs_down", "report", "correction"}


@pytest.fixture(scope="module")
def traffic() -> SimulatedTraffic:
    # Big enough for the planted differences to stand well clear of sampling noise.
    return simulate(interactions=20_000, end=END)


@pytest.fixture(scope="module")
def small() -> SimulatedTraffic:
    return simulate(interactions=3_000, end=END, seed=11)


def by_id(traffic: SimulatedTraffic) -> dict[str, Interaction]:
    return {i.interaction_id: i for i in traffic.interactions}


def is_negative(event: FeedbackEvent) -> bool:
    return event.feedback_type.value in NEGATIVE or (
        event.feedback_type is FeedbackType.RATING and (event.value or 0) <= 2
    )


# -- determinism -----------------------------------------------------------------------------
def test_same_arguments_give_the_same_records(small: SimulatedTraffic) -> None:
    again = simulate(interactions=3_000, end=END, seed=11)
    assert [i.model_dump() for i in again.interactions] == [
        i.model_dump() for i in small.interactions
    ]
    assert [f.model_dump() for f in again.feedback] == [f.model_dump() for f in small.feedback]
    assert again.summary == small.summary


def test_another_seed_gives_other_records(small: SimulatedTraffic) -> None:
    other = simulate(interactions=3_000, end=END, seed=12)
    assert {i.interaction_id for i in other.interactions}.isdisjoint(
        i.interaction_id for i in small.interactions
    )


def test_end_given_as_naive_utc_is_the_same_period(small: SimulatedTraffic) -> None:
    naive = simulate(interactions=3_000, end=END.replace(tzinfo=None), seed=11)
    assert naive.interactions[0].model_dump() == small.interactions[0].model_dump()


def test_streaming_yields_exactly_the_simulated_records(small: SimulatedTraffic) -> None:
    batches = list(iter_batches(interactions=3_000, end=END, seed=11, batch_size=500))
    assert len(batches) > 3
    assert all(len(b.interactions) < 500 + 20 for b in batches)  # cut between sessions
    streamed = [i for b in batches for i in b.interactions]
    feedback = [f for b in batches for f in b.feedback]
    assert [i.model_dump() for i in streamed] == [i.model_dump() for i in small.interactions]
    assert [f.model_dump() for f in feedback] == [f.model_dump() for f in small.feedback]


def test_a_second_pass_replays_the_first() -> None:
    sim = Simulation(interactions=1_000, end=END)
    first = [i.interaction_id for b in sim.batches(300) for i in b.interactions]
    summary = sim.summary()
    second = [i.interaction_id for b in sim.batches(700) for i in b.interactions]
    assert first == second
    assert sim.summary() == summary


def test_streaming_restores_the_garbage_collector() -> None:
    import gc

    assert gc.isenabled()
    stream = iter_batches(interactions=500, end=END, batch_size=100)
    next(stream)
    assert gc.isenabled()  # the consumer runs with the GC as it left it
    stream.close()
    assert gc.isenabled()


# -- validity --------------------------------------------------------------------------------
def test_every_record_validates(small: SimulatedTraffic) -> None:
    for interaction in small.interactions:
        dumped = interaction.model_dump()
        assert Interaction.model_validate(dumped).model_dump() == dumped
    for event in small.feedback:
        dumped = event.model_dump()
        assert FeedbackEvent.model_validate(dumped).model_dump() == dumped


def test_validate_mode_builds_the_same_records(small: SimulatedTraffic) -> None:
    validated = simulate(interactions=3_000, end=END, seed=11, validate=True)
    assert [i.model_dump() for i in validated.interactions] == [
        i.model_dump() for i in small.interactions
    ]
    assert [f.model_dump() for f in validated.feedback] == [f.model_dump() for f in small.feedback]


def test_fast_construction_matches_model_construct(small: SimulatedTraffic) -> None:
    row = small.interactions[0].model_dump()
    fast = _construct(Interaction, dict(row), _INTERACTION_FIELDSET)
    assert fast == Interaction.model_construct(**row)
    assert fast.model_fields_set == Interaction.model_construct(**row).model_fields_set
    event = small.feedback[0].model_dump()
    assert _construct(FeedbackEvent, dict(event), _FEEDBACK_FIELDSET) == (
        FeedbackEvent.model_construct(**event)
    )


def test_copying_a_record_leaves_the_shared_fields_set_alone(small: SimulatedTraffic) -> None:
    # Simulated records share one fields-set object; pydantic must copy it, never mutate it.
    before = set(_INTERACTION_FIELDSET)
    changed = small.interactions[0].model_copy(update={"error": "x"})
    assert changed.error == "x" and small.interactions[0].error is None
    assert before == _INTERACTION_FIELDSET
    assert small.interactions[1].model_fields_set == before


def test_ids_are_canonical_unique_uuid4(small: SimulatedTraffic) -> None:
    interaction_ids = [i.interaction_id for i in small.interactions]
    assert len(set(interaction_ids)) == len(interaction_ids)
    for ident in [*interaction_ids, *(f.feedback_id for f in small.feedback)]:
        parsed = uuid.UUID(ident)
        assert str(parsed) == ident
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122


def test_exactly_the_requested_number_of_interactions(small: SimulatedTraffic) -> None:
    assert len(small.interactions) == 3_000
    assert small.summary["interactions"] == 3_000
    assert simulate(interactions=0, end=END).interactions == []


def test_every_record_is_labelled_simulated(small: SimulatedTraffic) -> None:
    assert all(i.metadata["simulated"] is True for i in small.interactions)
    assert all(f.metadata["simulated"] is True for f in small.feedback)
    assert all(i.metadata["demo_run"] == small.summary["run_id"] for i in small.interactions)


def test_timestamps_fall_inside_the_period(small: SimulatedTraffic) -> None:
    start = END - timedelta(days=30)
    assert all(start <= i.timestamp <= END for i in small.interactions)
    assert all(start <= f.timestamp <= END for f in small.feedback)


def test_feedback_links_to_generated_interactions(small: SimulatedTraffic) -> None:
    interactions = by_id(small)
    for event in small.feedback:
        assert event.interaction_id in interactions
        if event.related_interaction_id is not None:
            assert event.related_interaction_id in interactions
        # Feedback never predates the answer it is about.
        assert event.timestamp >= interactions[event.interaction_id].timestamp


def test_realistic_fields(small: SimulatedTraffic) -> None:
    models = {i.model for i in small.interactions}
    assert models == {catalog.SONNET, catalog.HAIKU, catalog.GPT_MINI}
    assert all(i.user_id and i.user_id.startswith("u_") for i in small.interactions)
    # The registry's content hash: "sha256:" and 64 hex digits.
    assert all(
        i.prompt_hash and i.prompt_hash.startswith("sha256:") and len(i.prompt_hash) == 71
        for i in small.interactions
    )
    ok = [i for i in small.interactions if i.error is None]
    failed = [i for i in small.interactions if i.error is not None]
    assert failed and all(i.raw_output is None and i.cost_usd == 0 for i in failed)
    assert all(i.raw_output and (i.output_tokens or 0) > 0 for i in ok)
    assert all((i.cost_usd or 0) > 0 and (i.latency_ms or 0) > 0 for i in ok)
    sessions = Counter(i.session_id for i in small.interactions if i.feature == "support_chat")
    assert max(sessions.values()) >= 4  # multi-turn conversations


def test_each_prompt_version_has_one_hash_and_prompt(small: SimulatedTraffic) -> None:
    hashes: dict[str, set[str | None]] = defaultdict(set)
    for i in small.interactions:
        hashes[f"{i.feature}@{i.prompt_version}"].add(i.prompt_hash)
    assert set(hashes) == {f"{f.name}@{v}" for f in catalog.FEATURES for v in f.versions}
    assert all(len(h) == 1 for h in hashes.values())
    assert len({next(iter(h)) for h in hashes.values()}) == len(hashes)


# -- feedback semantics ----------------------------------------------------------------------
def test_sources_user_except_inferred_abandon(small: SimulatedTraffic) -> None:
    for event in small.feedback:
        expected = (
            FeedbackSource.INFERRED
            if event.feedback_type is FeedbackType.ABANDON
            else FeedbackSource.USER
        )
        assert event.source is expected


def test_regeneration_chains_point_at_the_replaced_answer(traffic: SimulatedTraffic) -> None:
    interactions = by_id(traffic)
    regenerations = [f for f in traffic.feedback if f.feedback_type is FeedbackType.REGENERATE]
    assert regenerations
    for event in regenerations:
        assert event.related_interaction_id is not None
        new = interactions[event.related_interaction_id]
        old = interactions[event.interaction_id]
        assert new.parent_interaction_id == old.interaction_id
        assert new.user_input == old.user_input
        assert (new.session_id, new.prompt_version) == (old.session_id, old.prompt_version)
        assert new.timestamp > old.timestamp
    children = {i.interaction_id for i in traffic.interactions if i.parent_interaction_id}
    assert children == {f.related_interaction_id for f in regenerations}
    # Chains: some regenerated answers were regenerated again.
    parents = {i.parent_interaction_id for i in traffic.interactions}
    assert any(i.interaction_id in parents for i in traffic.interactions if i.parent_interaction_id)


def test_some_inputs_regenerated_more_than_once_per_version(traffic: SimulatedTraffic) -> None:
    interactions = by_id(traffic)
    counts: Counter[tuple[str | None, str | None]] = Counter()
    for event in traffic.feedback:
        if event.feedback_type is FeedbackType.REGENERATE:
            i = interactions[event.interaction_id]
            counts[(i.prompt_version, i.user_input)] += 1
    versions = {version for (version, _), n in counts.items() if n > 1}
    assert {"1.3.0", "1.4.0", "1.4.1", "2.2.0", "3.0.0"} <= versions
    summary = traffic.summary["versions"]["summarize@1.4.0"]
    expected = sum(1 for (v, _), n in counts.items() if v == "1.4.0" and n > 1)
    assert summary["inputs_regenerated_more_than_once"] == expected


def test_recurring_inputs_draw_negative_feedback_recently(traffic: SimulatedTraffic) -> None:
    # The seed's "most common inputs that received negative feedback in the last two weeks".
    interactions = by_id(traffic)
    since = END - timedelta(days=14)
    unique = {f.feedback_id: f for f in traffic.feedback}.values()  # retries count once
    counts: Counter[str | None] = Counter(
        interactions[f.interaction_id].user_input
        for f in unique
        if is_negative(f) and f.timestamp >= since
    )
    top = counts.most_common(10)
    assert top[0][1] >= 5
    assert "Why was I charged twice this month?" in dict(top)
    reported = traffic.summary["most_negative_inputs_last_14_days"]
    assert {r["user_input"]: r["negative_events"] for r in reported} == dict(top)


def test_follow_ups_point_at_the_next_question(traffic: SimulatedTraffic) -> None:
    interactions = by_id(traffic)
    follow_ups = [f for f in traffic.feedback if f.feedback_type is FeedbackType.FOLLOW_UP]
    assert follow_ups
    for event in follow_ups:
        assert event.related_interaction_id is not None
        earlier = interactions[event.interaction_id]
        later = interactions[event.related_interaction_id]
        assert later.session_id == earlier.session_id
        assert later.timestamp > earlier.timestamp
        assert later.feature == "support_chat"


def test_explicit_feedback_is_rare_and_extreme(traffic: SimulatedTraffic) -> None:
    explicit = {"thumbs_up", "thumbs_down", "rating", "correction", "report"}
    per_version: Counter[str | None] = Counter()
    n: Counter[str | None] = Counter(i.prompt_version for i in traffic.interactions)
    interactions = by_id(traffic)
    ids: set[str] = set()
    for f in traffic.feedback:
        if f.feedback_type.value in explicit and f.feedback_id not in ids:
            ids.add(f.feedback_id)
            per_version[interactions[f.interaction_id].prompt_version] += 1
    for version, count in n.items():
        assert 0.05 <= per_version[version] / count <= 0.15, version
    ratings = Counter(f.value for f in traffic.feedback if f.feedback_type is FeedbackType.RATING)
    assert set(ratings) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    assert ratings[5.0] > ratings[3.0] and ratings[1.0] > ratings[3.0]  # biased to extremes
    categories = Counter(
        f.category for f in traffic.feedback if f.feedback_type is FeedbackType.THUMBS_DOWN
    )
    assert set(categories) - {None} <= set(KNOWN_CATEGORIES)
    assert {"wrong", "unhelpful", "off_topic", "inappropriate", None} <= set(categories)
    reports = [f for f in traffic.feedback if f.feedback_type is FeedbackType.REPORT]
    corrections = [f for f in traffic.feedback if f.feedback_type is FeedbackType.CORRECTION]
    assert reports and corrections and all(c.user_edit for c in corrections)


def test_implicit_feedback_shapes(small: SimulatedTraffic) -> None:
    interactions = by_id(small)
    kinds = Counter(f.feedback_type for f in small.feedback)
    assert set(FeedbackType) == set(kinds)
    for event in small.feedback:
        if event.feedback_type is FeedbackType.COPY:
            assert event.metadata["edited"] in (True, False)
        if event.feedback_type is FeedbackType.EDIT:
            assert (
                event.user_edit and event.user_edit != interactions[event.interaction_id].raw_output
            )
        if event.feedback_type is FeedbackType.ABANDON:
            assert event.metadata["inferred_by"] == "session_idle"


def test_some_feedback_is_late_and_some_is_sent_twice(traffic: SimulatedTraffic) -> None:
    interactions = by_id(traffic)
    late = [
        f
        for f in traffic.feedback
        if f.feedback_type in (FeedbackType.THUMBS_UP, FeedbackType.THUMBS_DOWN)
        and f.timestamp - interactions[f.interaction_id].timestamp > timedelta(hours=3)
    ]
    assert late
    seen: dict[str, FeedbackEvent] = {}
    duplicates = 0
    for event in traffic.feedback:
        if event.feedback_id in seen:
            duplicates += 1
            assert seen[event.feedback_id] == event  # a retry, not a different event
        seen[event.feedback_id] = event
    assert duplicates == traffic.summary["duplicate_feedback_events"] > 0
    assert len(seen) == traffic.summary["unique_feedback_events"]


def test_ab_assignment_is_split_and_sticky(traffic: SimulatedTraffic) -> None:
    arms: dict[str, set[tuple[str | None, str | None]]] = defaultdict(set)
    variants: Counter[tuple[str | None, str]] = Counter()
    for i in traffic.interactions:
        variant = i.metadata.get("ab_variant")
        if variant is not None:
            arms[f"{i.user_id}/{i.metadata['experiment']}"].add((i.prompt_version, variant))
            variants[(i.prompt_version, variant)] += 1
    assert variants[("2.1.0", "control")] and variants[("2.2.0", "treatment")]
    assert variants[("3.0.0", "control")] and variants[("3.1.0", "treatment")]
    assert all(len(a) == 1 for a in arms.values())


def test_versions_are_deployed_one_after_another(traffic: SimulatedTraffic) -> None:
    last_seen: dict[str, datetime] = {}
    first_seen: dict[str, datetime] = {}
    for i in traffic.interactions:
        if i.feature == "summarize" and i.prompt_version is not None:
            v = i.prompt_version
            first_seen[v] = min(first_seen.get(v, i.timestamp), i.timestamp)
            last_seen[v] = max(last_seen.get(v, i.timestamp), i.timestamp)
    # A session keeps the version it started with, so allow a session's length of overlap.
    assert last_seen["1.3.0"] < first_seen["1.4.0"] + timedelta(hours=1)
    assert last_seen["1.4.0"] < first_seen["1.4.1"] + timedelta(hours=1)


def test_traffic_has_daily_and_weekly_seasonality(traffic: SimulatedTraffic) -> None:
    by_hour = Counter(i.timestamp.hour for i in traffic.interactions)
    assert by_hour[15] > 4 * by_hour[3]
    by_weekday = Counter(i.timestamp.weekday() for i in traffic.interactions)
    weekday_mean = sum(by_weekday[d] for d in range(5)) / 5
    assert by_weekday[6] < 0.7 * weekday_mean


# -- the planted differences, measured from the records ---------------------------------------
def rates(traffic: SimulatedTraffic, kind: FeedbackType) -> dict[str, float]:
    interactions = by_id(traffic)
    n: Counter[str] = Counter(f"{i.feature}@{i.prompt_version}" for i in traffic.interactions)
    hits: Counter[str] = Counter()
    seen: set[str] = set()
    for f in traffic.feedback:
        if f.feedback_type is kind and f.feedback_id not in seen:
            seen.add(f.feedback_id)
            i = interactions[f.interaction_id]
            hits[f"{i.feature}@{i.prompt_version}"] += 1
    return {key: hits[key] / count for key, count in n.items()}


def test_summarize_1_4_0_raises_regeneration(traffic: SimulatedTraffic) -> None:
    regen = rates(traffic, FeedbackType.REGENERATE)
    assert regen["summarize@1.4.0"] > 1.6 * regen["summarize@1.3.0"]
    assert regen["summarize@1.4.0"] > 1.6 * regen["summarize@1.4.1"]
    for key, value in regen.items():
        assert traffic.summary["versions"][key]["regeneration_rate"] == round(value, 4)


def test_support_2_2_0_lowers_thumbs_down(traffic: SimulatedTraffic) -> None:
    down = rates(traffic, FeedbackType.THUMBS_DOWN)
    assert down["support_chat@2.2.0"] < 0.75 * down["support_chat@2.1.0"]
    assert down["support_chat@2.2.0"] < 0.75 * down["support_chat@2.0.0"]
    follow = rates(traffic, FeedbackType.FOLLOW_UP)
    assert follow["support_chat@2.2.0"] < follow["support_chat@2.0.0"]


def test_email_3_1_0_is_edited_less(traffic: SimulatedTraffic) -> None:
    interactions = by_id(traffic)
    edited: dict[str, set[str]] = defaultdict(set)
    for f in traffic.feedback:
        if f.feedback_type is FeedbackType.EDIT:
            i = interactions[f.interaction_id]
            edited[f"{i.prompt_version}"].add(i.interaction_id)
    n = Counter(i.prompt_version for i in traffic.interactions)
    assert len(edited["3.1.0"]) / n["3.1.0"] < 0.6 * len(edited["3.0.0"]) / n["3.0.0"]
    # More drafts are used as they are (count each interaction once: copies can repeat).
    copied_as_is = {
        v: len(
            {
                f.interaction_id
                for f in traffic.feedback
                if f.feedback_type is FeedbackType.COPY
                and f.metadata["edited"] is False
                and interactions[f.interaction_id].prompt_version == v
            }
        )
        / n[v]
        for v in ("3.0.0", "3.1.0")
    }
    assert copied_as_is["3.1.0"] > 1.2 * copied_as_is["3.0.0"]


def test_summary_reports_planted_truth(traffic: SimulatedTraffic) -> None:
    summary = traffic.summary
    assert summary["simulated"] is True
    assert summary["interactions"] == len(traffic.interactions)
    assert summary["feedback_events"] == len(traffic.feedback)
    version = summary["versions"]["summarize@1.4.0"]
    assert version["planted"]["regenerate_if_bad"] == 0.6
    assert version["deployed"][0]["from"] < version["deployed"][0]["until"]
    assert version["interactions"] == sum(
        1 for i in traffic.interactions if i.feature == "summarize" and i.prompt_version == "1.4.0"
    )
    assert len(summary["findings"]) == 5


def test_feedback_scale_adds_repeat_events_not_new_behaviour() -> None:
    base = simulate(interactions=3_000, end=END, seed=3)
    scaled = simulate(interactions=3_000, end=END, seed=3, feedback_scale=19)
    assert len(scaled.feedback) > 2.5 * len(scaled.interactions)
    assert len(base.feedback) < 1.2 * len(base.interactions)
    assert len(scaled.interactions) == len(base.interactions)


@pytest.mark.parametrize(
    "kwargs",
    [{"interactions": -1}, {"days": 0}, {"feedback_scale": -1.0}],
)
def test_rejects_bad_arguments(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Simulation(end=END, **kwargs)  # type: ignore[arg-type]
