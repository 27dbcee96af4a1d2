"use strict";
// The clinician's page: builds the form from GET /v1/schema, posts to /v1/assessments and
// shows the slice viewer with the lesion outline, the risks beside each model's operating
// characteristics, the survival curves, the warnings and links to download the result objects
// (DICOM SEG, DICOM SR, FHIR Bundle; Blob URLs made from the reply, revoked with the result). A result is only ever shown under the
// submission that produced it: it is removed as soon as a new submission starts (or new files
// are chosen), and stays removed if that submission fails.

const $ = (selector) => document.querySelector(selector);
let schema = null;
let result = null;
let mask = null;
let slices = [];
// the Blob URLs of the result objects' download links: they hold the patient's identity, so
// they live exactly as long as the result on screen
let downloadUrls = [];
// Bumped whenever the result is cleared, so that a slice still decoding for the previous
// patient is not drawn over the cleared canvas.
let generation = 0;

const LABELS = {
  TASK_PARAMETRIAL_INVASION: "Parametrial invasion",
  TASK_LYMPH_NODE_METASTASIS: "Lymph node metastasis",
  TASK_RECURRENCE: "Recurrence",
  TASK_DEATH: "Death",
  SURVIVAL_OUTCOME_RFS: "Recurrence-free survival",
  SURVIVAL_OUTCOME_OS: "Overall survival",
};
const RESULT_KINDS = "dicom-seg,dicom-sr,fhir";
const RESULT_LABELS = {
  RESULT_KIND_DICOM_SEG: "DICOM SEG: the lesion contour",
  RESULT_KIND_DICOM_SR: "DICOM SR: measurements and risks",
  RESULT_KIND_FHIR: "FHIR R4 Bundle: measurements and risks",
};

function stage() {
  return document.querySelector("input[name=stage]:checked").value;
}

function buildFields() {
  const box = $("#clinical-fields");
  const values = {};
  box.querySelectorAll("[name]").forEach((el) => { values[el.name] = el.value; });
  box.innerHTML = "";
  for (const v of schema.variables) {
    if (!v.stages.includes(stage())) continue;
    const wrap = document.createElement("div");
    wrap.className = "field";
    const id = `field-${v.name}`;
    const label = document.createElement("label");
    label.htmlFor = id;
    label.textContent = v.description + (v.unit ? ` (${v.unit})` : "");
    wrap.appendChild(label);
    let input;
    if (v.kind === "continuous") {
      input = document.createElement("input");
      input.type = "number";
      input.step = "any";
      input.min = v.minimum;
      input.max = v.maximum;
      const hint = document.createElement("div");
      hint.className = "hint";
      hint.textContent = `${v.minimum}–${v.maximum}` + (v.required[stage()] ? "" : ", optional");
      wrap.appendChild(input);
      wrap.appendChild(hint);
    } else {
      input = document.createElement("select");
      const empty = document.createElement("option");
      empty.value = "";
      empty.textContent = v.levels.includes("unknown") ? "unknown" : "— choose —";
      input.appendChild(empty);
      for (const level of v.levels) {
        if (level === "unknown") continue;
        const option = document.createElement("option");
        option.value = level;
        option.textContent = level.replaceAll("_", " ");
        input.appendChild(option);
      }
      wrap.appendChild(input);
    }
    input.id = id;
    input.name = v.name;
    if (values[v.name] !== undefined) input.value = values[v.name];
    const error = document.createElement("div");
    error.className = "error";
    error.dataset.errorFor = `clinical.${v.name}`;
    wrap.appendChild(error);
    box.appendChild(wrap);
  }
}

function clearErrors() {
  document.querySelectorAll(".error").forEach((el) => { el.textContent = ""; });
  document.querySelectorAll(".invalid").forEach((el) => el.classList.remove("invalid"));
}

function showError(field, message) {
  let key = field;
  if (/^(dicom_files|dicom_zip|series|archive|path|files|body)/.test(field)) key = "files";
  let box = document.querySelector(`[data-error-for="${CSS.escape(key)}"]`);
  if (!box && key.startsWith("clinical.")) box = document.querySelector('[data-error-for="clinical"]');
  if (!box) box = document.querySelector('[data-error-for="general"]');
  box.textContent += (box.textContent ? " " : "") + message;
  const input = key.startsWith("clinical.") ? document.getElementById(`field-${key.slice(9)}`)
    : key === "files" ? $("#files") : null;
  if (input) input.classList.add("invalid");
}

function clearResult() {
  generation += 1;
  result = null;
  mask = null;
  slices = [];
  for (const url of downloadUrls) URL.revokeObjectURL(url);
  downloadUrls = [];
  $("#downloads-block").hidden = true;
  $("#result").hidden = true;
  for (const selector of ["#risks tbody", "#survival tbody", "#warnings", "#models", "#timings",
    "#curves-legend", "#downloads"]) $(selector).replaceChildren();
  for (const selector of ["#request-id", "#measurements", "#slice-number", "#risk-sources",
    "#survival-sources"]) $(selector).textContent = "";
  for (const canvas of [$("#slice"), $("#curves")]) {
    canvas.getContext("2d").clearRect(0, 0, canvas.width, canvas.height);
  }
}

async function submit(event) {
  event.preventDefault();
  clearResult();
  clearErrors();
  const clinical = {};
  $("#clinical-fields").querySelectorAll("[name]").forEach((el) => {
    if (el.value === "") return;
    clinical[el.name] = el.type === "number" ? Number(el.value) : el.value;
  });
  const body = new FormData();
  body.append("stage", stage());
  body.append("clinical", JSON.stringify(clinical));
  body.append("results", RESULT_KINDS);
  for (const file of $("#files").files) body.append("files", file, file.name);
  $("#submit").disabled = true;
  $("#status").textContent = "Assessing…";
  try {
    const reply = await fetch("/v1/assessments?preview=true", { method: "POST", body });
    const data = await reply.json();
    if (!reply.ok) {
      const error = data.error || { message: `HTTP ${reply.status}` };
      for (const v of error.field_violations || []) showError(v.field, v.description);
      if (!error.field_violations) showError("general", error.message);
      $("#status").textContent = reply.status === 503 ? "No result: a service is unavailable."
        : reply.status === 400 || reply.status === 413 ? "No result: please correct the marked fields."
          : "No result: the assessment failed.";
      return;
    }
    $("#status").textContent = "Done.";
    show(data);
  } catch (err) {
    clearResult();
    showError("general", `The request failed: ${err}`);
    $("#status").textContent = "No result.";
  } finally {
    $("#submit").disabled = false;
  }
}

function decodeMask(m) {
  const bytes = Uint8Array.from(atob(m.data || ""), (c) => c.charCodeAt(0));
  const shape = (m.shape || []).map(Number);
  return { bytes, shape };
}

function maskAt(k, i, j) {
  const [, rows, cols] = mask.shape;
  if (i < 0 || j < 0 || i >= rows || j >= cols) return 0;
  const index = (k * rows + i) * cols + j;
  return (mask.bytes[index >> 3] >> (index & 7)) & 1;
}

function drawSlice(k) {
  const canvas = $("#slice");
  const ctx = canvas.getContext("2d");
  const image = new Image();
  const drawn = generation;
  image.onload = () => {
    if (drawn !== generation) return;
    ctx.drawImage(image, 0, 0);
    const overlay = ctx.getImageData(0, 0, 256, 256);
    for (let i = 0; i < 256; i++) {
      for (let j = 0; j < 256; j++) {
        if (!maskAt(k, i, j)) continue;
        if (maskAt(k, i - 1, j) && maskAt(k, i + 1, j) && maskAt(k, i, j - 1) && maskAt(k, i, j + 1)) continue;
        const p = (i * 256 + j) * 4;
        overlay.data[p] = 255; overlay.data[p + 1] = 60; overlay.data[p + 2] = 60;
      }
    }
    ctx.putImageData(overlay, 0, 0);
  };
  image.src = `data:image/png;base64,${slices[k]}`;
  $("#slice-number").textContent = `${k + 1} of ${slices.length}`;
}

function fmt(x, digits = 2) {
  return x === undefined || x === null ? "—" : Number(x).toFixed(digits);
}

function show(data) {
  clearResult();
  result = data;
  mask = decodeMask(data.segmentation.mask);
  slices = data.preview.slices_png_base64;
  $("#result").hidden = false;
  $("#request-id").textContent = `request ${data.request_id}`;
  const slider = $("#slider");
  slider.max = slices.length - 1;
  const start = Math.max(0, data.preview.largest_slice_index);
  slider.value = start;
  drawSlice(start);
  const m = data.segmentation.measurements;
  $("#measurements").textContent = m.lesion_found
    ? `Lesion ${fmt(m.volume_ml, 1)} mL, largest diameter ${fmt(m.max_diameter_mm, 1)} mm, largest on slice ${Number(m.largest_slice_index) + 1}; segmenter on ${data.segmentation.provider}.`
    : "No lesion found.";
  const risks = $("#risks tbody");
  for (const p of data.predictions) risks.appendChild(riskRow(p));
  $("#risk-sources").textContent = sources(data.predictions.map((p) => p.operating_characteristics));
  const survival = data.survival || [];
  $("#survival-block").hidden = survival.length === 0;
  const body = $("#survival tbody");
  for (const s of survival) {
    const median = s.median_reached ? `${fmt(s.median_months, 1)}\u00a0mo`
      : `>\u00a0${fmt(s.follow_up_months, 0)}\u00a0mo`;
    body.appendChild(row({ outcome: s.outcome }, [
      cell(LABELS[s.outcome] || s.outcome), cell(median),
      cell(percent(s.survival_probability_12_months, 1)),
      cell(percent(s.survival_probability_36_months, 1)),
      cell(percent(s.survival_probability_60_months, 1)),
      cell(...survivalFigures(s.performance)),
    ]));
  }
  $("#survival-sources").textContent = sources(survival.map((s) => s.performance));
  drawCurves(survival);
  const warnings = $("#warnings");
  $("#warnings-box").classList.toggle("has-warnings", data.warnings.length > 0);
  for (const w of data.warnings.length ? data.warnings : ["none"]) {
    const li = document.createElement("li");
    li.textContent = w;
    warnings.appendChild(li);
  }
  for (const m of data.models) {
    const li = document.createElement("li");
    li.textContent = `${m.name} ${m.version} (${m.algorithm || ""})`;
    $("#models").appendChild(li);
  }
  for (const t of data.timings) {
    const li = document.createElement("li");
    li.textContent = `${t.stage}: ${fmt(t.seconds, 2)} s`;
    $("#timings").appendChild(li);
  }
  showDownloads(data.result_objects || []);
}

// One download link per result object, its bytes decoded from the reply's base64 into a Blob.
function showDownloads(objects) {
  const list = $("#downloads");
  for (const o of objects) {
    const bytes = Uint8Array.from(atob(o.content || ""), (c) => c.charCodeAt(0));
    const url = URL.createObjectURL(new Blob([bytes], { type: o.media_type }));
    downloadUrls.push(url);
    const link = el("a", "", o.filename);
    link.href = url;
    link.download = o.filename;
    link.type = o.media_type;
    link.dataset.kind = o.kind;
    list.appendChild(el("li", "", link, el("span", "detail",
      ` ${RESULT_LABELS[o.kind] || o.kind} (${(bytes.length / 1024).toFixed(0)} kB)`)));
  }
  $("#downloads-block").hidden = objects.length === 0;
}

function percent(x, digits = 0) {
  return x === undefined || x === null ? "—" : `${(Number(x) * 100).toFixed(digits)}\u00a0%`;
}

// An element with text and child elements; strings become text nodes (never parsed as HTML:
// the figures' source sentence comes from the model bundle).
function el(tag, className, ...children) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  for (const child of children) node.append(child);
  return node;
}

function cell(...children) {
  return el("td", "", ...children);
}

function row(data, cells) {
  const tr = document.createElement("tr");
  Object.assign(tr.dataset, data);
  tr.append(...cells);
  return tr;
}

// One figure, kept on one line: "sensitivity 78 % (14/18)".
function proportion(name, p) {
  const text = p ? `${name} ${percent(p.value)} (${p.numerator}/${p.denominator})` : `${name} —`;
  return el("span", "figure", text);
}

function count(k, word) {
  return `${k} ${k === 1 ? word : `${word}s`}`;
}

// "not reliable: k positives" names the scarcer class behind the figures.
function unreliable(few, word) {
  return el("div", "unreliable", `not reliable: ${count(few, word)}`);
}

function riskRow(p) {
  const flag = p.label ? el("span", "flag", "above the operating threshold")
    : el("span", "below", "below the operating threshold");
  return row({ task: p.task }, [
    cell(LABELS[p.task] || p.task),
    cell(el("div", "probability", percent(p.probability, 1)), flag),
    cell(percent(p.threshold, 1),
      el("div", "detail", `chosen for ${percent(p.target_sensitivity)} sensitivity`)),
    el("td", "figures", ...riskFigures(p.operating_characteristics)),
  ]);
}

function riskFigures(oc) {
  if (!oc) return [el("span", "detail", "not recorded in this model bundle")];
  const negatives = oc.patients - oc.positives;
  const parts = [
    el("div", "", proportion("sensitivity", oc.sensitivity), " ",
      proportion("specificity", oc.specificity), " ", proportion("PPV", oc.ppv)),
    el("div", "detail", `n = ${count(oc.patients, "patient")}, ${count(oc.positives, "positive")}`
      + (oc.auc && oc.auc.value !== undefined ? ` · AUC ${fmt(oc.auc.value, 2)}` : "")),
  ];
  if (!oc.reliable) {
    parts.push(oc.positives <= negatives ? unreliable(oc.positives, "positive")
      : unreliable(negatives, "negative"));
  }
  return parts;
}

function survivalFigures(pf) {
  if (!pf) return [el("span", "detail", "not recorded in this model bundle")];
  const parts = [
    el("div", "", `C-index ${pf.c_index && pf.c_index.value !== undefined ? fmt(pf.c_index.value, 2) : "—"}`),
    el("div", "detail", `n = ${count(pf.patients, "patient")}, ${count(pf.events, "event")}`),
  ];
  if (!pf.reliable) parts.push(unreliable(pf.events, "event"));
  return parts;
}

function sources(figures) {
  const seen = [...new Set(figures.filter((f) => f && f.source).map((f) => f.source))];
  return seen.length ? `Figures from: ${seen.join("; ")}.` : "";
}

const CURVE_STYLES = [
  { colour: "#1f5fa8", dash: [] },
  { colour: "#b35c00", dash: [7, 4] },
];

function drawCurves(estimates) {
  const canvas = $("#curves");
  const ctx = canvas.getContext("2d");
  const W = canvas.width, H = canvas.height;
  const L = 58, R = 14, T = 12, B = 44;   // margins: room for the ticks and the axis titles
  ctx.clearRect(0, 0, W, H);
  $("#curves-legend").replaceChildren();
  if (!estimates.length) return;
  const tMax = 12 * Math.ceil(Math.max(60, ...estimates.flatMap((e) => e.curve.map((p) => p.months))) / 12);
  const x = (t) => L + (t / tMax) * (W - L - R);
  const y = (p) => T + (1 - p) * (H - B - T);
  ctx.font = "12px system-ui, sans-serif";
  ctx.lineWidth = 1;
  ctx.strokeStyle = "#e1e5ec";
  ctx.fillStyle = "#333";
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  for (const p of [0, 0.25, 0.5, 0.75, 1]) {
    ctx.beginPath(); ctx.moveTo(L, y(p)); ctx.lineTo(W - R, y(p)); ctx.stroke();
    ctx.fillText(p.toFixed(2), L - 6, y(p));
  }
  ctx.textAlign = "center";
  ctx.textBaseline = "top";
  for (let t = 0; t <= tMax; t += 12) {
    ctx.beginPath(); ctx.moveTo(x(t), T); ctx.lineTo(x(t), H - B); ctx.stroke();
    ctx.fillText(`${t}`, x(t), H - B + 5);
  }
  ctx.strokeStyle = "#666";
  ctx.beginPath(); ctx.moveTo(L, T); ctx.lineTo(L, H - B); ctx.lineTo(W - R, H - B); ctx.stroke();
  ctx.fillText("months", (L + W - R) / 2, H - 18);
  ctx.save();
  ctx.translate(14, (T + H - B) / 2);
  ctx.rotate(-Math.PI / 2);
  ctx.textBaseline = "middle";
  ctx.fillText("survival probability", 0, 0);
  ctx.restore();
  ctx.lineWidth = 2;
  estimates.forEach((e, n) => {
    const style = CURVE_STYLES[n % CURVE_STYLES.length];
    ctx.strokeStyle = style.colour;
    ctx.setLineDash(style.dash);
    ctx.beginPath();
    let last = 1;
    ctx.moveTo(x(0), y(1));
    for (const p of e.curve) {
      ctx.lineTo(x(p.months), y(last));
      ctx.lineTo(x(p.months), y(p.probability));
      last = p.probability;
    }
    // the curve is known up to the end of the training follow-up, flat after its last event
    ctx.lineTo(x(Math.max(Number(e.follow_up_months) || 0, 0)), y(last));
    ctx.stroke();
    const swatch = el("span", "swatch");
    swatch.style.borderTop = `3px ${style.dash.length ? "dashed" : "solid"} ${style.colour}`;
    $("#curves-legend").appendChild(el("li", "", swatch, LABELS[e.outcome] || e.outcome));
  });
  ctx.setLineDash([]);
}

async function init() {
  schema = await (await fetch("/v1/schema")).json();
  $("#max-upload").textContent = Math.round(schema.max_upload_bytes / 1e6);
  buildFields();
  document.querySelectorAll("input[name=stage]").forEach((el) => el.addEventListener("change", buildFields));
  $("#assessment").addEventListener("submit", submit);
  $("#slider").addEventListener("input", (e) => drawSlice(Number(e.target.value)));
  // other files are another patient's: the result on screen is no longer theirs
  $("#files").addEventListener("change", clearResult);
}

init();
