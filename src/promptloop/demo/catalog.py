"""The fictional product the demo simulates: **Acme Notes**, a note-taking SaaS with three LLM
features. Everything here is made up; nothing describes a real product or real users.

This module holds the *content* (prompts, their versions and rollouts, input and output
phrasings) and the *planted truth* (how good each prompt version is on each kind of input).
:mod:`promptloop.demo.simulate` turns it into traffic. Keeping the two apart lets a reader
see at a glance what the data is supposed to reveal, without reading the generator.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from promptloop.core.prompts import content_hash

PRODUCT = "Acme Notes (simulated)"

SONNET = "claude-sonnet-4-20250514"
HAIKU = "claude-3-5-haiku-20241022"
GPT_MINI = "gpt-4o-mini-2024-07-18"

# USD per million tokens (input, output): list prices at the time these models shipped.
PRICES: Mapping[str, tuple[float, float]] = {
    SONNET: (3.0, 15.0),
    HAIKU: (0.8, 4.0),
    GPT_MINI: (0.15, 0.6),
}
# Lognormal latency: (median time to first byte in ms, ms per output token).
LATENCY: Mapping[str, tuple[float, float]] = {
    SONNET: (1100.0, 14.0),
    HAIKU: (450.0, 7.0),
    GPT_MINI: (380.0, 9.0),
}

# Kinds of user input. The planted quality of a prompt version is given per kind, because the
# seed's point is that versions differ on *kinds* of inputs (ambiguous, out of scope, ...).
COMMON = "common"
RECURRING = "recurring"
AMBIGUOUS = "ambiguous"
OUT_OF_SCOPE = "out_of_scope"
UNSAFE = "unsafe"
LONG = "long"
# Recurring questions no prompt version fixes (billing records and lost data need a person):
# no version's quality map names this kind, so they stay bad under every prompt.
UNFIXABLE = "recurring_unfixable"
# Planted failure modes (see PLANTED_PATTERNS): kinds of input whose failures the clustering,
# priority and triage analytics should find, each with a known answer.
TRAVEL = "travel"
CODE = "code"
INTEGRATIONS = "integrations"
SENSITIVE = "sensitive"
KINDS = (
    COMMON, RECURRING, AMBIGUOUS, OUT_OF_SCOPE, UNSAFE, LONG, UNFIXABLE, TRAVEL, CODE,
    INTEGRATIONS, SENSITIVE,
)  # fmt: skip


@dataclass(frozen=True)
class PromptVersion:
    """One deployed system prompt and the behaviour the simulation plants for it."""

    version: str
    model: str
    system_prompt: str
    changelog: str
    # Multiplier on each input's base probability of a disappointing answer, per input kind.
    quality: Mapping[str, float] = field(default_factory=dict)
    # Probability that a user presses "regenerate" after a disappointing / a fine answer.
    regen_if_bad: float = 0.30
    regen_if_good: float = 0.03
    # Probability that a user edits a fine answer before using it (drafting features).
    edit_if_good: float = 0.12
    # The output writer's house style for this version.
    style: str = ""

    @property
    def settings(self) -> dict[str, str]:
        return {"model": self.model}

    @property
    def prompt_hash(self) -> str:
        # The registry's content hash, so the demo's versions are registered ones.
        return content_hash(self.system_prompt, self.settings)

    def bad_multiplier(self, kind: str) -> float:
        return self.quality.get(kind, 1.0)


@dataclass(frozen=True)
class Arm:
    version: str
    share: float
    ab_variant: str | None = None


@dataclass(frozen=True)
class Rollout:
    """From ``start`` (a fraction of the simulated period) on, traffic splits over ``arms``."""

    start: float
    arms: tuple[Arm, ...]
    experiment: str | None = None


@dataclass(frozen=True)
class Feature:
    name: str
    prompt_name: str
    session_share: float
    versions: Mapping[str, PromptVersion]
    rollouts: tuple[Rollout, ...]


# --------------------------------------------------------------------------------------------
# support_chat: the in-app help assistant (multi-turn).
# --------------------------------------------------------------------------------------------
_SUPPORT_BASE = (
    "You are the Acme Notes support assistant. Acme Notes is a note-taking app for web, "
    "macOS, Windows, iOS and Android with notebooks, tags, sharing, reminders, templates, "
    "offline mode and version history. Answer questions about using Acme Notes."
)
SUPPORT_VERSIONS = {
    "2.0.0": PromptVersion(
        version="2.0.0",
        model=SONNET,
        system_prompt=_SUPPORT_BASE + " Be friendly and thorough.",
        changelog="Launch prompt.",
        regen_if_bad=0.20,
        style="chatty",
    ),
    "2.1.0": PromptVersion(
        version="2.1.0",
        model=SONNET,
        system_prompt=_SUPPORT_BASE
        + " Only describe features listed in the help-center excerpts provided. If a feature "
        "is not listed, say it is not available. Keep answers under 120 words.",
        changelog="Ground answers in help-center excerpts: stop inventing integrations (Zapier).",
        # Grounding also stops the invented integrations (the planted prompt-fixable pattern).
        quality={COMMON: 0.8, RECURRING: 0.7, INTEGRATIONS: 0.2},
        regen_if_bad=0.20,
        style="grounded",
    ),
    "2.2.0": PromptVersion(
        version="2.2.0",
        model=SONNET,
        system_prompt=_SUPPORT_BASE
        + " Only describe features listed in the help-center excerpts provided. If a feature "
        "is not listed, say it is not available. Keep answers under 120 words. If the request "
        "is ambiguous, ask one clarifying question instead of guessing. If it is not about "
        "Acme Notes, say politely that you can only help with Acme Notes.",
        changelog="Ask a clarifying question on ambiguous input; decline out-of-scope requests.",
        # Declining travel and coding requests disappoints a little less than a made-up answer,
        # but those users still wanted a flight or a script: a scope problem, not a prompt one.
        quality={
            COMMON: 0.75,
            RECURRING: 0.7,
            AMBIGUOUS: 0.3,
            OUT_OF_SCOPE: 0.25,
            UNSAFE: 0.3,
            INTEGRATIONS: 0.2,
            TRAVEL: 0.6,
            CODE: 0.6,
        },
        regen_if_bad=0.20,
        style="clarifying",
    ),
}

# --------------------------------------------------------------------------------------------
# summarize: "Summarize this note" button.
# --------------------------------------------------------------------------------------------
_SUMMARY_BASE = (
    "You summarize notes written in Acme Notes. Keep names, dates and numbers exactly as "
    "written. Never add facts that are not in the note."
)
SUMMARY_VERSIONS = {
    "1.3.0": PromptVersion(
        version="1.3.0",
        model=GPT_MINI,
        system_prompt=_SUMMARY_BASE + " Write one short paragraph, then list action items.",
        changelog="Paragraph summary followed by action items.",
        regen_if_bad=0.35,
        regen_if_good=0.03,
        edit_if_good=0.10,
        style="paragraph",
    ),
    "1.4.0": PromptVersion(
        version="1.4.0",
        model=GPT_MINI,
        system_prompt=_SUMMARY_BASE + " Answer with at most five terse bullet points, no prose.",
        changelog="Bullet-only summaries to save space on mobile.",
        # The regression the data should reveal: terse bullets drop the action items, so users
        # regenerate far more often (and edit to put the owners back).
        quality={COMMON: 1.9, RECURRING: 1.9, LONG: 1.5, AMBIGUOUS: 1.2},
        regen_if_bad=0.60,
        regen_if_good=0.07,
        edit_if_good=0.18,
        style="bullets",
    ),
    "1.4.1": PromptVersion(
        version="1.4.1",
        model=GPT_MINI,
        system_prompt=_SUMMARY_BASE
        + " Start with a one-line summary, then 'Decisions:' and 'Action items:' with the owner "
        "and due date of every action item in the note.",
        changelog="Restore action items with owners and due dates (fixes the 1.4.0 regression).",
        quality={COMMON: 0.8, RECURRING: 0.8, LONG: 0.9},
        regen_if_bad=0.35,
        regen_if_good=0.03,
        edit_if_good=0.08,
        style="structured",
    ),
}

# --------------------------------------------------------------------------------------------
# email_draft: "Draft an email from this note".
# --------------------------------------------------------------------------------------------
_EMAIL_BASE = (
    "You draft emails for Acme Notes users from their instructions. Write in the user's voice, "
    "sign with their first name, and do not invent commitments they did not ask for."
)
EMAIL_VERSIONS = {
    "3.0.0": PromptVersion(
        version="3.0.0",
        model=SONNET,
        system_prompt=_EMAIL_BASE + " Use a polite, formal business tone.",
        changelog="Launch prompt.",
        regen_if_bad=0.30,
        # Formal boilerplate that users strip out: many edits even on acceptable drafts.
        edit_if_good=0.38,
        style="formal",
    ),
    "3.1.0": PromptVersion(
        version="3.1.0",
        model=HAIKU,
        system_prompt=_EMAIL_BASE
        + " Match the tone of the instruction, keep it under 120 words, no filler phrases.",
        changelog="Shorter drafts that match the user's tone, on a cheaper model (A/B test).",
        quality={COMMON: 0.85, RECURRING: 0.85},
        regen_if_bad=0.30,
        edit_if_good=0.14,
        style="concise",
    ),
}

FEATURES: tuple[Feature, ...] = (
    Feature(
        name="support_chat",
        prompt_name="support_assistant",
        session_share=0.45,
        versions=SUPPORT_VERSIONS,
        rollouts=(
            Rollout(0.0, (Arm("2.0.0", 1.0),)),
            Rollout(0.30, (Arm("2.1.0", 1.0),)),
            Rollout(
                0.55,
                (Arm("2.1.0", 0.5, "control"), Arm("2.2.0", 0.5, "treatment")),
                experiment="support-clarify-2.2",
            ),
            Rollout(0.75, (Arm("2.2.0", 1.0),)),
        ),
    ),
    Feature(
        name="summarize",
        prompt_name="note_summarizer",
        session_share=0.30,
        versions=SUMMARY_VERSIONS,
        rollouts=(
            Rollout(0.0, (Arm("1.3.0", 1.0),)),
            Rollout(0.35, (Arm("1.4.0", 1.0),)),
            Rollout(0.65, (Arm("1.4.1", 1.0),)),
        ),
    ),
    Feature(
        name="email_draft",
        prompt_name="email_drafter",
        session_share=0.25,
        versions=EMAIL_VERSIONS,
        rollouts=(
            Rollout(0.0, (Arm("3.0.0", 1.0),)),
            Rollout(
                0.5,
                (Arm("3.0.0", 0.5, "control"), Arm("3.1.0", 0.5, "treatment")),
                experiment="email-concise-3.1",
            ),
        ),
    ),
)

# A short outage of the model provider, as a fraction of the period: calls fail and slow down.
INCIDENT = (0.62, 0.626)

PLATFORMS = ("web", "mac", "windows", "ios", "android")
PLATFORM_WEIGHTS = (0.48, 0.15, 0.12, 0.16, 0.09)
PLATFORM_PHRASES = {
    "web": "in the web app",
    "mac": "on my Mac",
    "windows": "on Windows",
    "ios": "on iPhone",
    "android": "on Android",
}

FIRST_NAMES = (
    "Priya", "Marcus", "Lena", "Tomás", "Aiko", "Dev", "Fatima", "Jonas", "Grace", "Omar",
    "Sofia", "Wei", "Chloe", "Mateo", "Hana", "Kofi", "Ingrid", "Ravi", "Zoe", "Luca",
)  # fmt: skip

# ---- support_chat inputs --------------------------------------------------------------------
# (what the user wants to do, the correct steps, a plausible but wrong answer, base P(bad))
SUPPORT_ACTIONS: tuple[tuple[str, str, str, float], ...] = (
    ("export a notebook to PDF", "open the notebook, choose File > Export and pick PDF",
     "open Settings > Backup and choose Export to Word", 0.22),
    ("share a note with a teammate", "open the note, click Share and enter their email",
     "copy the note's URL from the address bar and send it to them", 0.12),
    ("restore a deleted note", "open Trash in the sidebar, select the note and click Restore",
     "deleted notes cannot be recovered", 0.15),
    ("rename my workspace", "go to Settings > Workspace and edit the name",
     "contact support to rename a workspace", 0.10),
    ("turn on two-factor authentication", "go to Settings > Security and enable 2FA",
     "2FA is only available on the Enterprise plan", 0.10),
    ("move notes between notebooks", "select the notes and drag them onto the other notebook",
     "use Edit > Move and type the notebook name", 0.14),
    ("set a reminder on a note", "open the note, click the bell icon and pick a time",
     "reminders are set from the Calendar tab", 0.13),
    ("tag several notes at once", "Shift-click the notes, then choose Add tag",
     "tags can only be added one note at a time", 0.18),
    ("add an image to a note", "drag the image into the note or use Insert > Image",
     "paste a link to the image; uploads are not supported", 0.08),
    ("change my billing email", "go to Settings > Billing and edit the invoice email",
     "change your login email; invoices go there", 0.16),
    ("import notes from Evernote", "export an .enex file, then use Settings > Import > Evernote",
     "connect your Evernote account under Integrations", 0.26),
    ("see the edit history of a note", "open the note and choose More > Version history",
     "history is kept only for notes in shared notebooks", 0.17),
    ("find my archived notes", "open Archive at the bottom of the sidebar",
     "search for 'archived:true' in the search bar", 0.12),
    ("use Acme Notes offline", "enable Settings > Offline and pick the notebooks to keep",
     "offline mode is only available on desktop", 0.20),
    ("change the default font", "go to Settings > Editor > Font",
     "fonts can be changed per note with Format > Font", 0.07),
    ("lock a note with a password", "open the note and choose More > Lock note",
     "encrypt the whole notebook under Settings > Security", 0.19),
    ("pin a note to the top", "right-click the note and choose Pin", "star the note", 0.06),
    ("create a note template", "open a note and choose More > Save as template",
     "templates can only be created by workspace admins", 0.15),
    ("link two notes together", "type [[ and then the other note's title",
     "copy the other note's URL and paste it as a link", 0.11),
    ("add a checklist to a note", "type [] at the start of a line",
     "use Insert > Table and add a checkbox column", 0.06),
)  # fmt: skip

SUPPORT_TEMPLATES = (
    "How do I {action} {platform}?",
    "how can i {action} {platform}",
    "Is there a way to {action} {platform}?",
    "I can't figure out how to {action} {platform}.",
    "What's the fastest way to {action}?",
    "Hi! Quick question - how do I {action}?",
    "Trying to {action} {platform} but nothing happens",
    "Can you help me {action}?",
    "where is the option to {action}",
)

# Questions many users ask verbatim. (text, good answer, bad answer, base P(bad), category)
# Billing and data-loss questions stay bad under every prompt: the seed's "not prompt-fixable".
SUPPORT_RECURRING: tuple[tuple[str, str, str, float, str], ...] = (
    ("How do I export my notes to PDF?",
     "Open the notebook, choose File > Export and pick PDF. On iPhone use Share > Save as PDF.",
     "Go to Settings > Backup and choose Export to Word, then save the Word file as PDF.",
     0.30, "wrong"),
    ("Sync isn't working on my iPhone",
     "Check that Settings > Sync is on and that you are signed in to the same account on all "
     "devices. Pull down on the note list to force a sync.",
     "Sync problems are usually caused by your network. Try again later.", 0.45, "unhelpful"),
    ("Why was I charged twice this month?",
     "I can't see billing records, but a billing specialist can: use Help > Contact billing and "
     "include the last four digits of the card.",
     "Double charges are usually temporary authorisations and disappear in a few days.",
     0.62, "unhelpful"),
    ("What integrations do you support?",
     "Acme Notes integrates with Google Calendar, Slack and Microsoft Teams.",
     "Acme Notes integrates with Google Calendar, Slack, Microsoft Teams and Zapier.",
     0.50, "wrong"),
    ("I lost all my notes after the update",
     "Your notes are stored in your account. Sign out and back in, then check Trash and "
     "Archive. If they are still missing, use Help > Contact support.",
     "Updates never delete notes. Please check that you are using the right account.",
     0.58, "unhelpful"),
    ("Can I get a refund?",
     "Refunds within 14 days of a charge are handled by billing: use Help > Contact billing.",
     "Acme Notes does not offer refunds.", 0.40, "wrong"),
    ("Notes are not syncing between my laptop and phone",
     "Make sure both devices are signed in to the same account and that Settings > Sync is on.",
     "Try reinstalling the app on both devices.", 0.42, "unhelpful"),
    ("How do I share a notebook with my team?",
     "Right-click the notebook, choose Share notebook and add your teammates' emails.",
     "Notebooks can't be shared; share each note instead.", 0.14, "wrong"),
    ("Is my data encrypted?",
     "Yes: data is encrypted in transit (TLS) and at rest (AES-256).",
     "Yes, all notes are end-to-end encrypted.", 0.25, "wrong"),
    ("How do I cancel my subscription?",
     "Go to Settings > Billing > Cancel plan. You keep access until the end of the period.",
     "You can cancel by emailing support.", 0.16, "unhelpful"),
)  # fmt: skip
UNFIXABLE_QUESTIONS = frozenset(
    ("Why was I charged twice this month?", "I lost all my notes after the update")
)
# Zipf-like popularity of the recurring questions, in the order above.
SUPPORT_RECURRING_WEIGHTS = (20, 16, 12, 11, 9, 8, 7, 6, 5, 4)

SUPPORT_AMBIGUOUS = (
    "How do I fix it?",
    "How do I fix it",
    "It doesn't work",
    "help",
    "it's broken again",
    "why is this happening??",
    "still not working",
    "can you fix this",
)
SUPPORT_OUT_OF_SCOPE = (
    "Can you write a poem about my cat?",
    "What's the weather in Berlin tomorrow?",
    "Help me with my tax return",
    "Write my college essay about leadership",
    "What's the best laptop to buy this year?",
    "Translate this contract into Spanish",
    "Tell me a joke",
    "Who will win the next election?",
)
SUPPORT_UNSAFE = (
    "Give me the personal phone number of your CEO",
    "How do I read my coworker's private notes?",
    "Write an insulting review of my manager",
)
SUPPORT_FOLLOW_UPS = (
    "That didn't work.",
    "I already tried that.",
    "There is no such option in my app.",
    "Can you give me the exact steps?",
    "No, I meant {platform}.",
    "That's not what I asked.",
    "still the same problem",
)

# ---- summarize inputs -----------------------------------------------------------------------
TEAMS = ("Design", "Platform", "Growth", "Mobile", "Billing", "Support", "Data", "Marketing")
TOPICS = (
    "the Q3 roadmap", "the pricing page redesign", "onboarding drop-off",
    "the Android crash spike", "SOC 2 audit prep", "the offline sync rewrite",
    "churn in the Teams plan", "the new search ranking", "hiring for the mobile team",
    "the holiday release freeze", "the API rate limits", "the customer advisory board",
)  # fmt: skip
FINDINGS = (
    "numbers are up 12% week over week", "it is blocked on legal review",
    "it needs a decision by Friday", "the vendor quote came in 30% over budget",
    "we agreed to cut scope", "beta feedback was mostly positive",
    "two enterprise customers escalated", "the experiment was inconclusive",
    "it slips by one sprint", "support tickets doubled after the release",
)  # fmt: skip
TASKS = (
    "send the revised estimate", "book a follow-up with sales", "write up the incident review",
    "update the roadmap doc", "share the survey results", "file the tickets",
    "draft the customer email", "check the numbers with finance", "schedule the design review",
)  # fmt: skip
DUE = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "end of week", "next sprint")
# Documents shared in a workspace that many users summarize verbatim: recurring inputs.
# (title, body, base P(bad))
SHARED_DOCS: tuple[tuple[str, str, float], ...] = (
    ("All-hands notes — March",
     "CEO update: revenue +18% QoQ, 4 new enterprise logos. Hiring freeze lifted for "
     "engineering. Q&A: remote policy unchanged; office reopening postponed to June. "
     "Action: People team to publish the updated handbook by Friday.", 0.30),
    ("Incident review: sync outage",
     "Timeline: 09:12 deploy, 09:20 error rate 14%, 09:41 rollback. Root cause: migration "
     "locked the notes table. Action: Omar to add a lock timeout check by Wednesday; Lena to "
     "update the runbook by Friday.", 0.40),
    ("Onboarding checklist for new hires",
     "Day 1: laptop, accounts, buddy intro. Week 1: shadow support, ship a small fix. "
     "Month 1: own a feature area. Action: managers to assign buddies before start date.", 0.12),
    ("Q3 OKRs draft",
     "O1: grow weekly active teams 20%. KR: onboarding completion 60%→75%. O2: reliability. "
     "KR: p95 sync latency under 2s. Action: Priya to circulate for comments by Tuesday.", 0.22),
    ("Customer interview — Northwind",
     "Uses Acme Notes for meeting minutes across 40 people. Pain: no bulk export, slow search "
     "on large notebooks. Would pay for SSO. Action: Grace to share with product by Monday.",
     0.28),
    ("Security training summary",
     "Phishing drill results: 9% click rate, down from 15%. Reminder: report suspicious mail "
     "with the Report button. Action: everyone to finish the module by end of week.", 0.15),
)  # fmt: skip
SUMMARY_AMBIGUOUS = ("notes", "todo: call bob", "meeting", "ideas\n- ?", "see above")
SUMMARY_OUT_OF_SCOPE = (
    "translate this note to French",
    "write a blog post based on my notes",
    "what should I eat for dinner",
)

# ---- email_draft inputs ---------------------------------------------------------------------
COMPANIES = ("Northwind", "Globex", "Initech", "Umbrella Health", "Stark Logistics", "Hooli")
EMAIL_TEMPLATES: tuple[tuple[str, str], ...] = (
    # (instruction, what the email is for)
    ("Reply to {name} thanking them for the demo and confirm the call on {day}",
     "thank you for the demo and confirm our call on {day}"),
    ("Write a follow-up to {name} at {company} about the proposal",
     "follow up on the proposal we sent to {company}"),
    ("Ask {name} for feedback on {topic}",
     "ask for your feedback on {topic}"),
    ("Tell {name} the report will be late because of {topic}",
     "let you know the report will be a few days late because of {topic}"),
    ("Invite {name} to a planning session on {day}",
     "invite you to a planning session on {day}"),
    ("email {name} that I'm out sick today",
     "let you know I'm out sick today"),
    ("Remind {name} about the contract renewal with {company}",
     "remind you that the {company} contract renewal is coming up"),
)  # fmt: skip
# (instruction, purpose, base P(bad))
EMAIL_RECURRING: tuple[tuple[str, str, float], ...] = (
    ("Write a polite reminder about an unpaid invoice",
     "gently remind you that invoice #1042 is now past due", 0.35),
    ("Decline a meeting invitation politely",
     "thank you for the invitation; unfortunately I can't attend", 0.15),
    ("Write an out-of-office message for next week",
     "let you know I'm out of office next week with limited access to email", 0.12),
    ("Ask my manager for a day off on Friday",
     "ask whether I could take Friday off", 0.18),
    ("Thank the team for shipping the release",
     "thank everyone for the work that went into this release", 0.10),
)  # fmt: skip
EMAIL_AMBIGUOUS = ("email", "reply to this", "make it better", "write it")
EMAIL_OUT_OF_SCOPE = ("What's 15% of 2,340?", "Write a haiku about Mondays")
EMAIL_UNSAFE = (
    "Write a fake doctor's note for tomorrow",
    "Write an angry email to my landlord calling him names",
)

# ---- planted failure modes ------------------------------------------------------------------
# Kinds of input with a known answer for the failure-cluster, priority and triage analytics:
# which interactions belong to each pattern is reported in Simulation.summary()
# ["planted_patterns"], so a benchmark can score how well the clusters recover them.
CITIES = (
    "Lisbon", "Berlin", "Tokyo", "New York", "Madrid", "Chicago", "Paris", "Singapore",
    "Toronto", "Rome",
)  # fmt: skip
# Out of scope for a notes assistant: users want it to book travel. Like real requests on one
# theme, the phrasings share words (book, flight, hotel, trip), so even TF-IDF can group them.
TRAVEL_REQUESTS = (
    "Book me a flight to {dest} on {day}",
    "Can you book a hotel in {dest} for my trip?",
    "Book a cheap flight and hotel for my trip to {dest}",
    "Find me a flight to {dest} and book it",
    "Book my trip to {dest}: flight and hotel for {nights} nights",
    "I need to book a flight from {city} to {dest} for a business trip",
    "Please book a hotel near the {dest} office for my trip",
    "Change my flight booking to {dest} to an earlier flight",
)
# Out of scope too: users want it to write or fix code.
CODE_REQUESTS = (
    "Write {lang} code to {task}",
    "Can you write me some {lang} code to {task}?",
    "Fix my {lang} code, it should {task}",
    "Write a {lang} code snippet to {task}",
    "Debug my {lang} code to {task}",
    "I need {lang} code to {task}, can you write it?",
)
CODE_TASKS = (
    "parse CSV", "sort a list", "call an API", "read JSON", "scrape a site", "resize images",
)  # fmt: skip
CODE_LANGUAGES = ("Python", "JavaScript", "Java", "Go", "Rust", "TypeScript")
# Prompt-fixable: 2.0.0 invents integrations that do not exist; 2.1.0's grounding fixes it.
INTEGRATION_QUESTIONS = (
    "Does Acme Notes have a {app} integration?",
    "Can I connect Acme Notes to {app}? Is there an integration?",
    "Is there a {app} integration for Acme Notes?",
    "How do I set up the {app} integration in Acme Notes?",
    "how do i turn on the {app} integration",
    "Which integrations does Acme Notes have? I need {app}",
)
INTEGRATION_APPS = (
    "Zapier", "Trello", "Notion", "Jira", "Asana", "Salesforce", "Dropbox", "Google Drive",
    "Todoist",
)  # fmt: skip
# Rare but severe, and a model limitation: asked to email about a colleague's health, every
# prompt version on either model sometimes drafts an email disclosing private medical details.
SENSITIVE_REQUESTS = (
    "Email HR about {name}'s medical leave for {condition}",
    "Tell the team about {name}'s medical leave: {condition}",
    "Write to {name}'s manager about their medical condition ({condition})",
    "Draft an email to everyone about {name}'s medical leave and {condition}",
    "Email the team the details of {name}'s {condition} diagnosis and medical leave",
)
CONDITIONS = (
    "depression", "cancer", "a pregnancy", "burnout", "a heart condition", "an anxiety disorder",
)  # fmt: skip
# Share of each feature's requests that come from a planted kind.
SUPPORT_PLANTED_SHARES: Mapping[str, float] = {TRAVEL: 0.035, CODE: 0.03, INTEGRATIONS: 0.03}
EMAIL_SENSITIVE_SHARE = 0.012
# Base P(disappointing answer), and the category a user picks for one.
PLANTED_BAD: Mapping[str, tuple[float, str]] = {
    TRAVEL: (0.7, "off_topic"),
    CODE: (0.7, "off_topic"),
    INTEGRATIONS: (0.55, "wrong"),
    SENSITIVE: (0.5, "inappropriate"),
}
# Harmful drafts get reported: users say something far more often, and mostly by a report.
SENSITIVE_RESPOND_IF_BAD = 0.6
SENSITIVE_REPORT_SHARE = 0.65


@dataclass(frozen=True)
class PlantedPattern:
    """A failure mode planted in the traffic, and what the analytics should conclude."""

    name: str
    feature: str
    kinds: tuple[str, ...]
    description: str
    expected_triage: str
    category: str
    # Recurring inputs that belong to the pattern too (same failure, worded by many users).
    texts: tuple[str, ...] = ()


PLANTED_PATTERNS: tuple[PlantedPattern, ...] = (
    PlantedPattern(
        name="travel_requests",
        feature="support_chat",
        kinds=(TRAVEL,),
        description="Users ask the notes assistant to book flights, hotels and trains.",
        expected_triage="product_scope",
        category="off_topic",
    ),
    PlantedPattern(
        name="coding_requests",
        feature="support_chat",
        kinds=(CODE,),
        description="Users ask the notes assistant to write or debug code.",
        expected_triage="product_scope",
        category="off_topic",
    ),
    PlantedPattern(
        name="invented_integrations",
        feature="support_chat",
        kinds=(INTEGRATIONS,),
        description="Questions about third-party integrations: 2.0.0 invents integrations "
        "that do not exist; 2.1.0 (grounded in help-center excerpts) mostly fixes it.",
        expected_triage="prompt_fixable",
        category="wrong",
        texts=("What integrations do you support?",),
    ),
    PlantedPattern(
        name="sensitive_disclosures",
        feature="email_draft",
        kinds=(SENSITIVE,),
        description="Rare requests to email about a colleague's health: every version, on "
        "either model, sometimes discloses private medical details (reported inappropriate).",
        expected_triage="model_limitation",
        category="inappropriate",
    ),
)

# ---- explicit feedback texts ----------------------------------------------------------------
COMMENTS: Mapping[str, tuple[str, ...]] = {
    "wrong": (
        "there is no such menu",
        "it made up a feature",
        "wrong steps",
        "that's not how it works",
    ),
    "unhelpful": ("didn't answer my question", "too generic", "I already tried that"),
    "off_topic": ("not what I asked", "why is it answering this"),
    "inappropriate": ("this should not be allowed", "creepy answer"),
    "other": ("too long", "weird formatting", "slow"),
}

ERRORS = (
    "rate_limit_error: 429 Too Many Requests",
    "api_timeout: no response after 30000 ms",
    "internal_server_error: 500",
)
INCIDENT_ERROR = "overloaded_error: 529 Overloaded"
CONTEXT_ERROR = "context_length_exceeded: input is too long for the model"
