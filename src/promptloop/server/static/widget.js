/* promptloop feedback widget: no dependencies, no build step. API, events, theming: docs/widget.md
 * The page only ever holds a signed feedback token, never a secret. */
(() => {
"use strict";
const w = window, d = document;
if (w.PromptloopWidget) return;
const src = d.currentScript?.src;
const BASE = src ? new URL(src).origin : location.origin;
const POSITIVE = { thumbs_up: 1, copy: 1, edit: 1 };
const L0 = {
  group: "Feedback on this response", up: "Good response", down: "Bad response",
  why: "What was wrong?", wrong: "Wrong", unhelpful: "Unhelpful", off_topic: "Off-topic",
  inappropriate: "Inappropriate", comment: "Comment (optional)", send: "Send",
  cancel: "Cancel", rate: "Rate this response", star: "Rate {n} of 5", copy: "Copy",
  edit: "Edit", accept: "Accept", regenerate: "Regenerate", report: "Report a problem",
  problem: "What is the problem?", editing: "Editing: change the text, then Accept.",
  editBox: "Response text (editing)", thanks: "Thanks for the feedback.", copied: "Copied.",
  saved: "Edit saved.", reported: "Thanks, the problem was reported.", copyFailed: "Copy failed.",
  invalid_token: "This feedback link is not valid.", expired_token: "This feedback link has expired.",
  rate_limited: "Too much feedback; try again soon.",
  origin_not_allowed: "Feedback is not enabled for this site.",
  network: "Could not reach the feedback service.", failed: "Feedback could not be sent (HTTP {s})."
};
L0.malformed_token = L0.invalid_token;
const DONE = { copy: "copied", edit: "saved", report: "reported", regenerate: "" };
const THUMB = '<svg viewBox="0 0 24 24" class="pl-icon" aria-hidden="true"><path d="M2 10h4v11H2zm6 11h9.2a2 2 0 0 0 2-1.6l1.7-7A2 2 0 0 0 19 10h-5l.9-4.6A2 2 0 0 0 11.3 4L8 9.5z"/></svg>';
const DARK = "--_a:var(--pl-accent,#60a5fa);--_bg:var(--pl-bg,#111827);--_fg:var(--pl-fg,#f3f4f6);--_mu:var(--pl-muted,#9ca3af);--_bd:var(--pl-border,#6b7280);--_er:var(--pl-danger,#fca5a5)";
const CSS = `.pl-widget{--_a:var(--pl-accent,#1d4ed8);--_bg:var(--pl-bg,#fff);--_fg:var(--pl-fg,#1f2937);--_mu:var(--pl-muted,#4b5563);--_bd:var(--pl-border,#9ca3af);--_er:var(--pl-danger,#b91c1c);--_r:var(--pl-radius,8px);font:var(--pl-font,14px/1.4 system-ui,sans-serif);color:var(--_fg);background:var(--_bg)}
@media (prefers-color-scheme:dark){.pl-widget:not([data-theme=light]){${DARK}}}.pl-widget[data-theme=dark]{${DARK}}
.pl-widget [hidden]{display:none!important}.pl-output{white-space:pre-wrap;margin-bottom:.5em}.pl-editing{outline:2px dashed var(--_a)}
.pl-bar,.pl-panel{display:flex;flex-wrap:wrap;gap:.4em;align-items:center}
.pl-btn{font:inherit;color:inherit;background:none;border:1px solid var(--_bd);border-radius:var(--_r);padding:.2em .6em;min-height:2.2em;min-width:2.2em;cursor:pointer}
.pl-btn:hover{border-color:var(--_a)}.pl-btn[aria-pressed=true]{background:var(--_a);color:var(--_bg);border-color:var(--_a)}
.pl-widget :focus-visible{outline:2px solid var(--_a);outline-offset:2px}
.pl-star{border:0;padding:0;font-size:1.2em;color:var(--_mu)}.pl-widget .pl-on{background:none;color:var(--pl-star,#d97706)}
.pl-panel{margin-top:.5em;padding:.5em;border:1px solid var(--_bd);border-radius:var(--_r)}
.pl-panel label{flex-basis:100%;display:grid;color:var(--_mu)}.pl-panel textarea{font:inherit;color:var(--_fg);background:var(--_bg);border:1px solid var(--_bd)}
.pl-status{margin:.3em 0 0;min-height:1.2em;font-size:.9em;color:var(--_mu)}[data-state=error] .pl-status{color:var(--_er)}
.pl-icon{width:1.1em;height:1.1em;fill:currentColor}.pl-down .pl-icon{transform:scaleY(-1)}
@media (forced-colors:active){.pl-btn[aria-pressed=true]{outline:3px solid}}`;
const live = new Set();
let seq = 0;

// randomUUID needs a secure context; else a v4 UUID from getRandomValues.
const uuid = () => crypto.randomUUID ? crypto.randomUUID() : "10000000-1000-4000-8000-100000000000"
  .replace(/[018]/g, (c) => (c ^ (crypto.getRandomValues(new Uint8Array(1))[0] & (15 >> (c / 4)))).toString(16));
const el = (tag, attrs = {}, kids = []) => {
  const e = d.createElement(tag);
  for (const [k, val] of Object.entries(attrs)) {
    if (k === "text") e.textContent = val;
    else if (typeof val === "function") e.addEventListener(k, val);
    else if (val != null && val !== false) e.setAttribute(k, val === true ? "" : val);
  }
  kids.forEach((c) => c && e.append(c));
  return e;
};
const wait = (ms) => new Promise((r) => setTimeout(r, ms));
// text/plain: a CORS "simple" request, no preflight. Network errors, 429 and 5xx are
// retried with the same feedbackId (idempotent).
const post = async (url, events, attempt = 0) => {
  let r;
  try {
    r = await fetch(url, { method: "POST", body: JSON.stringify(events), keepalive: true,
      headers: { "Content-Type": "text/plain;charset=UTF-8" } });
  } catch (_) {
    if (attempt < 2) return wait(500 * (attempt + 1)).then(() => post(url, events, attempt + 1));
    return { ok: false, status: 0, code: "network" };
  }
  if (r.ok) return { ok: true, status: r.status };
  if ((r.status === 429 || r.status >= 500) && attempt < 2) {
    await wait(Math.min(10, +r.headers.get("Retry-After") || 1) * 1000);
    return post(url, events, attempt + 1);
  }
  const body = await r.json().catch(() => ({}));
  // A retry refused as a replay: the first attempt arrived (its answer was lost).
  if (r.status === 409 && body.error === "replayed" && attempt > 0) return { ok: true, status: 200 };
  return { ok: false, status: r.status, code: body.error || "" };
};
const beacon = (url, events) => {
  const body = JSON.stringify(events);
  if (!navigator.sendBeacon?.(url, body)) {
    fetch(url, { method: "POST", body, keepalive: true }).catch(() => {});
  }
};
const onHide = (e) => {
  if (e.type === "pagehide" || d.visibilityState === "hidden") live.forEach((flush) => flush(e.type));
};
w.addEventListener("pagehide", onHide);
d.addEventListener("visibilitychange", onHide);

function mount(container, o) {
  if (!(container instanceof Element)) throw new TypeError("mount: container must be an element");
  if (!o || !o.token) throw new TypeError("mount: options.token is required");
  if (!d.getElementById("pl-widget-style")) d.head.append(el("style", { id: "pl-widget-style", nonce: o.nonce, text: CSS }));
  const L = { ...L0, ...o.labels }, id = `pl-${++seq}`;
  const url = `${String(o.collectorUrl || BASE).replace(/\/+$/, "")}/v1/feedback/${encodeURIComponent(o.token)}`;
  const out = o.output || (o.text != null ? el("div", { class: "pl-output", text: o.text }) : null);
  const st = { text: o.output ? out.innerText : String(o.text ?? ""), copied: {} };
  st.original = st.text;
  const status = el("p", { class: "pl-status", role: "status", "aria-live": "polite" });
  const root = el("div", { class: "pl-widget", "data-theme": o.theme });
  const btn = (label, aria, click, cls = "", pressed) =>
    el("button", { type: "button", class: `pl-btn ${cls}`, "aria-label": aria, "aria-pressed": pressed, click, text: label });
  const press = (b, on) => b.setAttribute("aria-pressed", String(on));
  const pressed = (b) => b.getAttribute("aria-pressed") === "true";
  const say = (text, error) => {
    status.textContent = text || "";
    if (error) root.setAttribute("data-state", "error");
    else root.removeAttribute("data-state");
  };
  const emit = async (type, fields) => {
    const ev = { feedbackId: uuid(), feedbackType: type, ...fields };
    if (POSITIVE[type] || (type === "rating" && ev.value >= 4)) st.positive = true;
    if (type === "regenerate") st.moved = true;
    const res = await post(url, [ev]);
    if (res.ok) say(L[DONE[type] ?? "thanks"]);
    else say(L[res.code] || L.failed.replace("{s}", res.status), true);
    Object.assign(res, { type, feedbackId: ev.feedbackId });
    try { o.onEvent?.(res); } catch (_) { /* an app's hook must not break the widget */ }
    return res;
  };
  const expand = (panel, opener, open) => {
    panel.hidden = !open;
    opener.setAttribute("aria-expanded", String(open));
  };

  // Thumbs down opens the category chips and is sent once: with the chip tapped, or with
  // no category on Send / Escape / leaving the page.
  const up = btn("", L.up, () => {
    if (st.down) { st.down = false; expand(why, down, false); }
    if (pressed(up)) return;
    press(up, true); press(down, false); emit("thumbs_up");
  }, "pl-up", "false");
  const down = btn("", L.down, () => {
    if (st.down) { st.down = false; press(down, false); return expand(why, down, false); }
    st.down = true; press(down, true); press(up, false); expand(why, down, true);
    why.querySelector("button").focus();
  }, "pl-down", "false");
  up.innerHTML = down.innerHTML = THUMB;
  down.setAttribute("aria-controls", `${id}-why`);
  const comment = el("textarea", { rows: "2" });
  const sendDown = (category) => {
    if (!st.down) return;
    st.down = false; expand(why, down, false); down.focus();
    emit("thumbs_down", { category: category || undefined, comment: comment.value.trim() || undefined });
  };
  const why = el("div", { class: "pl-panel", id: `${id}-why`, role: "group", "aria-label": L.why,
    keydown: (e) => e.key === "Escape" && sendDown(null) }, [
    ...(o.categories || ["wrong", "unhelpful", "off_topic", "inappropriate"]).map((c) =>
      btn(L[c] || c, null, () => sendDown(c), "pl-chip")),
    el("label", {}, [L.comment, comment]),
    btn(L.send, null, () => sendDown(null))
  ]);
  expand(why, down, false);
  const bar = el("div", { class: "pl-bar", role: "group", "aria-label": L.group }, [up, down]);

  if (o.rating) {
    const stars = [1, 2, 3, 4, 5].map((n) => btn("\u2605", L.star.replace("{n}", n), () => {
      if (pressed(stars[n - 1])) return;
      stars.forEach((s, i) => { press(s, i === n - 1); s.classList.toggle("pl-on", i < n); });
      emit("rating", { value: n });
    }, "pl-star", "false"));
    bar.append(el("span", { role: "group", "aria-label": L.rate }, stars));
  }

  // Copy button or copy event on the output: once per way and version of the text.
  const copied = (via) => {
    const key = `${via}\n${st.text}`;
    if (st.copied[key]) return say(L.copied);
    st.copied[key] = 1;
    emit("copy", { metadata: { edited: st.text !== st.original, via } });
  };
  const legacyCopy = (text) => { // for pages that are not a secure context
    const ta = el("textarea");
    ta.style.cssText = "position:fixed;opacity:0"; // CSSOM, not an attribute: CSP-safe
    ta.value = text; d.body.append(ta); ta.select();
    const ok = d.execCommand("copy");
    ta.remove();
    return ok;
  };
  if (out && o.copy !== false) {
    bar.append(btn(L.copy, null, async () => {
      const text = st.text;
      let ok = true;
      try { await navigator.clipboard.writeText(text); } catch (_) { ok = legacyCopy(text); }
      if (ok) copied("button"); else say(L.copyFailed, true);
    }, "pl-copy"));
    out.addEventListener("copy", () => st.editing || copied("selection"));
  }

  // Edit makes the output editable; Accept sends the final text if it changed.
  if (out && o.editable) {
    const attrs = { role: "textbox", "aria-multiline": "true", "aria-label": L.editBox };
    const editB = btn(L.edit, null, () => {
      st.editing = true; st.saved = out.innerHTML;
      try { out.contentEditable = "plaintext-only"; } catch (_) { out.contentEditable = "true"; }
      out.classList.add("pl-editing");
      for (const a in attrs) out.setAttribute(a, attrs[a]);
      editB.hidden = true; acceptB.hidden = cancelB.hidden = false;
      out.focus(); say(L.editing);
    }, "pl-edit");
    const finish = (accept) => {
      if (!st.editing) return;
      const text = out.innerText.replace(/\r\n?/g, "\n").replace(/\n$/, "");
      st.editing = false; out.contentEditable = "false"; out.classList.remove("pl-editing");
      for (const a in attrs) out.removeAttribute(a);
      editB.hidden = false; acceptB.hidden = cancelB.hidden = true; editB.focus();
      if (accept && text !== st.text) { st.text = text; emit("edit", { userEdit: text }); }
      else { out.innerHTML = st.saved; say(""); }
    };
    const acceptB = btn(L.accept, null, () => finish(true), "pl-accept");
    const cancelB = btn(L.cancel, null, () => finish(false), "pl-cancel");
    acceptB.hidden = cancelB.hidden = true;
    out.addEventListener("keydown", (e) => {
      if (!st.editing) return;
      if (e.key === "Escape") { e.preventDefault(); finish(false); }
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); finish(true); }
    });
    bar.append(editB, acceptB, cancelB);
  }

  if (typeof o.onRegenerate === "function") {
    bar.append(btn(L.regenerate, null, async () => {
      if (st.busy) return;
      st.busy = true; emit("regenerate");
      try { await o.onRegenerate({ token: o.token, text: st.text, widget: api }); } catch (_) { /* app's */ }
      st.busy = false;
    }, "pl-regenerate"));
  }

  let report;
  if (o.report) {
    const rtext = el("textarea", { rows: "3" });
    const repB = btn(L.report, null, () => {
      expand(report, repB, report.hidden);
      if (!report.hidden) rtext.focus();
    }, "pl-report");
    repB.setAttribute("aria-controls", `${id}-report`);
    const close = () => { expand(report, repB, false); repB.focus(); };
    report = el("div", { class: "pl-panel", id: `${id}-report`, role: "group", "aria-label": L.report,
      keydown: (e) => e.key === "Escape" && close() }, [
      el("label", {}, [L.problem, rtext]),
      btn(L.send, null, () => {
        const c = rtext.value.trim();
        rtext.value = ""; close();
        emit("report", { comment: c || undefined });
      }),
      btn(L.cancel, null, close)
    ]);
    expand(report, repB, false);
    bar.append(repB);
  }

  root.append(...[o.output ? null : out, bar, why, report, status].filter(Boolean));
  container.append(root);

  // Page left: a pending thumbs down, and abandon if nothing positive (thumbs up, copy,
  // edit, rating >= 4) was sent and the user did not regenerate.
  const flush = (trigger) => {
    const evs = [];
    if (st.down && trigger !== "visibilitychange") {
      st.down = false;
      evs.push({ feedbackId: uuid(), feedbackType: "thumbs_down", comment: comment.value.trim() || undefined });
    }
    const when = o.abandon ?? true;
    if ((when === true || when === trigger) && trigger !== "destroy" && !st.positive && !st.moved && !st.abandoned) {
      st.abandoned = true;
      evs.push({ feedbackId: uuid(), feedbackType: "abandon", metadata: { trigger } });
    }
    if (evs.length) beacon(url, evs);
  };
  live.add(flush);

  const api = {
    element: root,
    send: (type, fields) => emit(type, fields || {}),
    getText: () => st.text,
    destroy() {
      live.delete(flush); flush("destroy"); root.remove();
    }
  };
  return api;
}

w.PromptloopWidget = { mount, version: "1" };
})();
