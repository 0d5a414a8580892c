// The answering page: reserves the next task (or loads one), renders it safely, measures the
// time spent, submits through the API with the session's CSRF token, then shows the consensus.
"use strict";

(function () {
  const root = document.getElementById("annotate");
  const area = document.getElementById("task");
  const loading = document.getElementById("loading");
  const errorBox = document.getElementById("error");
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const fixedTask = root.dataset.taskId || null;
  const TYPES = {
    pairwise_ab: "A/B comparison",
    ranking: "Ranking",
    text_generation: "Writing",
    voice_transcription: "Transcription",
  };
  const CHOICES = { "1": "A", "2": "B", "0": "tie" };
  let state = null;

  // Time on the task counts only while the page is visible.
  const clock = {
    spent: 0,
    since: null,
    start() { this.spent = 0; this.since = document.hidden ? null : performance.now(); },
    pause() { if (this.since !== null) { this.spent += performance.now() - this.since; this.since = null; } },
    resume() { if (this.since === null && state && !state.done) this.since = performance.now(); },
    seconds() {
      const now = this.since === null ? 0 : performance.now() - this.since;
      return Math.min(86400, Math.max(0, Math.round((this.spent + now) / 1000)));
    },
  };
  document.addEventListener("visibilitychange", function () {
    if (document.hidden) clock.pause(); else clock.resume();
  });

  function h(tag, attrs) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "text") node.textContent = value;
      else if (key === "class") node.className = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (let i = 2; i < arguments.length; i += 1) {
      const child = arguments[i];
      if (child) node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  }

  function markdown(source) {
    return window.WHMarkdown.render(source, { highlights: state ? state.highlights : null });
  }

  function randomKey() {
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  async function api(method, url, body, extra) {
    const headers = Object.assign({ Accept: "application/json" }, extra || {});
    if (method !== "GET") headers["X-CSRF-Token"] = csrf;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(url, {
        method: method,
        headers: headers,
        credentials: "same-origin",
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      return { status: 0, data: { message: "The server cannot be reached; check the connection and try again." } };
    }
    let data = null;
    if (response.status !== 204) {
      try { data = await response.json(); } catch (err) { data = null; }
    }
    return { status: response.status, data: data };
  }

  function problem(res) {
    if (res.status === 401) {
      window.location.assign("/login?next=" + encodeURIComponent(window.location.pathname));
      return "Your session ended; sign in again.";
    }
    if (res.status === 403 && res.data && /csrf/i.test(res.data.message || "")) {
      return "This page is out of date (the session changed). Reload it and answer again.";
    }
    const message = res.data && res.data.message ? res.data.message : "The server answered " + res.status + ".";
    const field = res.data && res.data.field;
    return field && !message.startsWith(field) ? message + " (field: " + field + ")" : message;
  }

  function showError(message) {
    errorBox.textContent = message || "";
    errorBox.hidden = !message;
  }

  async function load() {
    state = null;
    showError("");
    area.replaceChildren();
    loading.hidden = false;
    const url = fixedTask ? "/api/tasks/" + encodeURIComponent(fixedTask) : "/api/tasks/next";
    const res = await api("GET", url);
    loading.hidden = true;
    if (res.status === 204) return renderNothing();
    if (res.status !== 200) return showError(problem(res));
    renderTask(res.data);
  }

  function renderNothing() {
    const box = h("section", { class: "card", id: "nothing" },
      h("h2", { text: "No task is waiting for you" }),
      h("p", { text: "You have answered or skipped every open task that needs you. New tasks appear on the task list." }),
      h("p", {}, h("a", { href: "/tasks", class: "button" , text: "Back to the tasks" })));
    area.appendChild(box);
    box.querySelector("a").focus();
  }

  const guidelineBodies = new Map();

  // The dataset's guidelines, above the task: open on the first visit of each version, then
  // folded (the reader's choice is remembered per version in this browser).
  function guidelinesPanel(task) {
    const g = task.guidelines;
    const dataset = task.source_dataset || "";
    const seenKey = "whs-guidelines-seen:" + dataset + ":" + g.version;
    let seen = false;
    try { seen = localStorage.getItem(seenKey) === "1"; } catch (err) { seen = false; }
    const body = h("div", { class: "guidelines-body", id: "guidelines-body" }, h("p", { class: "muted", text: "Loading the guidelines…" }));
    const panel = h("details", { class: "card guidelines", id: "guidelines", open: !seen },
      h("summary", { text: "Guidelines" + (g.version > 1 ? " (version " + g.version + ")" : "") }), body);
    panel.addEventListener("toggle", function () {
      try { localStorage.setItem(seenKey, "1"); } catch (err) { /* not remembered */ }
    });
    try { localStorage.setItem(seenKey, "1"); } catch (err) { /* not remembered */ }
    const key = dataset + ":" + g.version;
    const fill = (text) => body.replaceChildren(markdown(text));
    if (guidelineBodies.has(key)) fill(guidelineBodies.get(key));
    else {
      api("GET", "/api/datasets/" + encodeURIComponent(dataset) + "/guidelines?version=" + g.version).then(function (res) {
        if (res.status === 200) { guidelineBodies.set(key, res.data.body); fill(res.data.body); }
        else body.replaceChildren(h("p", { class: "error", text: "The guidelines could not be loaded: " + problem(res) }));
      });
    }
    return panel;
  }

  function criteriaField(criteria) {
    const group = h("fieldset", { class: "criteria", id: "criteria" },
      h("legend", { text: "What does your answer rest on? (optional)" }));
    for (const name of criteria) {
      const id = "reason-" + name;
      group.appendChild(h("div", { class: "inline-check" },
        h("input", { type: "checkbox", name: "reason", id: id, value: name }),
        h("label", { for: id, text: name.replace(/[_-]/g, " ") })));
    }
    return group;
  }

  function confidenceField() {
    const output = h("output", { id: "confidence-value", for: "confidence", text: "3" });
    const input = h("input", {
      type: "range", id: "confidence", name: "confidence", min: 1, max: 5, step: 1, value: 3,
      "aria-describedby": "confidence-help",
    });
    input.addEventListener("input", function () { output.textContent = input.value; });
    return h("div", { class: "field confidence" },
      h("label", { for: "confidence", text: "Confidence" }),
      h("div", { class: "slider" }, input, output),
      h("p", { id: "confidence-help", class: "muted" }, "1 = guessing, 5 = certain.",
        h("span", { class: "key-hint", text: " Keys: Shift+1…5." })));
  }

  function setConfidence(value) {
    const input = document.getElementById("confidence");
    if (!input || input.disabled) return;
    input.value = String(value);
    document.getElementById("confidence-value").textContent = String(value);
  }

  // A conversation as its turns: who speaks, then what they say.
  const SPEAKERS = { system: "System", user: "User", assistant: "Assistant" };
  function messages(list) {
    const box = h("ol", { class: "messages" });
    for (const message of list) {
      box.appendChild(h("li", { class: "message " + message.role },
        h("span", { class: "speaker", text: SPEAKERS[message.role] || message.role }),
        h("div", { class: "message-body" }, markdown(message.content))));
    }
    return box;
  }

  function pairwise(task, form) {
    const options = h("div", { class: "options" });
    // A multi-turn item shows each side's own turns (content comes in this annotator's order).
    const conversation = task.content.conversation;
    for (const [label, key, side] of [["A", "optionA", "a"], ["B", "optionB", "b"]]) {
      const body = conversation ? messages(conversation[side]) : markdown(task.content[key]);
      options.appendChild(h("section", { class: "option", "aria-label": "Answer " + label, "data-label": label },
        h("h3", { text: "Answer " + label }),
        h("div", { class: "option-body", "data-option": label }, body)));
    }
    form.appendChild(options);
    const same = conversation
      ? JSON.stringify(conversation.a) === JSON.stringify(conversation.b)
      : (task.content.optionA || "").trim() === (task.content.optionB || "").trim();
    if (same) {
      form.appendChild(h("p", { class: "note warn", id: "identical", role: "note", text: "The two answers are the same text: choose a tie if this task allows one, or skip it." }));
    }
    const group = h("fieldset", { class: "choices" }, h("legend", { text: "Which answer is better?" }));
    const choices = [["A", "A is better", "1"], ["B", "B is better", "2"]];
    if (task.allow_tie) choices.push(["tie", "They tie", "0"]);
    for (const [value, label, key] of choices) {
      const id = "choice-" + value;
      group.appendChild(h("div", { class: "choice" },
        h("input", { type: "radio", name: "chosen_response", id: id, value: value }),
        h("label", { for: id }, label + " ", h("kbd", { text: key }))));
    }
    group.addEventListener("change", markChosen);
    form.appendChild(group);
  }

  // The chosen side's panel is outlined, not only its small radio button.
  function markChosen() {
    const picked = document.querySelector("input[name=chosen_response]:checked");
    for (const panel of document.querySelectorAll(".option[data-label]")) {
      const chosen = !!picked && (picked.value === panel.dataset.label || picked.value === "tie");
      panel.classList.toggle("chosen", chosen);
    }
  }

  function moveItem(item, delta) {
    const list = item.parentElement;
    const items = Array.from(list.children);
    const from = items.indexOf(item);
    const to = Math.max(0, Math.min(items.length - 1, from + delta));
    if (to === from) return;
    list.insertBefore(item, delta > 0 ? items[to].nextSibling : items[to]);
    item.focus();
    announce("Moved to position " + (to + 1) + " of " + items.length + ".");
  }

  function announce(text) {
    const live = document.getElementById("rank-live");
    if (live) live.textContent = text;
  }

  function ranking(task, form) {
    const list = h("ol", { class: "ranking", id: "ranking", "aria-describedby": "rank-help" });
    let dragged = null;
    task.content.options.forEach(function (option, index) {
      const item = h("li", { class: "rank-item", tabindex: 0, draggable: "true", "data-index": index },
        h("span", { class: "grip", "aria-hidden": "true", text: "⠿" }),
        h("div", { class: "rank-body" }, markdown(option)),
        h("span", { class: "rank-buttons" },
          h("button", { type: "button", class: "up", "aria-label": "Move option " + (index + 1) + " up", text: "↑" }),
          h("button", { type: "button", class: "down", "aria-label": "Move option " + (index + 1) + " down", text: "↓" })));
      item.querySelector(".up").addEventListener("click", function () { moveItem(item, -1); });
      item.querySelector(".down").addEventListener("click", function () { moveItem(item, 1); });
      item.addEventListener("keydown", function (ev) {
        if (ev.target !== item || !ev.altKey) return;
        if (ev.key === "ArrowUp") { ev.preventDefault(); moveItem(item, -1); }
        if (ev.key === "ArrowDown") { ev.preventDefault(); moveItem(item, 1); }
      });
      item.addEventListener("dragstart", function (ev) {
        dragged = item;
        item.classList.add("dragging");
        ev.dataTransfer.effectAllowed = "move";
        ev.dataTransfer.setData("text/plain", String(index));
      });
      item.addEventListener("dragend", function () {
        item.classList.remove("dragging");
        dragged = null;
      });
      list.appendChild(item);
    });
    list.addEventListener("dragover", function (ev) {
      if (!dragged) return;
      ev.preventDefault();
      const over = ev.target.closest && ev.target.closest("li.rank-item");
      if (!over || over === dragged) return;
      const box = over.getBoundingClientRect();
      list.insertBefore(dragged, ev.clientY > box.top + box.height / 2 ? over.nextSibling : over);
    });
    list.addEventListener("drop", function (ev) {
      ev.preventDefault();
      if (dragged) announce("Moved to position " + (Array.from(list.children).indexOf(dragged) + 1) + ".");
    });
    form.appendChild(h("fieldset", { class: "rank-group" },
      h("legend", { text: "Put the options in order, best first" }),
      h("p", { id: "rank-help", class: "muted", text: "Drag an option, use its arrow buttons, or focus it and press Alt+↑ / Alt+↓." }),
      list,
      h("p", { id: "rank-live", class: "visually-hidden", role: "status" })));
  }

  function safeMediaUrl(raw) {
    try {
      const url = new URL(String(raw), window.location.href);
      return url.protocol === "https:" || url.protocol === "http:" ? url.href : null;
    } catch (err) {
      return null;
    }
  }

  function longText(id, label, help) {
    return h("div", { class: "field" },
      h("label", { for: id, text: label }),
      h("textarea", { id: id, name: id, rows: 8, "data-long": "true", "aria-describedby": id + "-help" }),
      h("p", { id: id + "-help", class: "muted", text: help }));
  }

  function transcription(task, form) {
    const src = safeMediaUrl(task.content.audio_url);
    const player = src
      ? h("audio", { controls: true, preload: "metadata", id: "recording", "aria-label": "The recording to transcribe" })
      : h("p", { class: "error", text: "This recording's address cannot be played here." });
    if (src) player.src = src;
    form.appendChild(h("section", { class: "recording" }, h("h3", { text: "Recording" }), player));
    form.appendChild(longText("transcript", "Transcript", "Write what you hear. Ctrl+Enter submits."));
  }

  function renderTask(task) {
    state = { task: task, busy: false, done: false, key: randomKey(),
      highlights: new Map((task.highlights || []).map((b) => [b.lang + "\u0000" + b.code, b.tokens])) };
    const shownType = TYPES[task.question_type] || task.question_type;
    const form = h("form", { class: "card answer", id: "answer-form", novalidate: true, "data-type": task.question_type });
    form.appendChild(h("h2", { id: "task-title", text: task.title }));
    form.appendChild(h("p", { class: "meta" },
      h("span", { class: "tag", text: shownType }),
      h("span", { text: task.source_dataset || "no dataset" }),
      h("span", { text: task.total_responses + " of " + task.consensus_threshold + " answers" })));
    if (task.status !== "active") {
      form.appendChild(h("p", { class: "error", role: "note", text: "This task is " + task.status + "; it does not take answers now." }));
    }
    if (task.my_answer) {
      const seen = task.consensus !== null && task.consensus !== undefined;
      form.appendChild(h("p", { class: "note", id: "revision-note", text: task.my_answer.counted === false
        ? "You changed your answer after seeing others' answers: the change is kept for reviewers, and your earlier answer is the one that counts."
        : seen
          ? "You answered this task before and have seen others' answers: a new answer is kept for reviewers, but the one you gave counts."
          : "You answered this task before; a new answer revises yours." }));
    }
    form.appendChild(h("section", { class: "prompt", "aria-labelledby": "prompt-title" },
      h("h3", { id: "prompt-title", text: "Prompt" }),
      h("div", { class: "prompt-body", id: "prompt-body" },
        task.content.conversation ? messages(task.content.conversation.prompt) : markdown(task.content.prompt))));
    if (task.question_type === "pairwise_ab") pairwise(task, form);
    else if (task.question_type === "ranking") ranking(task, form);
    else if (task.question_type === "text_generation") form.appendChild(longText("text", "Your answer", "Write your answer. Ctrl+Enter submits."));
    else if (task.question_type === "voice_transcription") transcription(task, form);
    if (task.guidelines && task.guidelines.criteria.length) form.appendChild(criteriaField(task.guidelines.criteria));
    form.appendChild(confidenceField());
    form.appendChild(h("div", { class: "field" },
      h("label", { for: "explanation", text: "Why? (optional)" }),
      h("textarea", { id: "explanation", name: "explanation", rows: 2, maxlength: 5000 })));
    form.appendChild(h("div", { class: "actions" },
      h("button", { type: "submit", class: "primary", id: "submit", text: "Submit answer" }),
      h("button", { type: "button", id: "skip", text: "Skip this task", onclick: skip })));
    form.addEventListener("submit", function (ev) { ev.preventDefault(); submit(); });
    if (task.guidelines) area.appendChild(guidelinesPanel(task));
    area.appendChild(form);
    const draft = takeDraft(task.id);
    if (draft) {
      prefill(draft);
      form.insertBefore(h("p", { class: "note", id: "draft-restored", text: "Your answer from before you signed in again is back: check it and submit." }), form.children[2] || null);
    } else if (task.my_answer) prefill(task.my_answer);
    clock.start();
    const first = form.querySelector("input[type=radio], li.rank-item, textarea");
    if (first && window.matchMedia("(min-width: 48rem)").matches) first.focus({ preventScroll: true });
  }

  function prefill(answer) {
    if (answer.chosen_response) {
      const radio = document.getElementById("choice-" + answer.chosen_response);
      if (radio) radio.checked = true;
      markChosen();
    }
    if (answer.confidence) setConfidence(answer.confidence);
    if (answer.explanation) document.getElementById("explanation").value = answer.explanation;
    const payload = answer.payload || answer;
    for (const key of ["text", "transcript"]) {
      const box = document.getElementById(key);
      if (box && typeof payload[key] === "string") box.value = payload[key];
    }
    for (const reason of answer.reasons || []) {
      const box = document.getElementById("reason-" + reason);
      if (box) box.checked = true;
    }
    const order = payload.ranking;
    const list = document.getElementById("ranking");
    if (list && Array.isArray(order)) {
      for (const index of order) {
        const item = list.querySelector('li[data-index="' + Number(index) + '"]');
        if (item) list.appendChild(item);
      }
    }
  }

  function answerBody() {
    const task = state.task;
    const body = {
      confidence: Number(document.getElementById("confidence").value),
      time_spent_seconds: clock.seconds(),
    };
    const explanation = document.getElementById("explanation").value.trim();
    if (explanation) body.explanation = explanation;
    const reasons = Array.from(document.querySelectorAll("input[name=reason]:checked")).map((box) => box.value);
    if (reasons.length) body.reasons = reasons;
    if (task.question_type === "pairwise_ab") {
      const picked = document.querySelector("input[name=chosen_response]:checked");
      if (!picked) return { missing: "Choose which answer is better (keys 1, 2" + (task.allow_tie ? ", 0" : "") + ").", focus: "input[name=chosen_response]" };
      body.chosen_response = picked.value;
    } else if (task.question_type === "ranking") {
      body.ranking = Array.from(document.querySelectorAll("#ranking > li")).map((li) => Number(li.dataset.index));
    } else if (task.question_type === "text_generation") {
      const text = document.getElementById("text").value;
      if (!text.trim()) return { missing: "Write your answer first.", focus: "#text" };
      body.text = text;
    } else if (task.question_type === "voice_transcription") {
      const text = document.getElementById("transcript").value;
      if (!text.trim()) return { missing: "Write the transcript first.", focus: "#transcript" };
      body.transcript = text;
    }
    return { body: body };
  }

  async function submit() {
    if (!state || state.busy || state.done) return;
    const built = answerBody();
    if (built.missing) {
      showError(built.missing);
      const target = document.querySelector(built.focus);
      if (target) target.focus();
      return;
    }
    state.busy = true;
    const button = document.getElementById("submit");
    button.disabled = true;
    button.textContent = "Submitting…";
    const res = await api("POST", "/api/tasks/" + encodeURIComponent(state.task.id) + "/submit",
      built.body, { "Idempotency-Key": state.key });
    state.busy = false;
    if (res.status === 200 || res.status === 201) {
      state.done = true;
      clock.pause();
      button.textContent = "Submitted";
      showError("");
      showResult(res.data);
    } else if (res.status === 401) {
      // The session ended: the answer stays on this page and in this tab's storage, and comes
      // back on this task's page once signed in again.
      button.disabled = false;
      button.textContent = "Submit answer";
      keepDraft(state.task.id, built.body);
      const back = "/annotate/" + encodeURIComponent(state.task.id);
      errorBox.replaceChildren(
        document.createTextNode("Your session ended, so the answer was not saved. It is kept: "),
        h("a", { href: "/login?next=" + encodeURIComponent(back), id: "sign-in-again", text: "sign in again" }),
        document.createTextNode(" and it will be back on this task, ready to submit."));
      errorBox.hidden = false;
    } else {
      button.disabled = false;
      button.textContent = "Submit answer";
      showError(problem(res));
    }
  }

  const DRAFTS = "whs-draft:";

  function keepDraft(taskId, body) {
    try { sessionStorage.setItem(DRAFTS + taskId, JSON.stringify(body)); } catch (err) { /* private mode: the page still holds it */ }
  }

  function takeDraft(taskId) {
    try {
      const raw = sessionStorage.getItem(DRAFTS + taskId);
      sessionStorage.removeItem(DRAFTS + taskId);
      return raw ? JSON.parse(raw) : null;
    } catch (err) { return null; }
  }

  async function skip() {
    if (!state || state.busy || state.done) return;
    state.busy = true;
    const res = await api("POST", "/api/tasks/" + encodeURIComponent(state.task.id) + "/skip",
      { reason: "skipped on the answering page" });
    state.busy = false;
    if (res.status === 204) next();
    else showError(problem(res));
  }

  function next() {
    if (fixedTask) window.location.assign("/annotate");
    else load();
  }

  function finalText(task, consensus) {
    const final = consensus.final_answer;
    if (!consensus.consensus_reached && consensus.remaining === 0) {
      return "Disputed: every answer is in and none has the agreement needed; a reviewer will decide.";
    }
    if (!consensus.consensus_reached || !final) return "No consensus yet: answers are still coming in.";
    if (final.chosen_response) {
      return "Consensus: " + (final.chosen_response === "tie" ? "a tie" : "answer " + final.chosen_response + " is better") + ".";
    }
    if (final.ranking && task.content.options) {
      return "Consensus order: " + final.ranking.map((i) => "option " + (i + 1)).join(", ") + ".";
    }
    if (final.transcript) return "Consensus transcript: " + final.transcript;
    return "Consensus reached.";
  }

  function showResult(result) {
    const task = state.task;
    const form = document.getElementById("answer-form");
    for (const field of form.querySelectorAll("input, textarea, button, li")) {
      if (field.tagName === "LI") { field.removeAttribute("tabindex"); field.draggable = false; }
      else field.disabled = true;
    }
    const c = result.consensus;
    const box = h("section", { class: "card result", id: "result", role: "status", "aria-labelledby": "result-title" },
      h("h2", { id: "result-title", text: "Answer saved" + (result.response_version > 1 ? " (revision " + result.response_version + ")" : "") }));
    if (result.counted === false) {
      box.appendChild(h("p", { class: "note", id: "result-uncounted", text: "You had seen others' answers to this task, so this answer is kept for reviewers and your earlier answer is the one that counts." }));
    }
    if (!c) {
      box.appendChild(h("p", { id: "result-hidden", text: task.reveal === "after_close"
        ? "Others' answers are shown once this task has all its answers."
        : "This project keeps others' answers hidden, so that every answer is your own judgement." }));
    } else resultCounts(task, c, box);
    const nextButton = h("button", { type: "button", class: "primary", id: "next", text: fixedTask ? "Go to the next task" : "Next task", onclick: next });
    box.appendChild(h("div", { class: "actions" }, nextButton, h("a", { href: "/tasks", class: "button", text: "Task list" })));
    area.appendChild(box);
    nextButton.focus();
  }

  function resultCounts(task, c, box) {
    const counts = c.counts || {};
    box.append(
      h("div", { class: "progress-row" },
        h("progress", { max: c.consensus_threshold, value: Math.min(c.total_responses, c.consensus_threshold), "aria-labelledby": "result-count" }),
        h("span", { id: "result-count", text: c.total_responses + " of " + c.consensus_threshold + " answers" })),
      h("p", { id: "result-consensus", class: c.consensus_reached ? "ok" : "", text: finalText(task, c) }),
      h("p", { text: "Agreement " + Number(c.agreement_percentage).toFixed(1) + "% (needs " + Number(c.min_agreement_percentage).toFixed(0) + "%)." }));
    if (task.question_type === "pairwise_ab") {
      const list = h("ul", { class: "counts" });
      for (const key of ["A", "B", "tie"]) {
        if (key === "tie" && !task.allow_tie && !(counts.tie && counts.tie.count)) continue;
        const n = counts[key] ? counts[key].count : 0;
        list.appendChild(h("li", { text: (key === "tie" ? "Tie" : "Answer " + key) + ": " + n }));
      }
      box.appendChild(list);
    }
  }

  document.addEventListener("keydown", function (ev) {
    if (!state || ev.defaultPrevented || ev.metaKey || ev.isComposing) return;
    const target = ev.target;
    const tag = target.tagName;
    const typing = tag === "TEXTAREA" || tag === "SELECT" || (tag === "INPUT" && !["radio", "range", "checkbox"].includes(target.type));
    if (state.done) {
      if ((ev.key === "n" || ev.key === "N") && !typing && !ev.ctrlKey && !ev.altKey) {
        ev.preventDefault();
        next();
      }
      return;
    }
    if (ev.key === "Enter") {
      if (tag === "BUTTON" || tag === "A" || tag === "SUMMARY" || tag === "AUDIO") return;
      if (tag === "TEXTAREA") {
        const long = target.dataset.long === "true";
        if (long ? !ev.ctrlKey : ev.shiftKey) return; // a new line
      }
      ev.preventDefault();
      submit();
      return;
    }
    if (typing || ev.ctrlKey || ev.altKey) return;
    const pair = state.task.question_type === "pairwise_ab";
    if (pair && !ev.shiftKey && CHOICES[ev.key] !== undefined) {
      const radio = document.getElementById("choice-" + CHOICES[ev.key]);
      if (radio) {
        ev.preventDefault();
        radio.checked = true;
        markChosen();
        radio.focus();
        showError("");
      }
      return;
    }
    const digit = /^Digit([1-5])$/.exec(ev.code || "");
    if (digit && (ev.shiftKey || !pair)) {
      ev.preventDefault();
      setConfidence(Number(digit[1]));
    }
  });

  load();
})();
