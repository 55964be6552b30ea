/* promptloop review page: label queue items with the keyboard alone.
 *
 * g / b / u        verdict good / bad / unsure
 * 1..9             category (press again to clear)
 * s                cycle severity        f  cycle fixability
 * c / o            write the corrected answer / notes (Esc leaves the field)
 * e                use the user's own edit as the corrected answer
 * Enter or n       save the label and show the next item (Ctrl+Enter inside a field)
 *
 * While one item is shown the next one is already claimed and loaded (prefetched), so
 * moving on renders from memory. window.reviewStats counts labels, prefetch hits and the
 * time from the key press to the next item on screen.
 */
(function () {
  "use strict";
  var root = document.getElementById("review");
  if (!root) return;
  var config = JSON.parse(document.getElementById("review-config").textContent);
  var csrf = root.getAttribute("data-csrf");
  var nameBox = document.getElementById("reviewer");
  var $ = function (id) { return document.getElementById(id); };

  var state = { current: null, next: null, nextPromise: null, shownAt: 0, form: null, categories: [] };
  var recentlySaved = [];  // still excluded from claims until their labels are surely stored
  var stats = { labelled: 0, failed: 0, startedAt: null, loadsMs: [], prefetchHits: 0, prefetchMisses: 0 };
  window.reviewStats = stats;

  // ------------------------------------------------------------------ requests
  function post(path, body) {
    return fetch(path, {
      method: "POST",
      credentials: "same-origin",
      headers: { "content-type": "application/json", "x-csrf-token": csrf },
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.json().then(function (data) {
        if (!response.ok) throw new Error(data.message || response.statusText);
        return data;
      });
    });
  }
  function reviewer() { return (nameBox.value || "").trim(); }
  function excluded() {
    var ids = recentlySaved.slice(-10);
    if (state.current && state.current.item) ids.push(state.current.item.item_id);
    return ids;
  }
  function prefetch() {
    state.next = null;
    root.setAttribute("data-prefetched", "false");
    var promise = post("/review/api/next", { reviewer: reviewer(), exclude: excluded() });
    state.nextPromise = promise;
    promise.then(function (data) {
      if (state.nextPromise !== promise) return;
      state.next = data;
      root.setAttribute("data-prefetched", "true");
    }, function (error) { showError("could not load the next item: " + error.message); });
    return promise;
  }

  // ------------------------------------------------------------------ rendering
  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text != null) node.textContent = text;
    if (cls) node.className = cls;
    return node;
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }
  function showError(message) { $("review-error").textContent = message || ""; }

  function show(view, startedAt) {
    state.current = view && !view.empty ? view : null;
    $("review-name").hidden = true;
    $("review-empty").hidden = !!state.current;
    $("review-item").hidden = !state.current;
    root.setAttribute("data-state", state.current ? "item" : "empty");
    if (!state.current) { updateStats(); return; }
    var item = view.item, it = view.interaction;
    root.setAttribute("data-item", item.item_id);
    $("item-where").textContent = [it.feature, it.prompt_name, it.prompt_version, it.model].filter(Boolean).join(" · ");
    var reasons = $("item-reasons"); clear(reasons);
    (item.reasons || []).forEach(function (r) { reasons.appendChild(el("span", r.rule.replace(/_/g, " ") + ": " + r.reason, "badge")); });
    $("item-input").textContent = it.user_input || "";
    $("item-output").textContent = it.raw_output || "";
    var feedback = $("item-feedback"); clear(feedback);
    (view.feedback || []).forEach(function (f) {
      var text = f.source + ": " + f.feedback_type + (f.category ? " (" + f.category + ")" : "") +
        (f.value != null ? " " + f.value : "") + (f.comment ? " “" + f.comment + "”" : "") +
        (f.user_edit ? " → " + f.user_edit : "");
      feedback.appendChild(el("li", text));
    });
    if (!feedback.firstChild) feedback.appendChild(el("li", "none", "muted"));
    var session = $("item-session"); clear(session);
    (view.session || []).forEach(function (turn) {
      var text = (turn.user_input || "") + " → " + (turn.raw_output || "").slice(0, 160) +
        (turn.signals.length ? "  [" + turn.signals.join(", ") + "]" : "");
      session.appendChild(el("li", text, turn.current ? "current" : ""));
    });
    if (!session.firstChild) session.appendChild(el("li", "no other turns", "muted"));
    resetForm(view.prefill || {});
    state.shownAt = performance.now();
    if (stats.startedAt === null) stats.startedAt = state.shownAt;
    if (startedAt != null) stats.loadsMs.push(state.shownAt - startedAt);
    updateStats();
  }

  // ------------------------------------------------------------------ the form
  function resetForm(prefill) {
    state.form = { verdict: null, category: prefill.category || null, severity: null, fixability: null };
    state.suggested = prefill.suggested_correction || null;
    state.categories = config.categories.slice();
    if (prefill.category && state.categories.indexOf(prefill.category) < 0) state.categories.push(prefill.category);
    var box = $("f-category"); clear(box);
    state.categories.slice(0, 9).forEach(function (name, i) {
      var chip = el("span", null); chip.setAttribute("data-value", name);
      chip.appendChild(el("kbd", String(i + 1))); chip.appendChild(document.createTextNode(" " + name));
      box.appendChild(chip);
    });
    $("category-hint").textContent = prefill.category ? "pre-filled from the user's feedback: " + prefill.category : "";
    $("f-corrected").value = ""; $("f-notes").value = "";
    $("use-edit").hidden = !state.suggested;
    showError("");
    paint();
  }
  function paint() {
    ["verdict", "category"].forEach(function (field) {
      Array.prototype.forEach.call(document.querySelectorAll("#f-" + field + " [data-value]"), function (chip) {
        chip.classList.toggle("chosen", chip.getAttribute("data-value") === state.form[field]);
      });
    });
    $("f-severity").textContent = state.form.severity || "–";
    $("f-fixability").textContent = (state.form.fixability || "–").replace(/_/g, " ");
    root.setAttribute("data-verdict", state.form.verdict || "");
  }
  function cycle(field, values) {
    var options = [null].concat(values);
    state.form[field] = options[(options.indexOf(state.form[field]) + 1) % options.length];
    paint();
  }
  function chooseCategory(index) {
    var name = state.categories[index];
    if (!name) return;
    state.form.category = state.form.category === name ? null : name;
    paint();
  }

  // ------------------------------------------------------------------ save and next
  function save() {
    if (!state.current) return;
    if (!state.form.verdict) { showError("choose a verdict first: g, b or u"); return; }
    var startedAt = performance.now();
    var item = state.current.item;
    var body = {
      reviewer: reviewer(),
      verdict: state.form.verdict,
      category: state.form.category,
      severity: state.form.severity,
      fixability: state.form.fixability,
      corrected_answer: $("f-corrected").value || null,
      notes: $("f-notes").value || null,
      duration_ms: Math.round(startedAt - state.shownAt)
    };
    recentlySaved.push(item.item_id);
    post("/review/api/items/" + encodeURIComponent(item.item_id) + "/label", body).then(function () {
      stats.labelled += 1;
      root.setAttribute("data-labelled", String(stats.labelled));
      updateStats();
    }, function (error) {
      stats.failed += 1;
      showError("label not saved: " + error.message);
    });
    if (state.next) {
      stats.prefetchHits += 1;
      show(state.next, startedAt);
      if (state.current) prefetch();
    } else {
      stats.prefetchMisses += 1;
      var waiting = state.nextPromise;
      state.current = null;
      root.setAttribute("data-state", "loading");
      waiting.then(function (view) { show(view, startedAt); if (state.current) prefetch(); });
    }
  }

  function updateStats() {
    var parts = [stats.labelled + " labelled"];
    if (stats.labelled && stats.startedAt !== null) {
      var minutes = (performance.now() - stats.startedAt) / 60000;
      parts.push((stats.labelled / Math.max(minutes, 1e-6)).toFixed(1) + " items/min");
    }
    var last = stats.loadsMs[stats.loadsMs.length - 1];
    if (last != null) parts.push("next item in " + last.toFixed(1) + " ms");
    $("review-stats").textContent = parts.join(" · ");
  }

  // ------------------------------------------------------------------ start
  function start() {
    if (!reviewer()) {
      $("review-name").hidden = false;
      root.setAttribute("data-state", "name");
      nameBox.focus();
      return;
    }
    try { localStorage.setItem("pl-reviewer", reviewer()); } catch (e) { /* private mode */ }
    root.setAttribute("data-state", "loading");
    post("/review/api/next", { reviewer: reviewer(), exclude: [] }).then(function (view) {
      show(view, null);
      if (state.current) prefetch();
    }, function (error) { showError("could not load an item: " + error.message); });
  }

  function isTyping(target) {
    var tag = (target.tagName || "").toLowerCase();
    return tag === "input" || tag === "textarea" || tag === "select" || target.isContentEditable;
  }

  // Capture phase on window: these keys mean labels here, not the dashboard's shortcuts.
  window.addEventListener("keydown", function (event) {
    var handled = true;
    if (event.target === nameBox) {
      if (event.key !== "Enter") return;
      nameBox.blur();
      if (!state.current) start();
    } else if (isTyping(event.target)) {
      if (event.key === "Escape") event.target.blur();
      else if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) { event.target.blur(); save(); }
      else return;
    } else if (event.ctrlKey || event.metaKey || event.altKey || !state.current) {
      return;
    } else {
      switch (event.key) {
        case "g": state.form.verdict = "good"; paint(); break;
        case "b": state.form.verdict = "bad"; paint(); break;
        case "u": state.form.verdict = "unsure"; paint(); break;
        case "s": cycle("severity", config.severities); break;
        case "f": cycle("fixability", config.fixabilities); break;
        case "c": $("f-corrected").focus(); break;
        case "o": $("f-notes").focus(); break;
        case "e": if (state.suggested) $("f-corrected").value = state.suggested; break;
        case "Enter": case "n": save(); break;
        default:
          if (/^[1-9]$/.test(event.key)) chooseCategory(Number(event.key) - 1);
          else handled = false;
      }
    }
    if (handled) { event.preventDefault(); event.stopImmediatePropagation(); }
  }, true);

  $("save-next").addEventListener("click", save);
  $("use-edit").addEventListener("click", function () { $("f-corrected").value = state.suggested || ""; });
  try { nameBox.value = localStorage.getItem("pl-reviewer") || ""; } catch (e) { /* private mode */ }
  start();
})();
