// swishpaint page: load a sketch, paint hint strokes on a transparent canvas, ask the API for colourings.
"use strict";
const $ = (id) => document.getElementById(id);
const sketchCanvas = $("sketch"), hintCanvas = $("hints");
const sketchCtx = sketchCanvas.getContext("2d"), hintCtx = hintCanvas.getContext("2d");
let sketchFile = null, erasing = false, drawing = false, last = null;
const history = [];

function setStatus(text, kind) {
  const el = $("status");
  el.textContent = text;
  el.className = kind || "";
}

async function loadModelInfo() {
  try {
    const r = await fetch("/api/models");
    const m = (await r.json()).models[0];
    $("model-info").textContent = `model: ${m.name} · ${m.candidates} candidates` + (m.takes_hints ? " · hints" : "");
    $("candidates").max = m.candidates;
  } catch (e) { $("model-info").textContent = "model info unavailable"; }
}

function loadSketch(file) {
  if (!file) return;
  if (!/^image\/(png|jpeg|webp)$/.test(file.type)) { setStatus(`${file.name}: choose a PNG, JPEG or WEBP image`, "error"); return; }
  const img = new Image();
  img.onload = () => {
    for (const c of [sketchCanvas, hintCanvas]) { c.width = img.naturalWidth; c.height = img.naturalHeight; }
    sketchCtx.fillStyle = "#fff";
    sketchCtx.fillRect(0, 0, img.naturalWidth, img.naturalHeight);
    sketchCtx.drawImage(img, 0, 0);
    hintCtx.clearRect(0, 0, hintCanvas.width, hintCanvas.height);
    history.length = 0;
    sketchFile = file;
    $("stack").hidden = false; $("drop-hint").hidden = true; $("run").disabled = false;
    setStatus(`${file.name}: ${img.naturalWidth}×${img.naturalHeight}. Paint colour hints, then Colourise.`);
    URL.revokeObjectURL(img.src);
  };
  img.onerror = () => setStatus(`${file.name}: the browser cannot read this image`, "error");
  img.src = URL.createObjectURL(file);
}

function canvasPoint(ev) {
  const r = hintCanvas.getBoundingClientRect();
  return { x: (ev.clientX - r.left) * hintCanvas.width / r.width, y: (ev.clientY - r.top) * hintCanvas.height / r.height };
}

function stroke(a, b) {
  hintCtx.globalCompositeOperation = erasing ? "destination-out" : "source-over";
  hintCtx.strokeStyle = $("color").value;
  hintCtx.lineWidth = Number($("brush").value) * hintCanvas.width / hintCanvas.getBoundingClientRect().width;
  hintCtx.lineCap = hintCtx.lineJoin = "round";
  hintCtx.beginPath(); hintCtx.moveTo(a.x, a.y); hintCtx.lineTo(b.x, b.y); hintCtx.stroke();
}

hintCanvas.addEventListener("pointerdown", (ev) => {
  history.push(hintCtx.getImageData(0, 0, hintCanvas.width, hintCanvas.height));
  if (history.length > 50) history.shift();
  drawing = true; last = canvasPoint(ev); stroke(last, last);
  hintCanvas.setPointerCapture(ev.pointerId);
});
hintCanvas.addEventListener("pointermove", (ev) => { if (!drawing) return; const p = canvasPoint(ev); stroke(last, p); last = p; });
for (const type of ["pointerup", "pointercancel"]) hintCanvas.addEventListener(type, () => { drawing = false; });

$("brush").addEventListener("input", () => { $("brush-size").textContent = $("brush").value; });
$("erase").addEventListener("click", () => { erasing = !erasing; $("erase").setAttribute("aria-pressed", String(erasing)); });
$("undo").addEventListener("click", () => { const s = history.pop(); if (s) hintCtx.putImageData(s, 0, 0); });
$("clear").addEventListener("click", () => {
  history.push(hintCtx.getImageData(0, 0, hintCanvas.width, hintCanvas.height));
  hintCtx.clearRect(0, 0, hintCanvas.width, hintCanvas.height);
});
$("file").addEventListener("change", (ev) => loadSketch(ev.target.files[0]));
const drop = $("drop");
drop.addEventListener("dragover", (ev) => { ev.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (ev) => { ev.preventDefault(); drop.classList.remove("over"); loadSketch(ev.dataTransfer.files[0]); });

function hintsBlob() {
  const data = hintCtx.getImageData(0, 0, hintCanvas.width, hintCanvas.height).data;
  for (let i = 3; i < data.length; i += 4) if (data[i] > 0) return new Promise((res) => hintCanvas.toBlob(res, "image/png"));
  return Promise.resolve(null);
}

function clearResults() {
  // After a failure nothing from an earlier request may stay on screen or downloadable.
  $("candidates-list").replaceChildren();
  for (const id of ["download-result", "download-hints"]) {
    const a = $(id);
    a.removeAttribute("href");
    a.setAttribute("aria-disabled", "true");
  }
  $("results").hidden = true;
}

function choose(img) {
  for (const other of document.querySelectorAll("#candidates-list img")) other.classList.remove("chosen");
  img.classList.add("chosen");
  $("download-result").href = img.src;
  $("download-result").removeAttribute("aria-disabled");
}

$("run").addEventListener("click", async () => {
  if (!sketchFile) return;
  const form = new FormData();
  form.append("sketch", sketchFile);
  const hints = await hintsBlob();
  if (hints) form.append("hints", hints, "hints.png");
  form.append("candidates", $("candidates").value);
  form.append("output", $("output").value);
  $("run").disabled = true;
  setStatus("Colourising…", "busy");
  try {
    const r = await fetch("/api/colorize", { method: "POST", body: form });
    const body = await r.json().catch(() => ({ error: `server answered ${r.status}` }));
    if (!r.ok) throw new Error(body.error || `server answered ${r.status}`);
    const list = $("candidates-list");
    list.replaceChildren();
    body.images.forEach((src, i) => {
      const img = new Image();
      img.src = src; img.alt = `candidate ${i + 1}`;
      img.addEventListener("click", () => choose(img));
      list.appendChild(img);
    });
    choose(list.firstChild);
    if (hints) {
      $("download-hints").href = URL.createObjectURL(hints);
      $("download-hints").removeAttribute("aria-disabled");
    }
    $("download-hints").hidden = !hints;
    $("results").hidden = false;
    setStatus(`Done: ${body.candidates} candidate(s).` + (body.warnings.length ? " " + body.warnings.join("; ") : ""));
  } catch (e) {
    clearResults();
    setStatus(`Could not colourise: ${e.message}`, "error");
  } finally {
    $("run").disabled = false;
  }
});

loadModelInfo();
