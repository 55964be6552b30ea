"""The simulated product's prompt history, written into the registry.

Each demo prompt version is registered with its changelog line as the rationale, at the
time its rollout began; a rollout to one version is a ``production`` deployment, an A/B
rollout puts its treatment on the ``experiment`` label. So the dashboard's timelines, the
deployment markers and the comparison windows have something real to show.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from promptloop.demo import catalog as cat
from promptloop.prompts.registry import PromptRegistry
from promptloop.store.base import Store

ACTOR = "demo"


def register_demo_prompts(store: Store, *, start: datetime, days: int) -> int:
    """Register the demo's prompt versions and deployments once; return versions registered."""
    registered = 0
    period = timedelta(days=days)
    for feature in cat.FEATURES:
        first_seen = _first_rollouts(feature)
        clock = _Clock(start)
        registry = PromptRegistry(store, clock=clock)
        if registry.versions(feature.prompt_name):
            continue  # already written by an earlier load
        for version, pv in feature.versions.items():
            when = start + period * first_seen[version]
            registry.register(
                feature.prompt_name,
                pv.system_prompt,
                pv.settings,
                rationale=pv.changelog,
                version=version,
                author=ACTOR,
                source="demo",
                created_at=when,
            )
            registered += 1
        for rollout in feature.rollouts:
            clock.now = start + period * rollout.start
            if len(rollout.arms) == 1:
                registry.promote(
                    feature.prompt_name, rollout.arms[0].version, actor=ACTOR, reason="rollout"
                )
            for arm in rollout.arms:
                if arm.ab_variant == "treatment":
                    registry.promote(
                        feature.prompt_name,
                        arm.version,
                        label="experiment",
                        actor=ACTOR,
                        reason=rollout.experiment,
                    )
    return registered


def _first_rollouts(feature: cat.Feature) -> dict[str, float]:
    first: dict[str, float] = {}
    for rollout in feature.rollouts:
        for arm in rollout.arms:
            first.setdefault(arm.version, rollout.start)
    return first


class _Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now
