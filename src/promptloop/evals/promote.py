"""Recording the change: promote the prompt an eval run supports, with its evidence.

The deployment's reason (the registry's changelog) names the dataset, the runs, the
comparison's statistics and the failure clusters of the dataset's source interactions; a
prompt that came from a file is first registered with that rationale and evidence.
"""

from __future__ import annotations

from typing import Any

from promptloop.core.prompts import Evidence
from promptloop.evals import reports
from promptloop.exceptions import NotFoundError
from promptloop.prompts import PromptRegistry
from promptloop.store.base import Store

MAX_CLUSTERS = 5


def _cell(run: dict[str, Any], prompt_label: str | None) -> dict[str, Any]:
    cells = (run.get("summary") or {}).get("cells") or []
    if prompt_label is not None:
        matching = [c for c in cells if c["prompt_label"] == prompt_label]
        if not matching:
            labels = sorted({c["prompt_label"] for c in cells})
            raise ValueError(
                f"prompt: run {run['run_id']} has no prompt {prompt_label!r}: {labels}"
            )
        cells = matching
    if not cells:
        raise ValueError(f"run: {run['run_id']} has no results")
    return max(cells, key=lambda c: (c["pass_rate"]["rate"] or 0.0, c["mean_score"] or 0.0))


def _prompt_config(run: dict[str, Any], label: str) -> dict[str, Any]:
    for prompt in (run.get("config") or {}).get("prompts") or []:
        if prompt["label"] == label:
            return dict(prompt)
    raise NotFoundError(f"run {run['run_id']} does not record prompt {label!r}")


def motivating_clusters(store: Store, dataset: str, version: int) -> list[dict[str, Any]]:
    """The failure clusters the dataset's source interactions belong to, largest share first."""
    return store.fetch_all(
        """
        SELECT c.cluster_id, c.label, count(*) AS items
        FROM eval_items i
        JOIN cluster_members m ON m.interaction_id = i.source_interaction_id
        JOIN failure_clusters c ON c.cluster_id = m.cluster_id
        WHERE i.dataset = :name AND i.version = :version AND i.status = 'accepted'
        GROUP BY c.cluster_id, c.label
        ORDER BY items DESC, c.cluster_id
        LIMIT :limit
        """,
        {"name": dataset, "version": version, "limit": MAX_CLUSTERS},
    )


def _pct(rate: dict[str, Any]) -> str:
    if rate.get("rate") is None:
        return "-"
    return f"{100 * rate['rate']:.1f}% ({rate['count']}/{rate['n']})"


def rationale_text(
    run: dict[str, Any],
    cell: dict[str, Any],
    comparison: dict[str, Any] | None,
    clusters: list[dict[str, Any]],
    note: str | None,
) -> str:
    lines = [note.strip()] if note and note.strip() else []
    dataset = f"{run['dataset']}@{run['dataset_version']}" if run.get("dataset") else "(none)"
    lines.append(
        f"Eval run {run['run_id']} on dataset {dataset}: {cell['prompt_label']} with "
        f"{cell['provider_id']} passes {_pct(cell['pass_rate'])}; development "
        f"{_pct(cell['splits']['dev'])}, holdout {_pct(cell['splits']['holdout'])}."
    )
    if comparison is not None:
        test = comparison["mcnemar"]
        lines.append(
            f"Against {comparison['baseline']}: {comparison['fixed']} items fixed, "
            f"{comparison['broken']} broken (McNemar p={test['p_value']:.4g}); baseline "
            f"{_pct(comparison['baseline_pass_rate'])}, candidate "
            f"{_pct(comparison['candidate_pass_rate'])}."
        )
        if comparison.get("holdout_warning"):
            lines.append(f"Holdout warning: {comparison['holdout_warning']}.")
    if clusters:
        named = ", ".join(f"{c['cluster_id']} ({c['label']}, {c['items']} items)" for c in clusters)
        lines.append(f"Motivating failure clusters: {named}.")
    lines.append(
        f"Evidence: /evals/runs/{run['run_id']}"
        + (
            f", /evals/datasets/{run['dataset']}@{run['dataset_version']}"
            if run.get("dataset")
            else ""
        )
    )
    return "\n".join(lines)


def evidence_for(
    run: dict[str, Any], comparison: dict[str, Any] | None, clusters: list[dict[str, Any]]
) -> list[Evidence]:
    found = [Evidence(kind="eval_run", ref=f"/evals/runs/{run['run_id']}", note="eval run")]
    if comparison is not None:
        baseline = comparison["baseline"].split("/", 1)[0]
        if baseline != run["run_id"]:
            found.append(Evidence(kind="eval_run", ref=f"/evals/runs/{baseline}", note="baseline"))
    if run.get("dataset"):
        ref = f"/evals/datasets/{run['dataset']}@{run['dataset_version']}"
        found.append(Evidence(kind="feedback_query", ref=ref, note="eval dataset"))
    found += [
        Evidence(kind="failure_cluster", ref=str(c["cluster_id"]), note=str(c["label"])[:2000])
        for c in clusters
    ]
    return found


def promote_from_run(
    store: Store,
    run_reference: str,
    *,
    prompt_label: str | None = None,
    baseline: str | None = None,
    label: str = "production",
    name: str | None = None,
    version: str | None = None,
    note: str | None = None,
    actor: str | None = None,
) -> dict[str, Any]:
    """Promote the run's winning (or named) prompt to ``label`` with a recorded rationale.

    A registry prompt is promoted as it is. A prompt file needs ``name``; it is registered
    (as ``version`` when given) with the rationale and evidence, then promoted.
    """
    run = reports.get_run(store, run_reference)
    cell = _cell(run, prompt_label)
    comparison = None
    if baseline is not None:
        candidate = f"{run['run_id']}/{cell['prompt_label']}/{cell['provider_id']}"
        comparison = reports.compare_runs(store, baseline, candidate)
    clusters = (
        motivating_clusters(store, run["dataset"], int(run["dataset_version"]))
        if run.get("dataset")
        else []
    )
    text = rationale_text(run, cell, comparison, clusters, note)
    prompt = _prompt_config(run, cell["prompt_label"])
    registry = PromptRegistry(store)
    registered = None
    if prompt.get("prompt_name"):
        target_name, target_version = prompt["prompt_name"], prompt["prompt_version"]
        if version is not None and version.removeprefix("v") != target_version:
            raise ValueError(
                f"version: the run evaluated {target_name}@{target_version}, not {version}"
            )
    else:
        if not name:
            raise ValueError(
                f"name: {cell['prompt_label']} is a prompt file; give the registry name to "
                "register it under"
            )
        template = _template_of(prompt)
        found = registry.register(
            name,
            template,
            prompt.get("settings") or {},
            rationale=text,
            evidence=evidence_for(run, comparison, clusters),
            author=actor,
            version=version,
            source="eval",
        )
        registered = found.version.version
        target_name, target_version = name, found.version.version
    deployment = registry.promote(
        target_name, target_version, label=label, actor=actor, reason=text
    )
    return {
        "prompt_name": target_name,
        "version": target_version,
        "label": label,
        "registered": registered,
        "run_id": run["run_id"],
        "rationale": text,
        "deployment": deployment.model_dump(mode="json"),
        "evidence": [
            e.model_dump(exclude_none=True) for e in evidence_for(run, comparison, clusters)
        ],
    }


def _template_of(prompt: dict[str, Any]) -> str:
    template = prompt.get("template")
    if not isinstance(template, str) or not template.strip():
        raise ValueError(f"prompt: run did not record the template of {prompt['label']}")
    return template
