// swishpaint workspace: a sketch, the server's colouring by regions, and tools that work on those regions.
//
// The server sends the region label map (labels_rgb: label = r + 256 g) and each candidate's flats and
// shading; the page keeps them as typed arrays and composites the views itself (final = flats × shading ×
// lines; coloured line art multiplies in its own colours, as the server's output does), so a bucket fill repaints one region's pixels at once, with no request. Every fill and stroke is
// also a hint: the next run sends the hints canvas (strokes) with every filled region painted whole, and a
// region painted whole keeps its colour in every candidate (regions.flats.hinted_regions), which is what
// makes re-roll keep the locked regions. Flats hold one colour per region, so a fill and its undo are one
// colour per region: no pixel copies. What a region shows is always its lock, else the shown candidate's
// colour (candidateColours), whichever candidate is shown and whatever undo does.
//
// A failed request changes nothing: the colouring, locks, strokes and history stay as they were, and only
// a successful answer replaces the colouring (its locks follow their regions to the new label map).
"use strict";
const $ = (id) => document.getElementById(id);
const viewCanvas = $("view"), hintCanvas = $("hints"), viewport = $("viewport"), stack = $("stack");
const viewCtx = viewCanvas.getContext("2d"), hintCtx = hintCanvas.getContext("2d", { willReadFrequently: true });
const HISTORY_BYTES = 512 * 1024 * 1024;  // undo keeps at most this much (a 2048² full snapshot is 16 MB)

const S = {
  w: 0, h: 0, sketchFile: null, grey: null, lineColour: null, hintData: null, viewData: null,
  labels: null, regionStart: null, regionPixels: null, regionBox: null,  // regions as CSR lists + bounding boxes
  locked: new Map(),  // region -> the colour (a 32-bit RGBA word) the bucket filled it with
  flats: null, shading: null, candidateColours: null,  // the shown flats (locks painted in) and the server's own colours
  result: null, candidate: 0, maxCandidates: 1, unsaved: false,
  edits: 0, kept: new Set(),  // edits so far; what the downloads since the last edit hold ("png", "hints", "layered")
  appliedEdits: -1, runs: 0,  // the edits the shown colouring was asked with; the newest run's number
  cut: null,  // a coloured cut not downloaded yet: { stem, frames: [{ name, image }] }
  view: "final", tool: "brush", used: [], undo: [], redo: [],
  zoom: 1, tx: 0, ty: 0, panning: null, space: false, drawing: null,
};

function setStatus(text, kind) {
  const el = $("status");
  el.textContent = text;
  el.className = kind || "";
}

async function loadModelInfo() {
  try {
    const m = (await (await fetch("/api/models")).json()).models[0];
    $("model-info").textContent = `model: ${m.name} · ${m.candidates} candidates` + (m.takes_hints ? " · hints" : "");
    $("candidates").max = m.candidates;
    $("candidates").value = Math.min(Number($("candidates").value), m.candidates);
    S.maxCandidates = m.candidates;
  } catch (e) { $("model-info").textContent = "model info unavailable"; }
}

// ---- images in and out -------------------------------------------------------------------------------

async function pixelsOf(source) {
  // RGBA bytes of an image exactly as stored: no colour management, no premultiplication.
  const bitmap = await createImageBitmap(source, { colorSpaceConversion: "none", premultiplyAlpha: "none" });
  const c = document.createElement("canvas");
  c.width = bitmap.width; c.height = bitmap.height;
  const ctx = c.getContext("2d");
  ctx.drawImage(bitmap, 0, 0);
  return ctx.getImageData(0, 0, c.width, c.height);
}

function dataUrlBlob(url) {
  const [head, b64] = url.split(",", 2);
  const bytes = Uint8Array.from(atob(b64), (ch) => ch.charCodeAt(0));
  return new Blob([bytes], { type: head.slice(5).split(";")[0] });
}

function download(blob, name) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob); a.download = name;
  document.body.appendChild(a); a.click(); a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 60_000);
}

function canvasBlob(canvas) { return new Promise((res) => canvas.toBlob(res, "image/png")); }

async function markedPng(blob) {
  // The PNG with the text entry every swishpaint output carries (data/images.py, OUTPUT_KEY "swishpaint" =
  // "result"), right after its 13-byte header chunk: saved beside its sketch, a later batch run leaves it out.
  const png = new Uint8Array(await blob.arrayBuffer()), body = new TextEncoder().encode("tEXtswishpaint\0result");
  const chunk = new Uint8Array(body.length + 8), view = new DataView(chunk.buffer);
  view.setUint32(0, body.length - 4); chunk.set(body, 4); view.setUint32(4 + body.length, crc32(body));
  return new Blob([png.subarray(0, 33), chunk, png.subarray(33)], { type: "image/png" });
}

// ---- the sketch --------------------------------------------------------------------------------------

async function loadSketch(file) {
  if (!file) return;
  if (!/^image\/(png|jpeg|webp)$/.test(file.type)) { setStatus(`${file.name}: choose a PNG, JPEG or WEBP image`, "error"); return; }
  let img;
  try { img = await createImageBitmap(file); } catch (e) { setStatus(`${file.name}: the browser cannot read this image`, "error"); return; }
  if (S.unsaved && !confirm(`Open ${file.name}? The strokes, fills and colouring of ${S.sketchFile.name} ` +
                            "have not been downloaded since they changed, and would be lost.")) {
    setStatus(`Kept ${S.sketchFile.name}: ${file.name} was not opened.`);
    return;
  }
  const w = img.width, h = img.height;
  for (const c of [viewCanvas, hintCanvas]) { c.width = w; c.height = h; }
  viewCtx.fillStyle = "#fff"; viewCtx.fillRect(0, 0, w, h); viewCtx.drawImage(img, 0, 0);
  const rgba = viewCtx.getImageData(0, 0, w, h).data, grey = new Uint8ClampedArray(w * h);
  let coloured = false;
  for (let p = 0, i = 0; p < grey.length; p++, i += 4) {
    grey[p] = (rgba[i] * 299 + rgba[i + 1] * 587 + rgba[i + 2] * 114 + 500) / 1000;
    coloured ||= rgba[i] !== rgba[i + 1] || rgba[i + 1] !== rgba[i + 2];
  }
  // colour-trace lines keep their colour in every view (a grey sketch keeps no copy)
  const lineColour = coloured ? rgba : null;
  Object.assign(S, { w, h, grey, lineColour, sketchFile: file, hintData: new ImageData(w, h), viewData: new ImageData(w, h), undo: [], redo: [],
                     unsaved: false, kept: new Set(), appliedEdits: -1, paperGain: 1 });
  hintCtx.clearRect(0, 0, w, h);
  forgetColouring();
  $("stack").hidden = false; $("drop-hint").hidden = true; $("run").disabled = false;
  $("download-hints").disabled = false;
  fit();
  setStatus(`${file.name}: ${w}×${h}. Paint hints or colourise; then fill regions with the bucket (B).`);
}

function forgetColouring() {
  // A new sketch: the last one's colouring goes, and its locks with it (they name its regions).
  Object.assign(S, { labels: null, regionStart: null, regionPixels: null, regionBox: null, flats: null, shading: null,
                     candidateColours: null, result: null, locked: new Map() });
  $("candidates-list").replaceChildren();
  $("results").hidden = true;
  $("palette-flats").replaceChildren();
  for (const id of ["reroll", "download-png", "download-layered"]) $(id).disabled = true;
  render();
}

// ---- regions and views -------------------------------------------------------------------------------

function regionsOf(labelPixels) {
  // The label map as CSR lists: the pixels of region r are regionPixels[regionStart[r] .. regionStart[r + 1]).
  const W = labelPixels.width, H = labelPixels.height, n = W * H, d = labelPixels.data, labels = new Int32Array(n);
  let count = 0;
  for (let p = 0, i = 0; p < n; p++, i += 4) { const l = d[i] + 256 * d[i + 1]; labels[p] = l; if (l >= count) count = l + 1; }
  const start = new Int32Array(count + 1), box = new Int32Array(count * 4);
  for (let r = 0; r < count; r++) { box[4 * r] = W; box[4 * r + 1] = H; box[4 * r + 2] = -1; box[4 * r + 3] = -1; }
  for (let p = 0; p < n; p++) start[labels[p] + 1]++;
  for (let r = 0; r < count; r++) start[r + 1] += start[r];
  const next = start.slice(0, count), pixels = new Int32Array(n);
  for (let y = 0, p = 0; y < H; y++) {
    for (let x = 0; x < W; x++, p++) {
      const r = labels[p], b = 4 * r;
      pixels[next[r]++] = p;
      if (x < box[b]) box[b] = x;
      if (y < box[b + 1]) box[b + 1] = y;
      if (x > box[b + 2]) box[b + 2] = x;
      if (y > box[b + 3]) box[b + 3] = y;
    }
  }
  return { labels, regionStart: start, regionPixels: pixels, regionBox: box };
}

function regionMap(next) {
  // Where each region of the label map in use goes in the next one: the new regions that belong to it (a
  // new region belongs to the old region holding most of its pixels), or, when none does (it was joined
  // into a larger one), the new region holding most of its pixels. For one sketch and line threshold the
  // maps are the same and this is the identity; a new threshold splits or joins regions.
  // Also, for each old region, how many of its pixels each new region holds (overlap(r): Map new -> pixels).
  const oldCount = S.regionStart.length - 1, newCount = next.regionStart.length - 1;
  const owner = new Int32Array(newCount).fill(-1), ownerPixels = new Int32Array(newCount);
  const main = new Int32Array(oldCount), tally = new Int32Array(newCount), seen = [], overlaps = new Array(oldCount);
  for (let r = 0; r < oldCount; r++) {
    for (let j = S.regionStart[r]; j < S.regionStart[r + 1]; j++) {
      const n = next.labels[S.regionPixels[j]];
      if (tally[n]++ === 0) seen.push(n);
    }
    let most = 0;
    overlaps[r] = new Map();
    for (const n of seen) {
      overlaps[r].set(n, tally[n]);
      if (tally[n] > most) { most = tally[n]; main[r] = n; }
      if (tally[n] > ownerPixels[n]) { ownerPixels[n] = tally[n]; owner[n] = r; }
      tally[n] = 0;
    }
    seen.length = 0;
  }
  const pieces = Array.from({ length: oldCount }, () => []);
  for (let n = 0; n < newCount; n++) if (owner[n] >= 0) pieces[owner[n]].push(n);
  return { to: (r) => (pieces[r].length ? pieces[r] : [main[r]]), overlap: (r) => overlaps[r] };
}

function carryLocks(next) {
  // Locks and the fills' undo steps name regions of the label map in use: move them to the new one, so
  // none names a region of a map that is gone. The run just made sent every lock as a hint over its whole
  // region, so each new region a locked one went to keeps its lock, split or joined (where two locked
  // regions were joined, the one with more of its pixels wins): no fill is dropped, and undo takes back
  // all of a fill.
  if (!S.labels) { S.locked = new Map(); return; }
  const { to, overlap } = regionMap(next), locked = new Map(), share = new Map();
  for (const [r, colour] of S.locked) {
    for (const n of to(r)) {
      const pixels = overlap(r).get(n);
      if (pixels > (share.get(n) ?? -1)) { share.set(n, pixels); locked.set(n, colour); }
    }
  }
  S.locked = locked;
  for (const e of [...S.undo, ...S.redo]) if (e.regions) e.regions = [...new Set(e.regions.flatMap(to))];
}

function paintPixel(out, p) {
  // One pixel of the current view into out (RGBA bytes).
  const i = 4 * p, g = S.grey[p], lines = S.lineColour;
  let r = g, gr = g, b = g;
  if (lines) { r = lines[i]; gr = lines[i + 1]; b = lines[i + 2]; }
  if (S.flats && S.view !== "lines") {
    const s = S.shading[p];
    if (S.view === "flats") { r = S.flats[i]; gr = S.flats[i + 1]; b = S.flats[i + 2]; }
    else if (S.view === "shading") { r = gr = b = s; }
    else { r = (S.flats[i] * s * r + 32512) / 65025; gr = (S.flats[i + 1] * s * gr + 32512) / 65025; b = (S.flats[i + 2] * s * b + 32512) / 65025; }
  }
  out[i] = r; out[i + 1] = gr; out[i + 2] = b; out[i + 3] = 255;
}

function render() {
  if (!S.grey) return;
  const out = S.viewData.data, n = S.w * S.h;
  for (let p = 0; p < n; p++) paintPixel(out, p);
  viewCtx.putImageData(S.viewData, 0, 0);
}

function renderRegion(r, colour) {
  // Give region r one flat colour and repaint its pixels of the view: one loop per view, no per-pixel branches.
  if (!S.flats) return 0;  // no colouring yet: nothing shows regions
  const pixels = S.regionPixels.subarray(S.regionStart[r], S.regionStart[r + 1]), n = pixels.length;
  const flat = words(S.flats), out = words(S.viewData.data), grey = S.grey, shading = S.shading;
  const cr = colour & 255, cg = (colour >>> 8) & 255, cb = (colour >>> 16) & 255;
  for (let j = 0; j < n; j++) flat[pixels[j]] = colour;
  if (S.view === "flats") for (let j = 0; j < n; j++) out[pixels[j]] = colour;
  else if (S.view === "final" && S.lineColour) for (let j = 0; j < n; j++) paintPixel(S.viewData.data, pixels[j]);
  else if (S.view === "final") {
    for (let j = 0; j < n; j++) {
      const p = pixels[j], k = shading[p] * grey[p];
      out[p] = ((cr * k + 32512) / 65025 | (cg * k + 32512) / 65025 << 8 | (cb * k + 32512) / 65025 << 16 | 0xff000000) >>> 0;
    }
  }  // shading and lines do not show the flats
  const b = 4 * r, x0 = S.regionBox[b], y0 = S.regionBox[b + 1];
  viewCtx.putImageData(S.viewData, 0, 0, x0, y0, S.regionBox[b + 2] - x0 + 1, S.regionBox[b + 3] - y0 + 1);
  return n;
}

async function decodeCandidate(body, i) {
  // Candidate i of an answer as the views use it; touches no state, so a failure leaves the page as it was.
  const [flats, shading] = await Promise.all([pixelsOf(dataUrlBlob(body.flats[i])), pixelsOf(dataUrlBlob(body.shading[i]))]);
  const n = flats.width * flats.height, grey = new Uint8ClampedArray(n);
  for (let p = 0; p < n; p++) grey[p] = shading.data[4 * p];
  return { flats: flats.data, shading: grey };
}

function useCandidate(i, shown) {
  // Show decoded candidate i of S.result with the fills on top: a lock keeps its colour in every candidate.
  const from = words(shown.flats), colours = new Uint32Array(S.regionStart.length - 1);
  for (let r = 0; r < colours.length; r++) {
    if (S.regionStart[r] < S.regionStart[r + 1]) colours[r] = from[S.regionPixels[S.regionStart[r]]];
  }
  for (const [r, colour] of S.locked) {
    for (let j = S.regionStart[r]; j < S.regionStart[r + 1]; j++) from[S.regionPixels[j]] = colour;
  }
  Object.assign(S, { flats: shown.flats, shading: shown.shading, candidateColours: colours, candidate: S.result.start + i });
  for (const img of document.querySelectorAll("#candidates-list img")) img.classList.toggle("chosen", img.dataset.index === String(i));
  swatches($("palette-flats"), S.result.palettes[i]);
  render();
}

async function showCandidate(i) {
  const body = S.result;
  try {
    const shown = await decodeCandidate(body, i);
    if (S.result !== body) return;  // a newer answer arrived meanwhile: this candidate is not in it
    useCandidate(i, shown);
    markUnsaved();
  } catch (e) { setStatus(`Could not show candidate ${body.start + i + 1}: ${e.message}`, "error"); }
}

// ---- edits and their history -------------------------------------------------------------------------

function markUnsaved() { S.unsaved = true; S.edits++; S.kept.clear(); }  // what leaving the page would lose

function kept(part, edits, file) {
  // A finished download keeps the work only if nothing changed while it was made (same sketch, no edit) and
  // the downloads since the last edit hold it all: the layered file, or the PNG (when there is a colouring)
  // and the hints PNG (when there are hints), which "Load hints PNG" reads back.
  if (S.sketchFile !== file || S.edits !== edits) return;
  S.kept.add(part);
  const colouring = S.result !== null, hints = hasHints();
  if (S.kept.has("layered") || ((S.kept.has("png") || !colouring) && (S.kept.has("hints") || !hints))) S.unsaved = false;
}

function remember(entry) {
  markUnsaved();
  entry.edit = S.edits;
  S.undo.push(entry); S.redo = [];
  let bytes = S.undo.reduce((sum, e) => sum + e.bytes, 0);
  while (bytes > HISTORY_BYTES && S.undo.length > 1) bytes -= S.undo.shift().bytes;
}

const words = (bytes) => new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.length >> 2);  // RGBA as one word

function setLock(r, colour) {
  // Lock region r to a colour (undefined: unlock it) and show it: its lock, else the shown candidate's colour.
  if (colour === undefined) S.locked.delete(r); else S.locked.set(r, colour);
  return S.candidateColours ? renderRegion(r, colour === undefined ? S.candidateColours[r] : colour) : 0;
}

function applyState(entry, which) {
  const state = entry[which];
  if (entry.regions) {  // a fill: the region's lock, and so its colour (a fill split by a new line threshold: each piece's)
    for (const r of entry.regions) setLock(r, state.locked);
  } else {  // a stroke, clear or loaded hints: the whole hints layer
    S.hintData.data.set(state.hints);
    hintCtx.putImageData(S.hintData, 0, 0);
  }
}

function undo() {
  const e = S.undo.pop();
  if (!e) return;
  applyState(e, "before"); S.redo.push(e); markUnsaved();
  // a fill the shown colouring was asked with is in its colours as a hint: unlocked, it keeps them till the next run
  const baked = e.regions !== undefined && e.after.locked !== undefined && e.edit <= S.appliedEdits;
  setStatus(`Undone: ${e.what}.` + (baked ? " The colouring was made with it: colourise again to let the network " +
                                             "colour the region." : ""));
}

function redo() {
  const e = S.redo.pop();
  if (!e) return;
  applyState(e, "after"); S.undo.push(e); markUnsaved();
  setStatus(`Redone: ${e.what}.`);
}

function hexRgb(hex) { return [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)); }
function rgbHex(r, g, b) { return "#" + [r, g, b].map((v) => v.toString(16).padStart(2, "0")).join(""); }

function bucket(x, y) {
  if (!S.labels) { setStatus("Colourise first: the bucket fills the regions the server finds.", "error"); return; }
  const t0 = performance.now();
  const r = S.labels[y * S.w + x];
  const [cr, cg, cb] = hexRgb($("color").value), colour = (cr | cg << 8 | cb << 16 | 255 << 24) >>> 0;
  const before = { locked: S.locked.get(r) };
  const n = setLock(r, colour);
  remember({ what: `fill region ${r}`, regions: [r], before, after: { locked: colour }, bytes: 64 });
  const ms = performance.now() - t0;
  document.body.dataset.lastFillMs = ms.toFixed(2);
  useColour($("color").value);
  setStatus(`Filled region ${r} (${n} px) in ${ms.toFixed(1)} ms; it stays this colour when you re-roll.`);
}

function eyedropper(x, y) {
  const i = 4 * (y * S.w + x), hd = S.hintData.data;
  const from = hd[i + 3] === 255 ? hd : S.flats;  // a stroke, else the flats (fills included)
  if (!from) return;
  $("color").value = rgbHex(from[i], from[i + 1], from[i + 2]);
  setTool(S.previousTool || "bucket");
  setStatus(`Picked ${$("color").value}.`);
}

function useColour(hex) {
  S.used = [hex, ...S.used.filter((c) => c !== hex)].slice(0, 16);
  swatches($("palette-used"), S.used);
}

function swatches(el, colours) {
  el.replaceChildren(...colours.map((c) => {
    const b = document.createElement("button");
    b.type = "button"; b.className = "swatch"; b.title = c; b.style.background = c; b.dataset.colour = c;
    b.addEventListener("click", () => { $("color").value = c; });
    return b;
  }));
}

// ---- pointer: tools, zoom and pan --------------------------------------------------------------------

function canvasPoint(ev) {
  const r = hintCanvas.getBoundingClientRect();
  return { x: (ev.clientX - r.left) * S.w / r.width, y: (ev.clientY - r.top) * S.h / r.height };
}

function stroke(a, b) {
  hintCtx.globalCompositeOperation = S.tool === "eraser" ? "destination-out" : "source-over";
  hintCtx.strokeStyle = $("color").value;
  hintCtx.lineWidth = Number($("brush").value) / S.zoom;
  hintCtx.lineCap = hintCtx.lineJoin = "round";
  hintCtx.beginPath(); hintCtx.moveTo(a.x, a.y); hintCtx.lineTo(b.x, b.y); hintCtx.stroke();
}

function setTool(tool) {
  if (tool !== "eyedropper") S.previousTool = tool;
  S.tool = tool;
  for (const b of document.querySelectorAll("[data-tool]")) b.setAttribute("aria-pressed", String(b.dataset.tool === tool));
  hintCanvas.dataset.tool = tool;
}

function applyTransform() {
  stack.style.transform = `translate(${S.tx}px, ${S.ty}px) scale(${S.zoom})`;
  stack.classList.toggle("pixelated", S.zoom >= 2);
  $("zoom-level").textContent = `${Math.round(S.zoom * 100)}%`;
}

function fit() {
  if (!S.w) return;
  const vw = viewport.clientWidth, vh = viewport.clientHeight;
  S.zoom = 0.98 * Math.min(vw / S.w, vh / S.h);  // a margin shows where the page ends
  S.tx = (vw - S.w * S.zoom) / 2; S.ty = (vh - S.h * S.zoom) / 2;
  applyTransform();
}

function zoomAt(factor, cx, cy) {
  const z = Math.min(32, Math.max(0.05, S.zoom * factor));
  S.tx = cx - (cx - S.tx) * z / S.zoom; S.ty = cy - (cy - S.ty) * z / S.zoom; S.zoom = z;
  applyTransform();
}

function zoomCentre(factor) { zoomAt(factor, viewport.clientWidth / 2, viewport.clientHeight / 2); }

viewport.addEventListener("wheel", (ev) => {
  if (!S.w) return;
  ev.preventDefault();
  const r = viewport.getBoundingClientRect();
  zoomAt(Math.exp(-ev.deltaY / 500), ev.clientX - r.left, ev.clientY - r.top);
}, { passive: false });

viewport.addEventListener("pointerdown", (ev) => {
  if (!S.w || !(ev.button === 1 || S.space)) return;
  ev.preventDefault();
  S.panning = { x: ev.clientX - S.tx, y: ev.clientY - S.ty };
  viewport.setPointerCapture(ev.pointerId);
}, true);
viewport.addEventListener("pointermove", (ev) => {
  if (!S.panning) return;
  S.tx = ev.clientX - S.panning.x; S.ty = ev.clientY - S.panning.y; applyTransform();
});
for (const type of ["pointerup", "pointercancel"]) viewport.addEventListener(type, () => { S.panning = null; });

hintCanvas.addEventListener("pointerdown", (ev) => {
  if (S.panning || ev.button !== 0) return;
  const p = canvasPoint(ev), x = Math.floor(p.x), y = Math.floor(p.y);
  if (x < 0 || y < 0 || x >= S.w || y >= S.h) return;
  if (S.tool === "bucket") return bucket(x, y);
  if (S.tool === "eyedropper") return eyedropper(x, y);
  S.drawing = { last: p, before: S.hintData.data.slice() };
  stroke(p, p);
  hintCanvas.setPointerCapture(ev.pointerId);
});
hintCanvas.addEventListener("pointermove", (ev) => {
  if (!S.drawing) return;
  const p = canvasPoint(ev); stroke(S.drawing.last, p); S.drawing.last = p;
});
for (const type of ["pointerup", "pointercancel"]) {
  hintCanvas.addEventListener(type, () => {
    if (!S.drawing) return;
    S.hintData = hintCtx.getImageData(0, 0, S.w, S.h);
    const what = S.tool === "eraser" ? "erase" : "hint stroke";
    remember({ what, before: { hints: S.drawing.before }, after: { hints: S.hintData.data.slice() }, bytes: 8 * S.w * S.h });
    if (S.tool === "brush") useColour($("color").value);
    S.drawing = null;
  });
}

// ---- keyboard ----------------------------------------------------------------------------------------

const KEY_TOOLS = { b: "bucket", h: "brush", e: "eraser", i: "eyedropper" };
document.addEventListener("keydown", (ev) => {
  if (ev.target.matches("input[type=number], input[type=text], select")) return;
  const key = ev.key.toLowerCase();
  if ((ev.ctrlKey || ev.metaKey) && key === "z") { ev.preventDefault(); return ev.shiftKey ? redo() : undo(); }
  if ((ev.ctrlKey || ev.metaKey) && key === "y") { ev.preventDefault(); return redo(); }
  if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
  if (KEY_TOOLS[key]) return setTool(KEY_TOOLS[key]);
  if (key === " " && !ev.target.matches("button, input, select, textarea, label")) {  // a focused control takes Space
    S.space = true; viewport.classList.add("panning"); ev.preventDefault();
  }
  if (key === "+" || key === "=") zoomCentre(1.25);
  if (key === "-") zoomCentre(0.8);
  if (key === "0") fit();
});
document.addEventListener("keyup", (ev) => { if (ev.key === " ") { S.space = false; viewport.classList.remove("panning"); } });

// ---- requests ----------------------------------------------------------------------------------------

function hasHints() {
  // Any fill, or any painted stroke pixel: what the next run would send as hints.
  if (S.locked.size > 0) return true;
  const d = S.hintData.data;
  for (let i = 3; i < d.length; i += 4) if (d[i] > 0) return true;
  return false;
}

function hintsCanvas() {
  // What the next run gets: the strokes, with every filled region painted whole over them.
  const out = new ImageData(new Uint8ClampedArray(S.hintData.data), S.w, S.h), to = words(out.data);
  for (const [r, colour] of S.regionPixels ? S.locked : []) {
    const pixels = S.regionPixels.subarray(S.regionStart[r], S.regionStart[r + 1]);
    for (let j = 0; j < pixels.length; j++) to[pixels[j]] = colour;
  }
  const c = document.createElement("canvas");
  c.width = S.w; c.height = S.h;
  c.getContext("2d").putImageData(out, 0, 0);
  return hasHints() ? c : null;
}

function addLineThreshold(form) {
  // The workspace's line threshold, when set; empty: the server follows each sketch. Text that is no number
  // reads as empty in a number field: refused here, not sent as "automatic" without a word.
  const field = $("line-threshold");
  if (field.validity.badInput) throw new Error("the line threshold is not a number (e.g. 0.08; empty: automatic)");
  if (field.value.trim()) form.append("line_threshold", field.value.trim());
}

async function colorize(fields) {
  const form = new FormData();
  form.append("sketch", S.sketchFile);
  const hints = hintsCanvas();
  if (hints) form.append("hints", await canvasBlob(hints), "hints.png");
  for (const [k, v] of Object.entries(fields)) form.append(k, String(v));
  addLineThreshold(form);
  const r = await fetch("/api/colorize", { method: "POST", body: form });
  const body = await r.json().catch(() => ({ error: `server answered ${r.status}` }));
  if (!r.ok) throw Object.assign(new Error(body.error || `server answered ${r.status}`), { status: r.status });
  return body;
}

function failure(what, e) {
  // The status line for a failed request; a full queue (503) passes, so say to try again.
  const why = e.status === 503 ? "the server is busy, try again in a moment" : e.message;
  return `${what}: ${why}. Your colouring, fills and hints are as they were.`;
}

function levelPaper(gain) {
  // A sketch on grey paper (a phone photo) is coloured on white paper: the server says by what gain
  // (data.images.paper_gain), and the page's lines, views and downloads use the sketch levelled the same way.
  if (!gain || gain === 1 || S.paperGain === gain) return;
  const lut = new Uint8ClampedArray(256);
  for (let v = 0; v < 256; v++) lut[v] = Math.min(255, Math.floor(v * gain + 0.5));
  for (let p = 0; p < S.grey.length; p++) S.grey[p] = lut[S.grey[p]];
  if (S.lineColour) for (let i = 0; i < S.lineColour.length; i++) if (i % 4 !== 3) S.lineColour[i] = lut[S.lineColour[i]];
  S.paperGain = gain;
}

function adoptColouring(body, regions, shown) {
  // A successful answer replaces the colouring: new regions (the locks moved to them), candidates, views.
  levelPaper(body.paper_gain);
  carryLocks(regions);
  Object.assign(S, regions, { result: body });
  $("candidates-list").replaceChildren(...body.images.map((src, i) => {
    const img = new Image();
    img.src = src; img.alt = `candidate ${body.start + i + 1}`; img.dataset.index = String(i);
    img.addEventListener("click", () => showCandidate(i));
    return img;
  }));
  useCandidate(0, shown);
  markUnsaved();
  $("results").hidden = false;
  for (const id of ["reroll", "download-png", "download-layered"]) $(id).disabled = false;
}

async function run(start, candidates) {
  const file = S.sketchFile, number = ++S.runs, edits = S.edits;
  if (!file) return;
  for (const id of ["run", "reroll"]) $(id).disabled = true;
  setStatus(start ? `Re-rolling: candidate ${start + 1} of ${S.maxCandidates}…` : "Colourising…", "busy");
  try {
    // everything is fetched and decoded before anything is replaced, so a failure on the way changes nothing
    const body = await colorize({ start, candidates, parts: true });
    const labelPixels = await pixelsOf(dataUrlBlob(body.labels_rgb));
    if (labelPixels.width !== S.w || labelPixels.height !== S.h) throw new Error("the answer is not the sketch's size");
    const regions = regionsOf(labelPixels), shown = await decodeCandidate(body, 0);
    if (S.sketchFile !== file) return;  // another sketch was opened meanwhile: this answer is not for it
    adoptColouring(body, regions, shown);
    S.appliedEdits = edits;
    setStatus(`Done: candidate ${S.candidate + 1} of ${S.maxCandidates}, ${S.regionStart.length - 1} regions.` +
              (body.warnings.length ? " " + body.warnings.join("; ") : ""));
  } catch (e) {
    if (S.sketchFile === file) setStatus(failure("Could not colourise", e), "error");
  } finally {
    if (number === S.runs) {  // a newer run (another sketch's) is still going: its buttons stay off
      $("run").disabled = false;
      $("reroll").disabled = !S.result;
    }
  }
}

$("run").addEventListener("click", () => run(0, Number($("candidates").value)));
$("reroll").addEventListener("click", () => run((S.candidate + 1) % S.maxCandidates, 1));

function finalImage() {
  const c = document.createElement("canvas");
  c.width = S.w; c.height = S.h;
  const view = S.view, out = new ImageData(S.w, S.h);
  S.view = "final";
  for (let p = 0; p < S.w * S.h; p++) paintPixel(out.data, p);
  S.view = view;
  c.getContext("2d").putImageData(out, 0, 0);
  return c;
}

const stem = () => (S.sketchFile ? S.sketchFile.name.replace(/\.[^.]*$/, "") : "sketch");
$("download-png").addEventListener("click", async () => {
  const edits = S.edits, file = S.sketchFile, name = `${stem()}_colour.png`;
  download(await markedPng(await canvasBlob(finalImage())), name);
  kept("png", edits, file);
});
$("download-hints").addEventListener("click", async () => {
  const hints = hintsCanvas(), edits = S.edits, file = S.sketchFile, name = `${stem()}_hints.png`;
  if (!hints) return setStatus("No hints yet: paint strokes or fill regions first.", "error");
  download(await canvasBlob(hints), name);
  kept("hints", edits, file);
});
function partsCanvas(rgba) {
  // The shown flats (RGBA bytes) or shading (one grey byte a pixel) as a canvas of the sketch's size.
  const out = new ImageData(S.w, S.h), d = out.data;
  if (rgba.length === 4 * S.w * S.h) d.set(rgba);
  else for (let p = 0, q = 0; p < S.w * S.h; p++, q += 4) { d[q] = d[q + 1] = d[q + 2] = rgba[p]; d[q + 3] = 255; }
  const c = document.createElement("canvas");
  c.width = S.w; c.height = S.h;
  c.getContext("2d").putImageData(out, 0, 0);
  return c;
}

$("download-layered").addEventListener("click", async () => {
  // made from what is on screen (the flats with every fill, the shading, the sketch's lines): nothing is
  // coloured again, so the file is the picture shown; named, and counted as kept, for the sketch and the
  // edits it was made from, whatever happens meanwhile
  const format = $("layered-format").value, edits = S.edits, file = S.sketchFile, name = `${stem()}.${format}`;
  setStatus(`Making the .${format} file…`, "busy");
  try {
    const form = new FormData();
    form.append("sketch", file);
    form.append("flats", await canvasBlob(partsCanvas(S.flats)), "flats.png");
    form.append("shading", await canvasBlob(partsCanvas(S.shading)), "shading.png");
    form.append("format", format);
    const r = await fetch("/api/layered", { method: "POST", body: form });
    const body = await r.json().catch(() => ({ error: `server answered ${r.status}` }));
    if (!r.ok) throw Object.assign(new Error(body.error || `server answered ${r.status}`), { status: r.status });
    download(dataUrlBlob(body.layered), name);
    kept("layered", edits, file);
    setStatus(`Downloaded ${name}: layers lines, shading, flats.` +
              (S.sketchFile === file && S.edits !== edits ? " Changes made meanwhile are not in it." : ""));
  } catch (e) { setStatus(failure("Could not make the layered file", e), "error"); }
});

async function loadHints(file) {
  if (!file) return;
  if (!S.w) return setStatus(`${file.name}: open a sketch first, then load its hints.`, "error");
  try {
    const bitmap = await createImageBitmap(file, { colorSpaceConversion: "none", premultiplyAlpha: "none" });
    const before = S.hintData.data.slice();
    hintCtx.globalCompositeOperation = "source-over";
    hintCtx.clearRect(0, 0, S.w, S.h);
    hintCtx.imageSmoothingEnabled = false;  // resized as pixels: no half-transparent, blended edges become hints
    hintCtx.drawImage(bitmap, 0, 0, S.w, S.h);
    hintCtx.imageSmoothingEnabled = true;
    const loaded = hintCtx.getImageData(0, 0, S.w, S.h);
    let transparent = false;
    for (let i = 3; !transparent && i < loaded.data.length; i += 4) transparent = loaded.data[i] < 255;
    if (!transparent) {  // a picture, not dabs on a transparent layer: every pixel would be a hint
      hintCtx.putImageData(S.hintData, 0, 0);
      return setStatus(`${file.name}: has no transparent pixels, so it is no hints PNG (dabs on a transparent ` +
                       "layer); your hints are as they were.", "error");
    }
    S.hintData = loaded;
    remember({ what: "load hints", before: { hints: before }, after: { hints: S.hintData.data.slice() }, bytes: 8 * S.w * S.h });
    setStatus(`${file.name}: hints loaded` + (bitmap.width !== S.w || bitmap.height !== S.h ? `, resized to ${S.w}×${S.h}` : "") +
              ". Colourise to apply them.");
  } catch (e) { setStatus(`${file.name}: the browser cannot read this image`, "error"); }
}

// ---- wiring ------------------------------------------------------------------------------------------

for (const b of document.querySelectorAll("[data-tool]")) b.addEventListener("click", () => setTool(b.dataset.tool));
for (const r of document.querySelectorAll("input[name=view]")) r.addEventListener("change", () => { S.view = r.value; render(); });
$("show-hints").addEventListener("change", () => { hintCanvas.style.opacity = $("show-hints").checked ? "" : "0"; });
$("brush").addEventListener("input", () => { $("brush-size").textContent = $("brush").value; });
$("undo").addEventListener("click", undo);
$("redo").addEventListener("click", redo);
$("clear").addEventListener("click", () => {
  if (!S.w) return;
  if (!hasHints()) return setStatus("No hints or fills to clear.");
  const before = S.hintData.data.slice();
  hintCtx.clearRect(0, 0, S.w, S.h);
  S.hintData = new ImageData(S.w, S.h);
  remember({ what: "clear hint strokes", before: { hints: before }, after: { hints: S.hintData.data.slice() }, bytes: 8 * S.w * S.h });
  for (const [r, colour] of [...S.locked]) {  // and remove every fill (the candidate's colour returns), each its own undo step
    remember({ what: `unlock region ${r}`, regions: [r], before: { locked: colour }, after: { locked: undefined }, bytes: 64 });
    setLock(r, undefined);
  }
});
$("zoom-in").addEventListener("click", () => zoomCentre(1.25));
$("zoom-out").addEventListener("click", () => zoomCentre(0.8));
$("zoom-fit").addEventListener("click", fit);
$("file").addEventListener("change", (ev) => { loadSketch(ev.target.files[0]); ev.target.value = ""; });  // the same file can be chosen again
$("hints-file").addEventListener("change", (ev) => { loadHints(ev.target.files[0]); ev.target.value = ""; });  // again too
viewport.addEventListener("dragover", (ev) => { ev.preventDefault(); viewport.classList.add("over"); });
viewport.addEventListener("dragleave", () => viewport.classList.remove("over"));
viewport.addEventListener("drop", (ev) => { ev.preventDefault(); viewport.classList.remove("over"); loadSketch(ev.dataTransfer.files[0]); });
window.addEventListener("resize", () => { if (S.w) fit(); });
window.addEventListener("beforeunload", (ev) => {
  // The work lives only in this page: ask before a reload or a closed tab loses it.
  if (!S.unsaved && !S.cut) return;
  ev.preventDefault();
  ev.returnValue = "";  // what older Chromium needs to ask
});
// The cut strip: a coloured keyframe and a cut's frames go to /api/colorize-sequence, and the key and
// the coloured frames come back side by side, each frame noting the regions the key had no match for
// (the network coloured those: where a colourist looks first).
function cutFigure(src, caption, isKey) {
  const fig = document.createElement("figure");
  const img = new Image();
  img.src = src; img.alt = caption;
  const note = document.createElement("figcaption");
  note.textContent = caption;
  if (isKey) fig.className = "key";
  fig.append(img, note);
  return fig;
}

// A coloured cut lives only in this page until "Frames (.zip)" keeps it: S.cut holds its PNGs until then.
function crc32(bytes) {
  let c = ~0;
  for (const b of bytes) { c ^= b; for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xEDB88320 & -(c & 1)); }
  return ~c >>> 0;
}

function record(size, fields) {
  // A ZIP header of `size` bytes: [offset, value, width 2 or 4] fields, little-endian, the rest zero.
  const view = new DataView(new ArrayBuffer(size));
  for (const [at, value, width] of fields) (width === 4 ? view.setUint32(at, value, true) : view.setUint16(at, value, true));
  return view;
}

function zipStored(files, when = new Date()) {
  // files: [{ name, bytes }] -> a ZIP blob with each file stored (PNGs are compressed already); names are
  // UTF-8 (flag bit 11, so a cut's Japanese frame names survive unzip) and dated `when` (DOS local time)
  const parts = [], central = [], enc = new TextEncoder(), UTF8 = 0x0800;
  const time = (when.getHours() << 11) | (when.getMinutes() << 5) | (when.getSeconds() >> 1);
  const date = ((Math.max(1980, when.getFullYear()) - 1980) << 9) | ((when.getMonth() + 1) << 5) | when.getDate();
  let offset = 0;
  for (const { name, bytes } of files) {
    const n = enc.encode(name), crc = crc32(bytes);
    const head = record(30, [[0, 0x04034b50, 4], [4, 20, 2], [6, UTF8, 2], [10, time, 2], [12, date, 2], [14, crc, 4],
                             [18, bytes.length, 4], [22, bytes.length, 4], [26, n.length, 2]]);
    const entry = record(46, [[0, 0x02014b50, 4], [4, 20, 2], [6, 20, 2], [8, UTF8, 2], [12, time, 2], [14, date, 2],
                              [16, crc, 4], [20, bytes.length, 4], [24, bytes.length, 4], [28, n.length, 2],
                              [42, offset, 4]]);
    parts.push(head, n, bytes); central.push(entry, n);
    offset += 30 + n.length + bytes.length;
  }
  const size = central.reduce((sum, p) => sum + p.byteLength, 0);
  const end = record(22, [[0, 0x06054b50, 4], [8, files.length, 2], [10, files.length, 2], [12, size, 4], [16, offset, 4]]);
  return new Blob([...parts, ...central, end], { type: "application/zip" });
}

async function downloadCut() {
  if (!S.cut) return;
  const files = await Promise.all(S.cut.frames.map(async (f) => ({
    name: f.name, bytes: new Uint8Array(await dataUrlBlob(f.image).arrayBuffer()) })));
  download(zipStored(files), `${S.cut.stem}_cut.zip`);
  S.cut = null;  // kept: leaving no longer asks for it
}

async function colourCut() {
  const key = $("cut-key").files[0], frames = [...$("cut-frames").files];
  if (!key || !frames.length) return;
  if (S.cut && !confirm("Colour another cut? The frames of the last one have not been downloaded, and would be lost.")) return;
  const status = $("cut-status");
  $("cut-run").disabled = true;
  status.className = ""; status.textContent = `Colouring ${frames.length} frames…`;
  const form = new FormData();
  form.append("key", key);
  for (const f of frames) form.append("frames", f);
  try {
    addLineThreshold(form);
    const r = await fetch("/api/colorize-sequence", { method: "POST", body: form });
    const body = await r.json().catch(() => ({ error: `server answered ${r.status}` }));
    if (!r.ok) throw new Error(body.error || `server answered ${r.status}`);
    const stemOf = (f) => f.name.replace(/\.[^.]*$/, "");
    // numbered in cut order, so the files sort as the frames play and two frames never share a name
    S.cut = { stem: stemOf(key), frames: body.frames.map((f, i) => ({
      name: `${String(i + 1).padStart(3, "0")}_${stemOf(frames[i])}.png`, image: f.image })) };
    $("cut-download").disabled = false;
    $("cut-strip").replaceChildren(cutFigure(URL.createObjectURL(key), "key", true), ...body.frames.map((f, i) =>
      cutFigure(f.image, `${i + 1}: ` + (f.unmatched.length ? `${f.unmatched.length} by the network` : "all from the key"))));
    status.textContent = `Done: ${body.frames.length} frames.` +
      ((body.warnings || []).length ? " " + body.warnings.join("; ") : "");
  } catch (e) {
    status.className = "error"; status.textContent = `Could not colour the cut: ${e.message}`;
  } finally {
    $("cut-run").disabled = false;
  }
}

for (const id of ["cut-key", "cut-frames"]) {
  $(id).addEventListener("change", () => { $("cut-run").disabled = !($("cut-key").files.length && $("cut-frames").files.length); });
}
$("cut-run").addEventListener("click", colourCut);
$("cut-download").addEventListener("click", downloadCut);
setTool("brush");
loadModelInfo();
