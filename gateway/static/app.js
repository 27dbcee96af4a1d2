"use strict";
// The clinician's page: builds the form from GET /v1/schema, posts to /v1/assessments and
// shows the slice viewer with the lesion outline, the risks and the survival curves.

const $ = (selector) => document.querySelector(selector);
let schema = null;
let result = null;
let mask = null;
let slices = [];

const LABELS = {
  TASK_PARAMETRIAL_INVASION: "Parametrial invasion",
  TASK_LYMPH_NODE_METASTASIS: "Lymph node metastasis",
  TASK_RECURRENCE: "Recurrence",
  TASK_DEATH: "Death",
  SURVIVAL_OUTCOME_RFS: "Recurrence-free survival",
  SURVIVAL_OUTCOME_OS: "Overall survival",
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

async function submit(event) {
  event.preventDefault();
  clearErrors();
  const clinical = {};
  $("#clinical-fields").querySelectorAll("[name]").forEach((el) => {
    if (el.value === "") return;
    clinical[el.name] = el.type === "number" ? Number(el.value) : el.value;
  });
  const body = new FormData();
  body.append("stage", stage());
  body.append("clinical", JSON.stringify(clinical));
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
      $("#status").textContent = reply.status === 503 ? "A service is unavailable." : "Please correct the marked fields.";
      return;
    }
    $("#status").textContent = "Done.";
    show(data);
  } catch (err) {
    showError("general", `The request failed: ${err}`);
    $("#status").textContent = "";
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
  image.onload = () => {
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
  risks.innerHTML = "";
  for (const p of data.predictions) {
    const row = document.createElement("tr");
    row.dataset.task = p.task;
    const above = p.label;
    row.innerHTML = `<td>${LABELS[p.task] || p.task}</td><td>${fmt(p.probability * 100, 1)} %</td>`
      + `<td>${fmt(p.threshold * 100, 1)} % (sensitivity ${fmt(p.target_sensitivity * 100, 0)} %)</td>`
      + `<td class="${above ? "above" : ""}">${above ? "above threshold" : "below threshold"}</td>`;
    risks.appendChild(row);
  }
  const survival = data.survival || [];
  $("#survival-block").hidden = survival.length === 0;
  const body = $("#survival tbody");
  body.innerHTML = "";
  for (const s of survival) {
    const median = s.median_reached ? `${fmt(s.median_months, 1)} mo` : `> ${fmt(s.follow_up_months, 0)} mo`;
    const row = document.createElement("tr");
    row.dataset.outcome = s.outcome;
    row.innerHTML = `<td>${LABELS[s.outcome] || s.outcome}</td><td>${median}</td>`
      + `<td>${fmt(s.survival_probability_12_months * 100, 1)} %</td>`
      + `<td>${fmt(s.survival_probability_36_months * 100, 1)} %</td>`
      + `<td>${fmt(s.survival_probability_60_months * 100, 1)} %</td>`;
    body.appendChild(row);
  }
  drawCurves(survival);
  const warnings = $("#warnings");
  warnings.innerHTML = "";
  for (const w of data.warnings.length ? data.warnings : ["none"]) {
    const li = document.createElement("li");
    li.textContent = w;
    warnings.appendChild(li);
  }
  $("#models").innerHTML = data.models.map((m) => `<li>${m.name} ${m.version} (${m.algorithm || ""})</li>`).join("");
  $("#timings").innerHTML = data.timings.map((t) => `<li>${t.stage}: ${fmt(t.seconds, 2)} s</li>`).join("");
}

function drawCurves(estimates) {
  const canvas = $("#curves");
  const ctx = canvas.getContext("2d");
  const W = canvas.width, H = canvas.height, L = 40, B = 24;
  ctx.clearRect(0, 0, W, H);
  if (!estimates.length) return;
  const tMax = Math.max(60, ...estimates.flatMap((e) => e.curve.map((p) => p.months)));
  const x = (t) => L + (t / tMax) * (W - L - 10);
  const y = (p) => 10 + (1 - p) * (H - B - 10);
  ctx.strokeStyle = "#888"; ctx.fillStyle = "#333"; ctx.font = "11px sans-serif";
  ctx.beginPath(); ctx.moveTo(L, 10); ctx.lineTo(L, H - B); ctx.lineTo(W - 10, H - B); ctx.stroke();
  for (const p of [0, 0.5, 1]) ctx.fillText(p.toFixed(1), 8, y(p) + 4);
  for (let t = 0; t <= tMax; t += 12) ctx.fillText(`${t}`, x(t) - 6, H - 8);
  const colours = ["#24324a", "#c0392b"];
  estimates.forEach((e, n) => {
    ctx.strokeStyle = colours[n % 2];
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
    ctx.fillStyle = colours[n % 2];
    ctx.fillText(LABELS[e.outcome] || e.outcome, W - 170, 20 + 14 * n);
  });
}

async function init() {
  schema = await (await fetch("/v1/schema")).json();
  $("#max-upload").textContent = Math.round(schema.max_upload_bytes / 1e6);
  buildFields();
  document.querySelectorAll("input[name=stage]").forEach((el) => el.addEventListener("change", buildFields));
  $("#assessment").addEventListener("submit", submit);
  $("#slider").addEventListener("input", (e) => drawSlice(Number(e.target.value)));
}

init();
