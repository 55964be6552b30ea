/* The promptloop demo chat: a SIMULATED assistant with the feedback widget under each answer.
 * The page talks to the collector's demo endpoints only; it never sees a secret, only the
 * feedback token returned with each answer. */
(() => {
  "use strict";
  const nonce = document.currentScript.nonce;
  const $ = (id) => document.getElementById(id);
  const log = $("log"), form = $("ask"), input = $("message"), list = $("events"), empty = $("events-empty");
  let sessionId = sessionStorage.getItem("promptloop-demo-session");
  if (!sessionId) {
    sessionId = crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random().toString(16).slice(2);
    sessionStorage.setItem("promptloop-demo-session", sessionId);
  }
  const interactions = [];

  const el = (tag, cls, text) => {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  };
  const short = (id) => id.slice(0, 8);

  function addUser(text) {
    const li = el("li", "msg user");
    li.append(el("p", "who", "You"), el("div", "", text));
    log.append(li);
  }

  async function ask(message, parentId) {
    let data;
    try {
      const res = await fetch("/demo/api/chat", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ message, session_id: sessionId, parent_interaction_id: parentId || undefined })
      });
      data = await res.json();
      if (!res.ok) throw new Error(data.message || `HTTP ${res.status}`);
    } catch (err) {
      const li = el("li", "msg error", `The assistant could not answer: ${err.message}`);
      log.append(li);
      return;
    }
    const li = el("li", "msg assistant");
    li.dataset.interactionId = data.interaction_id;
    const who = data.attempt > 1 ? `Assistant (simulated), regenerated answer #${data.attempt}` : "Assistant (simulated)";
    const host = el("div", "answer");
    const meta = el("p", "meta",
      `interaction ${short(data.interaction_id)} · prompt ${data.prompt_name}@${data.prompt_version} · model ${data.model}`);
    li.append(el("p", "who", who), host, meta);
    log.append(li);
    PromptloopWidget.mount(host, {
      token: data.token,
      text: data.output,
      rating: true,
      report: true,
      editable: true,
      nonce,
      onRegenerate: () => ask(message, data.interaction_id),
      onEvent: () => refresh()
    });
    interactions.push(data.interaction_id);
    refresh();
  }

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const message = input.value.trim();
    if (!message) return;
    input.value = "";
    addUser(message);
    ask(message, null);
  });

  function describe(ev) {
    const parts = [];
    if (ev.category) parts.push(`category ${ev.category}`);
    if (ev.value != null) parts.push(`value ${ev.value}`);
    if (ev.comment) parts.push(`comment "${ev.comment}"`);
    if (ev.user_edit != null) parts.push(`final text "${ev.user_edit.length > 80 ? ev.user_edit.slice(0, 77) + "..." : ev.user_edit}"`);
    const meta = ev.metadata && Object.keys(ev.metadata).length ? JSON.stringify(ev.metadata) : "";
    if (meta) parts.push(meta);
    parts.push(`source ${ev.source}`);
    return parts.join(" · ");
  }

  let busy = false, again = false;
  async function refresh() {
    if (!interactions.length) return;
    if (busy) { again = true; return; }
    busy = true;
    try {
      const query = interactions.map((id) => `interaction_id=${encodeURIComponent(id)}`).join("&");
      const res = await fetch(`/demo/api/events?${query}`);
      if (res.ok) render((await res.json()).items);
    } catch (_) {
      /* the next poll tries again */
    } finally {
      busy = false;
      if (again) { again = false; refresh(); }
    }
  }

  function render(items) {
    empty.hidden = items.length > 0;
    const rows = items.slice().reverse().map((ev) => {
      const li = el("li");
      li.dataset.feedbackType = ev.feedback_type;
      const when = new Date(ev.timestamp).toLocaleTimeString();
      li.append(el("span", "type", ev.feedback_type), document.createTextNode(` on ${short(ev.interaction_id)} at ${when}`),
        el("div", "detail", describe(ev)));
      return li;
    });
    list.replaceChildren(...rows);
  }

  setInterval(refresh, 2000);
})();
