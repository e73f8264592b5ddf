// threedb dashboard page: fetches JSON from the server's /api endpoints and draws
// tables, SVG plots and the image gallery. It loads no external script or style.
"use strict";

const POLL_INTERVAL_MS = 2000;
// The image logger may write a render's PNG after its details.log line. A gallery page with
// missing images loads again this many times, this far apart, before it shows "no image" for good.
const MISSING_IMAGE_RETRIES = 5;
const MISSING_IMAGE_RETRY_MS = 2000;
const SVG_NS = "http://www.w3.org/2000/svg";
// Heatmap colour scale: accuracy 0, 0.5 and 1 (red, pale yellow, green).
const COLOR_STOPS = [[215, 48, 39], [255, 255, 191], [26, 152, 80]];
const EMPTY_CELL_COLOR = "#e3e6ea";

const state = {
  version: null,
  parameters: [],
  galleryOffset: 0,
  galleryLimit: 48,
  galleryTotal: 0,
  detailId: null,
  serverUnreachable: false,
};

// ---------- helpers ----------

class ApiError extends Error {}

async function fetchJson(path, params) {
  const query = params ? new URLSearchParams(params).toString() : "";
  const response = await fetch(query ? `${path}?${query}` : path);
  let payload = null;
  try {
    payload = await response.json();
  } catch (error) {
    throw new ApiError(`${path} returned ${response.status} without JSON`);
  }
  if (!response.ok) {
    throw new ApiError(payload && payload.error ? payload.error : `${path} returned ${response.status}`);
  }
  return payload;
}

// Each view keeps only the response of its latest request, so a slow older response cannot overwrite it.
const latestRequest = {};

function startRequest(view) {
  latestRequest[view] = (latestRequest[view] || 0) + 1;
  return latestRequest[view];
}

function isLatest(view, token) {
  return latestRequest[view] === token;
}

function element(tag, attributes = {}, children = []) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === "text") node.textContent = value;
    else if (name === "className") node.className = value;
    else if (value !== null && value !== undefined) node.setAttribute(name, value);
  }
  for (const child of children) node.append(child);
  return node;
}

function svgElement(tag, attributes = {}, text = null) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  if (text !== null) node.textContent = text;
  return node;
}

function percent(value, digits = 1) {
  return value === null || value === undefined ? "–" : `${(100 * value).toFixed(digits)}%`;
}

function formatNumber(value) {
  if (value === null || value === undefined) return "–";
  if (typeof value !== "number") return String(value);
  return Number.isInteger(value) ? String(value) : value.toPrecision(4).replace(/\.?0+$/, "");
}

function showError(message) {
  const banner = document.getElementById("error-banner");
  banner.textContent = message;
  banner.hidden = false;
}

function clearError() {
  document.getElementById("error-banner").hidden = true;
}

function accuracyColor(accuracy) {
  if (accuracy === null || accuracy === undefined) return EMPTY_CELL_COLOR;
  const scaled = Math.min(Math.max(accuracy, 0), 1) * 2;
  const index = Math.min(Math.floor(scaled), 1);
  const fraction = scaled - index;
  const [from, to] = [COLOR_STOPS[index], COLOR_STOPS[index + 1]];
  const channel = (i) => Math.round(from[i] + (to[i] - from[i]) * fraction);
  return `rgb(${channel(0)}, ${channel(1)}, ${channel(2)})`;
}

function textColorFor(accuracy) {
  return accuracy !== null && (accuracy < 0.2 || accuracy > 0.85) ? "#ffffff" : "#1d232b";
}

function verdictClass(item) {
  if (item.is_correct === true) return "correct";
  if (item.is_correct === false) return "incorrect";
  return "failed";
}

function verdictText(item) {
  if (item.is_correct === true) return "correct";
  if (item.is_correct === false) return "misclassified";
  return item.status === "ok" ? "not scored" : `job ${item.status}`;
}

// ---------- filters ----------

function filterParams() {
  const params = [];
  const model = document.getElementById("filter-model").value;
  const environment = document.getElementById("filter-environment").value;
  const correct = document.getElementById("filter-correct").value;
  if (model) params.push(["model", model]);
  if (environment) params.push(["environment", environment]);
  if (correct !== "any") params.push(["correct", correct]);
  for (const row of document.querySelectorAll(".parameter-filter")) {
    const name = row.querySelector(".filter-name").value;
    const info = state.parameters.find((parameter) => parameter.name === name);
    if (!info) continue;
    if (info.kind === "numeric") {
      const low = row.querySelector(".filter-min").value.trim();
      const high = row.querySelector(".filter-max").value.trim();
      if (low || high) params.push(["range", `${name}:${low}:${high}`]);
    } else {
      const value = row.querySelector(".filter-value").value;
      if (value) params.push(["category", `${name}:${value}`]);
    }
  }
  return params;
}

function addParameterFilter() {
  if (!state.parameters.length) return;
  const nameSelect = element("select", { className: "filter-name", "aria-label": "Parameter to filter on" });
  for (const parameter of state.parameters) {
    nameSelect.append(element("option", { value: parameter.name, text: parameter.name }));
  }
  const valueArea = element("span", { className: "filter-values" });
  const remove = element("button", { type: "button", text: "Remove" });
  const row = element("div", { className: "parameter-filter" }, [nameSelect, valueArea, remove]);

  nameSelect.addEventListener("change", () => {
    fillFilterValues(row);
    onFiltersChanged();
  });
  remove.addEventListener("click", () => {
    row.remove();
    onFiltersChanged();
  });
  document.getElementById("parameter-filters").append(row);
  fillFilterValues(row);
}

function fillFilterValues(row) {
  const name = row.querySelector(".filter-name").value;
  const info = state.parameters.find((parameter) => parameter.name === name);
  const area = row.querySelector(".filter-values");
  area.replaceChildren();
  if (!info) return;
  if (info.kind === "numeric") {
    const low = element("input", { className: "filter-min", type: "number", step: "any",
      placeholder: formatNumber(info.min), "aria-label": `${name} minimum` });
    const high = element("input", { className: "filter-max", type: "number", step: "any",
      placeholder: formatNumber(info.max), "aria-label": `${name} maximum` });
    low.addEventListener("change", onFiltersChanged);
    high.addEventListener("change", onFiltersChanged);
    area.append(element("label", { text: "min " }, [low]), element("label", { text: " max " }, [high]));
  } else {
    const select = element("select", { className: "filter-value", "aria-label": `${name} value` },
      [element("option", { value: "", text: "any value" })]);
    for (const category of info.categories) select.append(element("option", { value: category, text: category }));
    select.addEventListener("change", onFiltersChanged);
    area.append(select);
  }
}

function onFiltersChanged() {
  state.galleryOffset = 0;
  refreshViews();
}

// ---------- overview ----------

function renderOverview(overview) {
  document.getElementById("output-dir").textContent = overview.output_dir;
  const summary = overview.summary;
  const cards = [
    ["Renders", summary.renders],
    ["Scored", summary.scored],
    ["Failed jobs", summary.failed],
    ["Accuracy", `${percent(summary.accuracy)}`],
    ["95% interval", summary.scored ? `${percent(summary.ci_low)} – ${percent(summary.ci_high)}` : "–"],
  ];
  const container = document.getElementById("summary-cards");
  container.replaceChildren(...cards.map(([label, value]) => element("div", { className: "card-stat" }, [
    element("div", { className: "value", text: String(value) }),
    element("div", { className: "label", text: label }),
  ])));
  container.dataset.renders = summary.renders;

  const body = document.querySelector("#pairs-table tbody");
  body.replaceChildren(...overview.by_model_environment.map((row) => element("tr", {}, [
    element("td", { text: row.model }),
    element("td", { text: row.environment }),
    element("td", { className: "number", text: String(row.renders) }),
    element("td", { className: "number", text: String(row.failed) }),
    element("td", { className: "number", text: String(row.count) }),
    element("td", { className: "number", text: percent(row.accuracy) }),
    element("td", { className: "number", text: row.count ? `${percent(row.ci_low)} – ${percent(row.ci_high)}` : "–" }),
  ])));
  const omitted = document.getElementById("pairs-omitted");
  omitted.hidden = !overview.by_model_environment_omitted;
  omitted.textContent = `${overview.by_model_environment_omitted} more model × environment pairs not listed.`;

  fillSelect(document.getElementById("filter-model"), overview.models, "all");
  fillSelect(document.getElementById("filter-environment"), overview.environments, "all");
  state.parameters = overview.parameters;
  const names = overview.parameters.map((parameter) => parameter.name);
  fillSelect(document.getElementById("accuracy-parameter"), names, null);
  fillSelect(document.getElementById("heatmap-x"), names, null);
  fillSelect(document.getElementById("heatmap-y"), names, null, 1);

  const malformed = overview.log.malformed_lines;
  document.getElementById("live-status").textContent =
    `${summary.renders} renders, updated ${new Date().toLocaleTimeString()}` +
    (malformed ? `, ${malformed} malformed lines skipped` : "");
}

// Refill a select with values, keeping the current choice when it is still valid.
function fillSelect(select, values, allLabel, defaultIndex = 0) {
  const current = select.value;
  const options = allLabel === null ? [] : [element("option", { value: "", text: allLabel })];
  for (const value of values) options.push(element("option", { value, text: value }));
  select.replaceChildren(...options);
  if (current && values.includes(current)) select.value = current;
  else if (allLabel === null && values.length) select.value = values[Math.min(defaultIndex, values.length - 1)];
}

// ---------- accuracy plot ----------

async function loadAccuracy() {
  const plot = document.getElementById("accuracy-plot");
  const parameter = document.getElementById("accuracy-parameter").value;
  if (!parameter) {
    plot.replaceChildren(element("p", { className: "plot-empty", text: "No parameters in the results yet." }));
    return;
  }
  const params = [["parameter", parameter], ["bins", document.getElementById("accuracy-bins").value], ...filterParams()];
  const token = startRequest("accuracy");
  const data = await fetchJson("/api/accuracy", params);
  if (isLatest("accuracy", token)) plot.replaceChildren(drawAccuracyPlot(data));
}

function drawAccuracyPlot(data) {
  const groups = data.groups;
  const margin = { left: 56, right: 20, top: 16, bottom: data.kind === "numeric" ? 48 : 90 };
  const width = Math.max(640, Math.min(1200, 60 * groups.length + margin.left + margin.right));
  const height = 300;
  const innerWidth = width - margin.left - margin.right;
  const innerHeight = height - margin.top - margin.bottom;
  const svg = svgElement("svg", { width, height, viewBox: `0 0 ${width} ${height}`, role: "img",
    "aria-label": `Accuracy by ${data.parameter}`, id: "accuracy-svg" });
  if (!groups.length) {
    svg.append(svgElement("text", { x: margin.left, y: height / 2, class: "axis-text" }, "No scored renders match the filters."));
    return svg;
  }

  const y = (accuracy) => margin.top + innerHeight * (1 - accuracy);
  let x;
  if (data.kind === "numeric") {
    const low = Math.min(...groups.map((group) => group.bin_left));
    const high = Math.max(...groups.map((group) => group.bin_right));
    const span = high - low || 1;
    const pad = high === low ? 0.5 : 0;
    x = (group) => margin.left + innerWidth * ((group.value - low + pad) / (span + 2 * pad));
  } else {
    const step = innerWidth / groups.length;
    x = (group, index) => margin.left + step * (index + 0.5);
  }

  for (const tick of [0, 0.25, 0.5, 0.75, 1]) {
    svg.append(svgElement("line", { x1: margin.left, x2: width - margin.right, y1: y(tick), y2: y(tick), class: "grid-line" }));
    svg.append(svgElement("text", { x: margin.left - 6, y: y(tick) + 4, "text-anchor": "end", class: "axis-text" }, percent(tick, 0)));
  }
  svg.append(svgElement("line", { x1: margin.left, x2: margin.left, y1: margin.top, y2: margin.top + innerHeight, class: "axis-line" }));
  svg.append(svgElement("line", { x1: margin.left, x2: width - margin.right, y1: margin.top + innerHeight, y2: margin.top + innerHeight, class: "axis-line" }));

  // Line segments through the points, broken at empty bins.
  const segments = [[]];
  // Numeric groups are labelled with their center (bins) or value; the tooltip has the bin edges.
  // Labels are thinned out so that they stay at least 48 px apart.
  const labelStride = Math.max(1, Math.ceil(48 / (innerWidth / groups.length)));
  groups.forEach((group, index) => {
    const px = x(group, index);
    const labelY = margin.top + innerHeight + 14;
    if (data.kind !== "numeric") {
      svg.append(svgElement("text", { x: px, y: labelY, "text-anchor": "end", class: "axis-text",
        transform: `rotate(-35 ${px} ${labelY})` }, group.label));
    } else if (index % labelStride === 0) {
      svg.append(svgElement("text", { x: px, y: labelY, "text-anchor": "middle", class: "axis-text" },
        formatNumber(Number(group.value.toPrecision(3)))));
    }
    if (group.accuracy === null) {
      segments.push([]);
      return;
    }
    segments[segments.length - 1].push(`${px},${y(group.accuracy)}`);
    const title = `${data.parameter} ${group.label}: ${percent(group.accuracy)} (${group.correct}/${group.count}), ` +
      `95% interval ${percent(group.ci_low)} – ${percent(group.ci_high)}`;
    const ci = svgElement("g", { class: "ci" });
    ci.append(svgElement("line", { x1: px, x2: px, y1: y(group.ci_low), y2: y(group.ci_high), class: "ci-line" }));
    ci.append(svgElement("line", { x1: px - 5, x2: px + 5, y1: y(group.ci_low), y2: y(group.ci_low), class: "ci-line" }));
    ci.append(svgElement("line", { x1: px - 5, x2: px + 5, y1: y(group.ci_high), y2: y(group.ci_high), class: "ci-line" }));
    const point = svgElement("circle", { cx: px, cy: y(group.accuracy), r: 4.5, class: "accuracy-point" });
    point.append(svgElement("title", {}, title));
    svg.append(ci, point);
  });
  if (data.kind === "numeric") {
    const d = segments.filter((points) => points.length).map((points) => `M${points.join("L")}`).join(" ");
    svg.insertBefore(svgElement("path", { d, class: "accuracy-line" }), svg.firstChild);
  }
  svg.append(svgElement("text", { x: margin.left + innerWidth / 2, y: height - 6, "text-anchor": "middle", class: "axis-title" },
    `${data.parameter}${data.kind === "numeric" ? "" : " (categories)"}`));
  svg.append(svgElement("text", { x: 14, y: margin.top + innerHeight / 2, "text-anchor": "middle", class: "axis-title",
    transform: `rotate(-90 14 ${margin.top + innerHeight / 2})` }, "accuracy"));
  return svg;
}

// ---------- heatmap ----------

async function loadHeatmap() {
  const plot = document.getElementById("heatmap-plot");
  const x = document.getElementById("heatmap-x").value;
  const y = document.getElementById("heatmap-y").value;
  if (!x || !y) {
    plot.replaceChildren(element("p", { className: "plot-empty", text: "No parameters in the results yet." }));
    return;
  }
  const params = [["x", x], ["y", y], ["bins", document.getElementById("heatmap-bins").value], ...filterParams()];
  const token = startRequest("heatmap");
  const data = await fetchJson("/api/heatmap", params);
  if (isLatest("heatmap", token)) plot.replaceChildren(drawHeatmap(data));
}

function drawHeatmap(data) {
  const cellWidth = 84;
  const cellHeight = 40;
  const margin = { left: 150, top: 20, bottom: 90, right: 110 };
  const width = margin.left + cellWidth * Math.max(1, data.x_labels.length) + margin.right;
  const height = margin.top + cellHeight * Math.max(1, data.y_labels.length) + margin.bottom;
  const svg = svgElement("svg", { width, height, viewBox: `0 0 ${width} ${height}`, role: "img",
    "aria-label": `Accuracy over ${data.x} and ${data.y}`, id: "heatmap-svg" });

  data.cells.forEach((row, rowIndex) => {
    row.forEach((cell, columnIndex) => {
      const cx = margin.left + columnIndex * cellWidth;
      const cy = margin.top + rowIndex * cellHeight;
      const rect = svgElement("rect", { x: cx, y: cy, width: cellWidth - 2, height: cellHeight - 2,
        fill: accuracyColor(cell.accuracy), class: "heatmap-cell", "data-count": cell.count });
      rect.append(svgElement("title", {},
        `${data.y} ${data.y_labels[rowIndex]}, ${data.x} ${data.x_labels[columnIndex]}: ` +
        (cell.count ? `${percent(cell.accuracy)} (${cell.correct}/${cell.count})` : "no scored renders")));
      svg.append(rect);
      const color = textColorFor(cell.accuracy);
      svg.append(svgElement("text", { x: cx + cellWidth / 2 - 1, y: cy + 16, "text-anchor": "middle", class: "cell-text", fill: color },
        cell.count ? percent(cell.accuracy, 0) : "–"));
      svg.append(svgElement("text", { x: cx + cellWidth / 2 - 1, y: cy + 30, "text-anchor": "middle", class: "cell-text", fill: color },
        `n=${cell.count}`));
    });
  });
  data.y_labels.forEach((label, index) => {
    svg.append(svgElement("text", { x: margin.left - 8, y: margin.top + index * cellHeight + cellHeight / 2 + 4,
      "text-anchor": "end", class: "axis-text" }, label));
  });
  const labelY = margin.top + data.y_labels.length * cellHeight + 12;
  data.x_labels.forEach((label, index) => {
    const px = margin.left + index * cellWidth + cellWidth / 2;
    svg.append(svgElement("text", { x: px, y: labelY, "text-anchor": "end", class: "axis-text",
      transform: `rotate(-30 ${px} ${labelY})` }, label));
  });
  svg.append(svgElement("text", { x: margin.left + (cellWidth * data.x_labels.length) / 2, y: height - 8,
    "text-anchor": "middle", class: "axis-title" }, data.x));
  svg.append(svgElement("text", { x: 12, y: margin.top, class: "axis-title" }, data.y));

  // Colour legend from 0% to 100%.
  const legendX = width - margin.right + 24;
  const legendHeight = Math.max(80, cellHeight * data.y_labels.length);
  const steps = 20;
  for (let i = 0; i < steps; i += 1) {
    svg.append(svgElement("rect", { x: legendX, y: margin.top + (legendHeight * i) / steps, width: 16,
      height: legendHeight / steps + 0.5, fill: accuracyColor(1 - i / (steps - 1)) }));
  }
  svg.append(svgElement("text", { x: legendX + 22, y: margin.top + 10, class: "axis-text" }, "100%"));
  svg.append(svgElement("text", { x: legendX + 22, y: margin.top + legendHeight, class: "axis-text" }, "0%"));
  return svg;
}

// ---------- gallery ----------

let missingImageTimer = null;
let missingImageRetries = 0;

async function loadGallery(retry = false) {
  clearTimeout(missingImageTimer);
  if (!retry) missingImageRetries = 0;
  const params = [["sort", document.getElementById("gallery-sort").value], ["offset", state.galleryOffset],
    ["limit", state.galleryLimit], ...filterParams()];
  const token = startRequest("gallery");
  const data = await fetchJson("/api/renders", params);
  if (!isLatest("gallery", token)) return;
  state.galleryTotal = data.total;
  const grid = document.getElementById("gallery-grid");
  grid.replaceChildren(...data.items.map(galleryCard));
  const first = data.total ? data.offset + 1 : 0;
  const last = data.offset + data.items.length;
  document.getElementById("gallery-range").textContent = `${first}–${last} of ${data.total} renders`;
  document.getElementById("gallery-previous").disabled = data.offset === 0;
  document.getElementById("gallery-next").disabled = last >= data.total;
  if (data.items.some((item) => !item.image_url) && missingImageRetries < MISSING_IMAGE_RETRIES) {
    missingImageRetries += 1;
    missingImageTimer = setTimeout(() => loadGallery(true).catch((error) => showError(error.message)),
      MISSING_IMAGE_RETRY_MS);
  }
}

function galleryCard(item) {
  const verdict = verdictClass(item);
  const picture = item.image_url
    ? element("img", { src: item.image_url, alt: `render ${item.id}`, loading: "lazy" })
    : element("div", { className: "no-image", text: "no image" });
  const caption = element("div", { className: "caption" }, [
    element("span", { className: `badge ${verdict}`, text: verdictText(item) }),
    element("div", { text: `loss ${formatNumber(item.loss)}` }),
    element("div", { text: `predicted: ${item.top1_name ?? (item.top1 ?? "–")}` }),
    element("div", { className: "muted", text: `${item.model} · ${item.environment}` }),
    element("div", { className: "muted", text: item.id }),
  ]);
  const card = element("button", { type: "button", className: `render-card ${verdict}`, "data-id": item.id }, [picture, caption]);
  card.addEventListener("click", () => openDetail(item.id));
  return card;
}

// ---------- detail ----------

async function openDetail(renderId) {
  state.detailId = renderId;
  history.replaceState(null, "", `#render=${encodeURIComponent(renderId)}`);
  const token = startRequest("detail");
  let data;
  try {
    data = await fetchJson("/api/render", [["id", renderId]]);
  } catch (error) {
    showError(error.message);
    return;
  }
  if (!isLatest("detail", token) || state.detailId !== renderId) return;
  document.getElementById("detail-title").textContent = `Render ${data.id}`;
  const body = document.getElementById("detail-body");
  const channels = element("div", { className: "channels" }, data.channels.map((channel) =>
    element("figure", {}, [
      element("img", { src: channel.url, alt: `${channel.name} of render ${data.id}` }),
      element("figcaption", { text: `${channel.name} (${channel.file})` }),
    ])));
  if (!data.channels.length) channels.append(element("p", { className: "muted", text: "No images were logged for this render." }));

  const facts = [
    ["Verdict", verdictText(data)],
    ["Loss", formatNumber(data.loss)],
    ["Model", data.model],
    ["Environment", data.environment],
    ["Targets", data.targets.map((target) => `${target.class_name ?? "?"} (${target.class_index})`).join(", ") || "–"],
  ];
  if (data.error) facts.push(["Error", data.error]);
  const factTable = element("table", { className: "data-table" }, [element("tbody", {}, facts.map(([name, value]) =>
    element("tr", {}, [element("th", { text: name }), element("td", { text: value })])))]);
  const parameterTable = element("table", { className: "data-table", id: "detail-parameters" }, [
    element("thead", {}, [element("tr", {}, [element("th", { text: "Parameter" }), element("th", { text: "Value" })])]),
    element("tbody", {}, data.parameters.map((parameter) => element("tr", {}, [
      element("td", { text: parameter.name }), element("td", { className: "number", text: formatNumber(parameter.value) }),
    ]))),
  ]);
  const predictionTable = element("table", { className: "data-table", id: "detail-predictions" }, [
    element("thead", {}, [element("tr", {}, ["Rank", "Class", "Name", "Confidence"].map((name) => element("th", { text: name })))]),
    element("tbody", {}, data.predictions.map((prediction) => element("tr", { className: prediction.is_target ? "target" : "" }, [
      element("td", { className: "number", text: String(prediction.rank) }),
      element("td", { className: "number", text: String(prediction.class_index) }),
      element("td", { text: (prediction.class_name ?? "?") + (prediction.is_target ? " (target)" : "") }),
      element("td", { className: "number", text: prediction.confidence === null ? "–" : percent(prediction.confidence) }),
    ]))),
  ]);
  body.replaceChildren(channels, element("div", { className: "detail-columns" }, [
    element("div", {}, [element("h3", { text: "Result" }), factTable]),
    element("div", {}, [element("h3", { text: "Parameters" }), parameterTable]),
    element("div", {}, [element("h3", { text: "Top predictions" }), predictionTable]),
  ]));
  document.getElementById("detail").hidden = false;
  document.getElementById("detail-close").focus();
}

function closeDetail() {
  state.detailId = null;
  document.getElementById("detail").hidden = true;
  history.replaceState(null, "", location.pathname + location.search);
}

// ---------- refresh cycle ----------

async function refreshViews() {
  const results = await Promise.allSettled([loadAccuracy(), loadHeatmap(), loadGallery()]);
  const failures = results.filter((result) => result.status === "rejected");
  if (failures.length) showError(failures.map((failure) => failure.reason.message).join(" · "));
  else clearError();
}

async function poll() {
  try {
    const overview = await fetchJson("/api/overview");
    if (state.serverUnreachable) {
      state.serverUnreachable = false;
      clearError();
    }
    if (overview.version !== state.version) {
      const first = state.version === null;
      state.version = overview.version;
      renderOverview(overview);
      await refreshViews();
      if (first && location.hash.startsWith("#render=")) {
        openDetail(decodeURIComponent(location.hash.slice("#render=".length)));
      }
    }
  } catch (error) {
    state.serverUnreachable = true;
    showError(`Cannot reach the dashboard server: ${error.message}`);
  }
}

function bindControls() {
  for (const id of ["filter-model", "filter-environment", "filter-correct"]) {
    document.getElementById(id).addEventListener("change", onFiltersChanged);
  }
  document.getElementById("add-parameter-filter").addEventListener("click", addParameterFilter);
  const reload = (loader) => () => loader().then(clearError, (error) => showError(error.message));
  document.getElementById("accuracy-parameter").addEventListener("change", reload(loadAccuracy));
  document.getElementById("accuracy-bins").addEventListener("change", reload(loadAccuracy));
  for (const id of ["heatmap-x", "heatmap-y", "heatmap-bins"]) {
    document.getElementById(id).addEventListener("change", reload(loadHeatmap));
  }
  document.getElementById("gallery-sort").addEventListener("change", () => {
    state.galleryOffset = 0;
    reload(loadGallery)();
  });
  document.getElementById("gallery-previous").addEventListener("click", () => {
    state.galleryOffset = Math.max(0, state.galleryOffset - state.galleryLimit);
    reload(loadGallery)();
  });
  document.getElementById("gallery-next").addEventListener("click", () => {
    state.galleryOffset += state.galleryLimit;
    reload(loadGallery)();
  });
  document.getElementById("detail-close").addEventListener("click", closeDetail);
  document.getElementById("detail").addEventListener("click", (event) => {
    if (event.target.id === "detail") closeDetail();
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && state.detailId !== null) closeDetail();
  });
}

document.addEventListener("DOMContentLoaded", () => {
  bindControls();
  poll();
  setInterval(poll, POLL_INTERVAL_MS);
});
