"""The holdout: stable hash-based split, near-duplicates on one side, access counted, and a
report that warns when development improves but the holdout does not."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from promptloop.core.records import utc_now
from promptloop.evals import datasets, holdout
from promptloop.evals.datasets import NewItem
from promptloop.store.base import Store

_WORDS = [
    "export",
    "share",
    "tag",
    "sync",
    "pdf",
    "calendar",
    "offline",
    "template",
    "reminder",
    "history",
    "invite",
    "password",
    "theme",
    "search",
    "archive",
]
# Distinct questions: word pairs plus a number, far apart under rapidfuzz's ratio.
TOPICS = [
    f"{a} {b} {n}?" if n % 2 else f"why does {a} break {b} on device {n}"
    for n, (a, b) in enumerate((a, b) for a in _WORDS for b in _WORDS if a != b)
]


def test_split_is_stable_and_close_to_the_fraction() -> None:
    groups = [f"group-{n}" for n in range(4000)]
    first = [holdout.split_of("ds", g, 0.2) for g in groups]
    assert first == [holdout.split_of("ds", g, 0.2) for g in groups]
    share = first.count("holdout") / len(first)
    assert 0.18 < share < 0.22
    # A larger fraction only moves groups into the holdout, never out of it.
    wider = [holdout.split_of("ds", g, 0.3) for g in groups]
    assert all(w == "holdout" for f, w in zip(first, wider, strict=True) if f == "holdout")


@settings(max_examples=50, deadline=None)
@given(
    st.text(alphabet="abcdefghij klmnop", min_size=5, max_size=60),
    st.sampled_from(["!", "  ", "?", "...", " ,"]),
)
def test_case_punctuation_and_spacing_never_matter(text: str, suffix: str) -> None:
    assert holdout.normalise(text) == holdout.normalise("  " + text.upper() + suffix)


def _items(texts: list[str]) -> list[NewItem]:
    return [NewItem(input=text, vars={"user_input": text}) for text in texts]


def test_near_duplicates_never_straddle_the_split(store: Store) -> None:
    store.migrate()
    texts = []
    for topic in TOPICS[:120]:
        texts += [topic, topic.upper() + "?", topic + " please", topic.replace("pdf", "PDF!")]
    datasets.create_version(store, "dups", _items(texts), holdout_fraction=0.3)
    rows = datasets.items(store, "dups", 1, splits=("dev", "holdout"))
    by_group: dict[str, set[str]] = {}
    for row in rows:
        by_group.setdefault(row["split_group"], set()).add(row["split"])
    assert all(len(splits) == 1 for splits in by_group.values())
    held = sum(1 for row in rows if row["split"] == "holdout") / len(rows)
    assert 0.15 < held < 0.45
    # A new version of the dataset keeps every input on its side, near-duplicates included.
    datasets.create_version(store, "dups", _items([t + "!!" for t in texts]), holdout_fraction=0.3)
    again = datasets.items(store, "dups", 2, splits=("dev", "holdout"))
    assert [r["split"] for r in again] == [r["split"] for r in rows]


def test_views_hide_the_holdout_and_count_each_look(duck: Store) -> None:
    datasets.create_version(duck, "h", _items(TOPICS[:100]), holdout_fraction=0.3)
    _, dev_only = datasets.read_items(duck, "h")
    assert dev_only and {row["split"] for row in dev_only} == {"dev"}
    assert holdout.access_counts(duck) == {}
    _, everything = datasets.read_items(duck, "h", include_holdout=True, actor="ana")
    assert {row["split"] for row in everything} == {"dev", "holdout"}
    assert holdout.access_counts(duck) == {"h": {"evaluations": 0, "views": 1}}


def _result(run: str, item: str, split: str, label: str, passed: bool) -> dict[str, Any]:
    return {
        "result_id": f"{run}-{item}-{label}",
        "run_id": run,
        "item_id": item,
        "split": split,
        "prompt_label": label,
        "prompt_name": "p",
        "prompt_version": label,
        "prompt_hash": label,
        "provider_id": "echo",
        "provider_label": "echo",
        "repeat_index": 0,
        "output": "",
        "error": None,
        "passed": passed,
        "score": 1.0 if passed else 0.0,
        "reason": "",
        "components": "[]",
        "latency_ms": 1.0,
        "input_tokens": 0,
        "output_tokens": 0,
        "cost_usd": 0.0,
        "cached": False,
        "created_at": utc_now(),
    }


def _run(
    store: Store, run: str, label: str, dev_pass: int, holdout_pass: int, minutes: int
) -> None:
    store.insert_rows(
        "eval_runs",
        [
            {
                "run_id": run,
                "dataset": "h",
                "dataset_version": 1,
                "created_at": utc_now() + timedelta(minutes=minutes),
                "finished_at": None,
                "status": "finished",
                "splits": "dev,holdout",
                "description": None,
                "created_by": None,
                "config": "{}",
                "summary": "{}",
            }
        ],
    )
    rows = [_result(run, f"d{n}", "dev", label, n < dev_pass) for n in range(20)]
    rows += [_result(run, f"h{n}", "holdout", label, n < holdout_pass) for n in range(10)]
    store.insert_rows("eval_results", rows)
    holdout.record_access(store, "h", 1, kind="run", items=10, actor=None, run_id=run)


def test_report_warns_when_dev_improves_but_holdout_does_not(store: Store) -> None:
    store.migrate()
    _run(store, "r1", "1.0.0", dev_pass=10, holdout_pass=5, minutes=0)
    _run(store, "r2", "1.1.0", dev_pass=18, holdout_pass=5, minutes=1)  # tuned to dev
    _run(store, "r3", "1.2.0", dev_pass=19, holdout_pass=9, minutes=2)  # generalises
    report = {row["prompt_label"]: row for row in holdout.holdout_report(store)}
    assert report["1.0.0"]["dev"]["pass_rate"] == 0.5 and report["1.0.0"]["warning"] is None
    assert report["1.1.0"]["holdout"] == {"n": 10, "passed": 5, "pass_rate": 0.5}
    assert "likely overfitted" in report["1.1.0"]["warning"]
    assert report["1.2.0"]["warning"] is None
    assert report["1.2.0"]["holdout_evaluations"] == 3


def _typo(text: str, seed: int) -> str:
    position = 3 + seed % max(1, len(text) - 6)
    return text[:position] + "x" + text[position + 1 :]


@pytest.mark.parametrize("count", [300, 3000])  # exhaustive scoring, then blocking
def test_typo_variants_join_their_original_in_any_order(duck: Store, count: int) -> None:
    rng = random.Random(count)
    vocabulary = [f"{w}{n}" for n, w in enumerate(_WORDS * 30)]
    originals = [" ".join(rng.choices(vocabulary, k=8)) for _ in range(count)]
    variants = [_typo(text, n) for n, text in enumerate(originals[: count // 10])]
    texts = originals + variants
    keys = holdout.assign_groups(duck, "typos", texts)
    for n in range(len(variants)):
        assert keys[count + n] == keys[n], (texts[n], texts[count + n])
    shuffled = list(range(len(texts)))
    rng.shuffle(shuffled)
    again = holdout.assign_groups(duck, "typos", [texts[i] for i in shuffled])
    assert [keys[i] for i in shuffled] == again
