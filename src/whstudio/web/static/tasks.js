// The task list: consensus progress bars follow Server-Sent Events from /api/events.
"use strict";

(function () {
  const cards = new Map();
  for (const card of document.querySelectorAll("article.task[data-task-id]")) {
    cards.set(card.dataset.taskId, card);
  }
  const status = document.getElementById("live-status");

  function update(event) {
    const card = cards.get(String(event.task_id));
    if (!card) return;
    const threshold = Number(card.dataset.threshold);
    const total = Number(event.total_responses);
    const bar = card.querySelector("progress");
    bar.value = Math.min(total, threshold);
    card.querySelector("[data-count]").textContent = String(total);
    card.querySelector("[data-reached]").hidden = !event.consensus_reached;
    const disputed = card.querySelector("[data-disputed]");
    if (disputed) disputed.hidden = event.consensus_reached || Number(event.remaining) !== 0;
    const agreement = card.querySelector("[data-agreement]");
    if (agreement && event.agreement_percentage !== undefined) {
      agreement.textContent = Number(event.agreement_percentage).toFixed(1);
    }
    card.classList.remove("flash");
    void card.offsetWidth; // restart the highlight animation
    card.classList.add("flash");
  }

  if (!window.EventSource || cards.size === 0) {
    if (status) status.textContent = cards.size ? "Live updates are not supported here." : "";
    return;
  }
  const source = new EventSource("/api/events");
  source.addEventListener("open", function () {
    if (status) status.textContent = "Live: progress updates as answers arrive.";
  });
  source.addEventListener("error", function () {
    if (status) status.textContent = "Live updates paused; reconnecting…";
  });
  source.addEventListener("consensus", function (message) {
    try {
      update(JSON.parse(message.data));
    } catch (err) {
      // A malformed event is skipped; the next one carries the whole state again.
    }
  });
  window.addEventListener("pagehide", function () {
    source.close();
  });
})();
