// Admin analytics: Plotly charts from the figures embedded as JSON, and a live list of tasks
// reaching consensus from /api/events. Text from the data is only ever set as textContent.
"use strict";

(function () {
  const data = JSON.parse(document.getElementById("analytics-data").textContent);
  // On a touch screen or a narrow window the mode bar would sit over the chart: none there.
  const narrow = window.matchMedia("(max-width: 48rem), (hover: none)").matches;
  const config = { responsive: true, displaylogo: false, displayModeBar: narrow ? false : "hover" };
  const layout = function (extra) {
    return Object.assign({
      margin: { l: 48, r: 16, t: 8, b: 48 },
      paper_bgcolor: "rgba(0,0,0,0)",
      plot_bgcolor: "rgba(0,0,0,0)",
      font: { family: "system-ui, sans-serif", size: 12 },
      legend: { orientation: "h", y: -0.25 },
    }, extra || {});
  };

  // Plotly reads tags in chart text (<a href>, <b>, <br>): text from the data is escaped so that
  // a dataset or model named with a link shows as the characters it is, never a link.
  const plain = (value) => String(value).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

  function chart(id, traces, extra, empty) {
    const box = document.getElementById(id);
    if (!traces.length || traces.every((t) => !(t.x || []).length)) {
      box.textContent = empty;
      box.classList.add("muted");
      return;
    }
    window.Plotly.newPlot(box, traces, layout(extra), config);
  }

  if (window.Plotly) {
    const trend = data.success.trend;
    chart("chart-trend", [
      { type: "scatter", mode: "lines+markers", name: "consensus agreement rate %",
        x: trend.map((w) => w.week), y: trend.map((w) => w.consensus_agreement_rate) },
      { type: "scatter", mode: "lines+markers", name: "task completion rate %",
        x: trend.map((w) => w.week), y: trend.map((w) => w.completion_rate) },
      { type: "scatter", mode: "lines", name: "goal " + data.success.consensus_agreement_goal + "%",
        x: trend.map((w) => w.week), y: trend.map(() => data.success.consensus_agreement_goal),
        line: { dash: "dash", color: "#b42318" } },
    ], { xaxis: { type: "category" }, yaxis: { range: [0, 105], title: { text: "%" } } }, "No answers in this window yet.");
    chart("chart-throughput", [
      { type: "bar", name: "answers", x: data.throughput.map((d) => d.day),
        y: data.throughput.map((d) => d.answers), marker: { color: "#2457d6" } },
    ], { xaxis: { type: "category" }, yaxis: { title: { text: "answers per day" } } }, "No answers in this window yet.");
    chart("chart-agreement", [
      { type: "bar", name: "tasks", x: data.agreement_distribution.map((b) => b.range),
        y: data.agreement_distribution.map((b) => b.tasks), marker: { color: "#146c2e" } },
    ], { yaxis: { title: { text: "tasks" } } }, "No task has two answers yet.");
    const names = data.datasets.map((d) => plain(d.dataset || "(none)"));
    chart("chart-datasets", [
      { type: "bar", orientation: "h", name: "consensus", y: names,
        x: data.datasets.map((d) => d.reached), marker: { color: "#146c2e" } },
      { type: "bar", orientation: "h", name: "not yet", y: names,
        x: data.datasets.map((d) => d.tasks - d.reached), marker: { color: "#c9d3ea" } },
    ], { barmode: "stack", margin: { l: 120, r: 16, t: 8, b: 48 } }, "No tasks yet.");
    // Model rankings come from their own endpoint: a bootstrap takes longer than the rest.
    fetch("/api/rankings/models", { credentials: "same-origin" })
      .then((response) => (response.ok ? response.json() : { models: [] }))
      .then((ranking) => {
        const models = (ranking.models || []).slice().reverse();
        chart("chart-models", [
          { type: "scatter", mode: "markers", name: "rating",
            y: models.map((m) => plain(m.model)), x: models.map((m) => m.rating),
            error_x: { type: "data", symmetric: false,
              array: models.map((m) => m.ci_upper - m.rating),
              arrayminus: models.map((m) => m.rating - m.ci_lower) },
            marker: { color: "#2457d6", size: 9 } },
        ], { margin: { l: 140, r: 16, t: 8, b: 48 },
             xaxis: { title: { text: "rating (1000 = average; 95% interval)" } } },
        "No answers name their models yet.");
      })
      .catch(() => {
        const box = document.getElementById("chart-models");
        box.textContent = "Model rankings could not be loaded.";
        box.classList.add("muted");
      });
  }

  // Agreement metrics on request: they read every answer of the dataset.
  const agreementForm = document.getElementById("agreement-form");
  const fetchJson = (url) =>
    fetch(url, { credentials: "same-origin" }).then((response) => {
      if (!response.ok) {
        return response.json().then(
          (body) => { throw new Error((body.field ? body.field + ": " : "") + body.message); },
          () => { throw new Error("HTTP " + response.status); }
        );
      }
      return response.json();
    });
  const show = (value) => (value === null || value === undefined ? "—" : String(value));
  const percent = (share) => (share === null || share === undefined ? "—" : (share * 100).toFixed(1) + "%");

  function votePairRow(label, part) {
    const row = document.createElement("tr");
    const cells = [
      label,
      percent(part.with_ties.agreement), part.with_ties.pairs,
      percent(part.without_ties.agreement), part.without_ties.pairs,
      show(part.krippendorff_alpha), show(part.fleiss_kappa), part.items,
    ];
    cells.forEach((value, i) => {
      const cell = document.createElement(i === 0 ? "th" : "td");
      if (i === 0) cell.scope = "row";
      cell.textContent = String(value);
      row.appendChild(cell);
    });
    return row;
  }

  agreementForm.addEventListener("submit", function (event) {
    event.preventDefault();
    const value = (id) => document.getElementById(id).value;
    const dataset = value("agreement-dataset");
    const options = { dataset: dataset, by: value("agreement-by"), group: value("agreement-group"), versus: value("agreement-versus") };
    if (options.versus && !options.group) {
      document.getElementById("agreement-state").textContent = "Choose whose votes to compare first.";
      return;
    }
    const status = document.getElementById("agreement-state");
    const table = document.getElementById("agreement-table");
    const pairsTable = document.getElementById("vote-pairs-table");
    const query = dataset ? "?dataset=" + encodeURIComponent(dataset) : "";
    const params = new URLSearchParams();
    Object.keys(options).forEach((key) => { if (options[key]) params.set(key, options[key]); });
    status.textContent = "Computing…";
    Promise.all([
      fetchJson("/api/quality/agreement" + query),
      fetchJson("/api/quality/agreement/vote-pairs?" + params.toString()),
    ])
      .then(([figures, pairs]) => {
        document.getElementById("agreement-alpha").textContent = show(figures.krippendorff_alpha);
        document.getElementById("agreement-kappa").textContent = show(figures.fleiss_kappa);
        document.getElementById("agreement-items").textContent = show(figures.items);
        document.getElementById("agreement-answers").textContent = show(figures.answers);
        document.getElementById("agreement-annotators").textContent = show(figures.annotators);
        document.getElementById("agreement-pairs").textContent = show(figures.pairs_total);
        table.hidden = false;
        const body = document.getElementById("vote-pairs-body");
        body.replaceChildren(votePairRow("all", pairs.overall));
        pairs.slices.forEach((slice) => body.appendChild(votePairRow(show(slice.value), slice)));
        document.getElementById("vote-pairs-slice").textContent = options.by || "Slice";
        document.getElementById("vote-pairs-caption").textContent =
          "Vote pairs agreeing: " + (options.group || "everyone") +
          (options.versus ? " against " + options.versus : " among themselves");
        pairsTable.hidden = false;
        status.textContent = dataset ? "Dataset " + dataset + "." : "Every dataset.";
      })
      .catch((err) => {
        status.textContent = "Agreement metrics could not be computed (" + err.message + ").";
      });
  });

  const list = document.getElementById("live-list");
  const state = document.getElementById("live-state");
  if (!window.EventSource) {
    state.textContent = "Live updates are not supported by this browser.";
    return;
  }
  const source = new EventSource("/api/events");
  let seen = 0;
  source.addEventListener("open", function () {
    state.textContent = "Live: waiting for tasks to reach consensus.";
  });
  source.addEventListener("error", function () {
    state.textContent = "Live updates paused; reconnecting…";
  });
  source.addEventListener("consensus", function (message) {
    let event;
    try { event = JSON.parse(message.data); } catch (err) { return; }
    if (!event.consensus_reached || !event.reached_changed) return;
    seen += 1;
    state.textContent = seen + " task" + (seen === 1 ? "" : "s") + " reached consensus since this page opened.";
    const item = document.createElement("li");
    const link = document.createElement("a");
    link.href = "/admin/tasks/" + encodeURIComponent(event.task_id);
    link.textContent = "Task " + String(event.task_id).slice(0, 8);
    item.appendChild(link);
    const agreement = Number(event.agreement_percentage);
    item.appendChild(document.createTextNode(
      ": " + event.total_responses + " answers, " + (isFinite(agreement) ? agreement.toFixed(1) : "?") +
      "% agreement, at " + new Date().toLocaleTimeString()));
    list.insertBefore(item, list.firstChild);
    while (list.children.length > 50) list.removeChild(list.lastChild);
  });
  window.addEventListener("pagehide", function () { source.close(); });
})();
