"""The review report as Markdown (for a pull request or a wiki) and as HTML (one page)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

TEMPLATES = Path(__file__).parent / "templates"
DASH = "\u2013"


def _pct(value: Any) -> str:
    return DASH if value is None else f"{100 * float(value):.1f}%"


def _interval(rate: dict[str, Any] | None) -> str:
    if not rate or rate.get("low") is None or rate.get("high") is None:
        return ""
    return f"[{100 * rate['low']:.1f}{DASH}{100 * rate['high']:.1f}]"


def _when(value: Any) -> str:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return str(value)
    if isinstance(value, datetime):
        return str(value.strftime("%Y-%m-%d %H:%M"))
    return DASH if value is None else str(value)


def _short(value: Any, length: int = 120) -> str:
    text = " ".join(str(value or "").split())
    return text if len(text) <= length else text[: length - 1] + "…"


ENV = Environment(
    loader=FileSystemLoader(str(TEMPLATES)),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
ENV.filters.update(pct=_pct, interval=_interval, when=_when, short=_short)


def html_body(report: dict[str, Any], *, base: str = "") -> Markup:
    """The report's sections, for the dashboard page (``base``: the dashboard's URL)."""
    return Markup(ENV.get_template("report_body.html").render(r=report, base=base))


def to_html(report: dict[str, Any], *, base: str = "") -> str:
    """A standalone page; links go to the dashboard at ``base`` when given."""
    return ENV.get_template("report.html").render(r=report, body=html_body(report, base=base))


# ---------------------------------------------------------------------------- Markdown


def _cell(value: Any, length: int = 120) -> str:
    return _short(value, length).replace("|", "\\|") or DASH


def to_markdown(report: dict[str, Any], *, base: str = "") -> str:
    period = report["period"]
    lines = [
        f"# Prompt review: {period['label']}",
        "",
        f"{_when(period['since'])} to {_when(period['until'])}.",
        "",
    ]
    for section in (_flagged, _patterns, _alerts, _versions, _holdout, _labels, _change):
        lines.extend(section(report, base))
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _flagged(report: dict[str, Any], base: str) -> list[str]:
    rows = report["most_flagged"]
    out = [f"## Top {len(rows)} most-flagged interactions", ""]
    if not rows:
        return [*out, "No flagged interactions in this period."]
    out += [
        "| # | score | feature · version | input | output | evidence |",
        "|---|------:|---|---|---|---|",
    ]
    for index, row in enumerate(rows, start=1):
        evidence = ", ".join(
            f"{s['source']}:{s['feedback_type']}" + (f" ({s['category']})" if s["category"] else "")
            for s in row["signals"]
        )
        evidence += "".join(f"; label {lb['verdict']} by {lb['reviewer']}" for lb in row["labels"])
        evidence += "".join(f"; pattern {p['label']}" for p in row["patterns"])
        link = f"[{_cell(row['user_input'], 80)}]({base}/interactions/{row['interaction_id']})"
        version = f"{row['feature'] or DASH} · {row['prompt_version'] or DASH}"
        out.append(
            f"| {index} | {row['score']} | {version} | {link} | {_cell(row['raw_output'], 100)} "
            f"| {_cell(evidence, 300)} |"
        )
    return out


def _patterns(report: dict[str, Any], base: str) -> list[str]:
    out = ["## Failure patterns by priority", ""]
    if not report["patterns"]:
        return [*out, "No failure patterns: run `promptloop clusters run`."]
    out += [
        "| # | pattern | feature | action | interactions | severity | weekly trend | triage |",
        "|---|---|---|---|---:|---:|---|---|",
    ]
    for p in report["patterns"]:
        triage = p["triage"]["class"] or (
            f"suggested {p['triage']['suggestion']}" if p["triage"]["suggestion"] else DASH
        )
        trend = " → ".join(str(n) for n in p["trend"]) + f" ({p['trend_direction']})"
        out.append(
            f"| {p['rank']} | {_cell(p['label'])} | {p['feature'] or DASH} | {p['action']} "
            f"| {p['frequency']['interactions']} | {p['severity']['score']:.2f} | {trend} "
            f"| {triage} |"
        )
    return out


def _alerts(report: dict[str, Any], base: str) -> list[str]:
    out = ["## Alerts raised", ""]
    if not report["alerts"]:
        return [*out, "No alert opened in this period."]
    return out + [
        f"- **{a['status']}** {_when(a['opened_at'])}: {a['message']}" for a in report["alerts"]
    ]


def _versions(report: dict[str, Any], base: str) -> list[str]:
    out = ["## Prompt versions against the previous one", ""]
    if not report["versions"]:
        return [*out, "No feature changed prompt version with traffic in this period."]
    for v in report["versions"]:
        out.append(f"### {v['feature']}: {v['version']} vs {v['previous']}")
        out.append("")
        if v.get("error"):
            out.append(v["error"])
        else:
            out += [f"- better: {s}" for s in v["better"]]
            out += [f"- worse: {s}" for s in v["worse"]]
            out += [f"- {s}" for s in v["unclear"]]
        out.append("")
    return out


def _holdout(report: dict[str, Any], base: str) -> list[str]:
    out = ["## Eval datasets: holdout status", ""]
    holdout = report["holdout"]
    if not holdout["rows"]:
        return [*out, str(holdout["note"])]
    out += [
        "| dataset | prompt | provider | dev pass | holdout pass | holdout evaluations | warning |",
        "|---|---|---|---:|---:|---:|---|",
    ]
    for h in holdout["rows"]:
        out.append(
            f"| {h['dataset']} | {h['prompt_label']} | {h['provider_id']} "
            f"| {_pct(h['dev']['pass_rate'])} | {_pct(h['holdout']['pass_rate'])} "
            f"| {h['holdout_evaluations']} | {_cell(h.get('warning') or '')} |"
        )
    return out


def _labels(report: dict[str, Any], base: str) -> list[str]:
    labels = report["labels"]
    verdicts = ", ".join(f"{k} {n}" for k, n in labels["verdicts"].items()) or "none"
    sample = labels["random_sample"]
    rate = sample["bad_rate"]
    agreement = labels["agreement"]
    kappas = "; ".join(
        f"{name} kappa {DASH if f['kappa'] is None else format(f['kappa'], '.2f')}"
        f" ({f['interpretation']}, {f['pairs']} pairs)"
        for name, f in agreement["fields"].items()
    )
    return [
        "## What reviewers labelled",
        "",
        f"- {labels['labels']} labels in the period ({verdicts}); queue: "
        f"{labels['queue']['open']} open, {labels['queue']['done']} done.",
        f"- Uniform random sample: {sample['labels']} of {sample['items']} sampled interactions "
        "labelled"
        + (f", bad rate {_pct(rate['rate'])} {_interval(rate)}" if rate else "")
        + "."
        + (f" {sample['note']}." if sample["note"] else ""),
        f"- Agreement on {agreement['double_labelled_items']} double-labelled items: {kappas}; "
        f"{len(agreement['disagreements'])} disagreements to settle.",
    ]


def _change(report: dict[str, Any], base: str) -> list[str]:
    out = ["## The one prompt change to make", ""]
    change = report["change"]
    if not change:
        return [*out, "Nothing flagged points at a prompt in this period."]
    current = f" (production {change['current_version']})" if change["current_version"] else ""
    return [
        *out,
        f"**{change['prompt_name']}**{current}: {change['failure_mode']}",
        "",
        change["rationale"],
        "",
        "Evidence: " + ", ".join(f"`{e}`" for e in change["evidence"]),
        "",
        "Edit the prompt file, then register the new version with its rationale and evidence:",
        "",
        "```console",
        f"$ {change['command']}",
        "```",
        "",
        f"Dashboard: {base}{change['dashboard']}",
    ]
