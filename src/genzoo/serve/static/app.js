// genzoo serve: playground, arena, leaderboard. Plain JS, no external resources.
"use strict";
const $ = (id) => document.getElementById(id);
const CSRF = document.querySelector('meta[name="csrf-token"]').content;
const TOKEN_NEEDED = document.querySelector('meta[name="token-needed"]').content === "true";
let models = [];

function headers() {
  const h = {"Content-Type": "application/json", "X-CSRF-Token": CSRF};
  if (TOKEN_NEEDED) h["X-Vote-Token"] = $("vote-token").value;
  return h;
}
async function post(url, body) {
  const r = await fetch(url, {method: "POST", headers: headers(), body: JSON.stringify(body), credentials: "same-origin"});
  if (!r.ok) {
    let msg = r.status + " " + r.statusText;
    try { msg = (await r.json()).error || msg; } catch (e) { /* not JSON */ }
    throw new Error(msg);
  }
  return r;
}
const num = (id) => $(id).value === "" ? null : Number($(id).value);

// ---- tabs ----
document.querySelectorAll(".tab").forEach((t) => t.addEventListener("click", () => {
  document.querySelectorAll(".tab").forEach((x) => x.classList.toggle("active", x === t));
  document.querySelectorAll(".panel").forEach((p) => p.classList.toggle("hidden", p.id !== t.dataset.tab));
  if (t.dataset.tab === "leaderboard") refreshBoard();
}));
if (TOKEN_NEEDED) $("token-box").classList.remove("hidden");

// ---- playground ----
// the <img id="PREFIX-image"> or <audio id="PREFIX-audio"> of a result: the one of `kind` shown with `src`
function showMedia(prefix, kind, src) {
  for (const k of ["image", "audio"]) {
    const el = $(prefix + "-" + k);
    el.classList.toggle("hidden", k !== kind);
    if (el.src.startsWith("blob:")) URL.revokeObjectURL(el.src);
    if (k === kind) el.src = src; else if (el.src) el.removeAttribute("src");
  }
}
async function loadModels() {
  models = (await (await fetch("/api/models")).json()).models;
  const sel = $("pg-model");
  sel.innerHTML = "";
  for (const m of models) {
    const o = document.createElement("option");
    o.value = m.name; o.textContent = `${m.name} (${m.kind})`;
    sel.appendChild(o);
  }
  const kinds = $("ar-kind");  // the arena offers the kinds that have runs
  for (const o of kinds.options) o.hidden = !models.some((m) => m.kind === o.value);
  if (kinds.selectedOptions[0].hidden) kinds.value = ([...kinds.options].find((o) => !o.hidden) || kinds.options[0]).value;
  syncKind();
}
function currentKind() {
  const m = models.find((x) => x.name === $("pg-model").value);
  return m ? m.kind : "text";
}
function syncKind() {
  const text = currentKind() === "text";
  $("pg-text-options").classList.toggle("hidden", !text);
  $("pg-image-options").classList.toggle("hidden", text);
}
$("pg-model").addEventListener("change", syncKind);

function setDownload(blob, name) {
  const a = $("pg-download");
  if (a.href) URL.revokeObjectURL(a.href);
  a.href = URL.createObjectURL(blob); a.download = name; a.textContent = "Download " + name;
  a.classList.remove("hidden");
}

async function readEvents(response, onEvent) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buf = "";
  for (;;) {
    const {value, done} = await reader.read();
    if (done) break;
    buf += decoder.decode(value, {stream: true});
    let cut;
    while ((cut = buf.indexOf("\n\n")) >= 0) {
      const chunk = buf.slice(0, cut); buf = buf.slice(cut + 2);
      const ev = /^event: (.*)$/m.exec(chunk), data = /^data: (.*)$/m.exec(chunk);
      if (ev && data) onEvent(ev[1], JSON.parse(data[1]));
    }
  }
}

async function generate() {
  $("pg-error").textContent = ""; $("pg-wm-result").textContent = "";
  $("pg-download").classList.add("hidden"); $("pg-go").disabled = true;
  $("pg-progress").classList.remove("hidden");
  const model = $("pg-model").value, seed = num("pg-seed") || 0;
  try {
    if (currentKind() === "text") {
      showMedia("pg", "text", null);
      const prompt = $("pg-prompt").value;
      const body = {model, prompt, seed, max_new_tokens: num("pg-max"), temperature: num("pg-temp"),
                    top_k: num("pg-topk"), top_p: num("pg-topp"), greedy: $("pg-greedy").checked};
      if ($("pg-wm").checked) Object.assign(body, {watermark_key: num("pg-wm-key"),
                                               watermark_gamma: num("pg-wm-gamma"), watermark_delta: num("pg-wm-delta")});
      const out = $("pg-output");
      out.textContent = prompt;
      const r = await post("/api/generate/text", body);
      await readEvents(r, (kind, data) => {
        if (kind === "token") out.textContent += data.token;
        else if (kind === "error") $("pg-error").textContent = data.error;
        else if (kind === "done") {
          out.dataset.done = "1";
          setDownload(new Blob([prompt + data.text], {type: "text/plain"}), "generation.txt");
          const wm = data.watermark;
          if (wm) $("pg-wm-result").textContent = wm.error ? "watermark: " + wm.error :
            `watermark detector: z = ${wm.z.toFixed(2)}, p = ${wm.p_value.toExponential(2)} (${wm.green}/${wm.scored} green)`;
        }
      });
    } else {
      $("pg-output").textContent = "";
      const body = {model, seed, n: num("pg-n"), steps: num("pg-steps"), guidance_scale: num("pg-guidance"),
                    sampler: $("pg-sampler").value || null};
      if ($("pg-image-prompt").value) body.prompt = $("pg-image-prompt").value;  // latent-diffusion
      const kind = currentKind();
      const blob = await (await post("/api/generate/media", body)).blob();
      showMedia("pg", kind, URL.createObjectURL(blob));
      setDownload(blob, kind === "audio" ? "samples.wav" : blob.type === "image/gif" ? "samples.gif" : "samples.png");
    }
  } catch (e) {
    $("pg-error").textContent = e.message;
  } finally {
    $("pg-go").disabled = false; $("pg-progress").classList.add("hidden");
  }
}
$("pg-go").addEventListener("click", generate);

// ---- arena ----
let battle = null;
function showSide(side, kind, value) {
  const pre = $("ar-out-" + side);
  pre.classList.toggle("hidden", kind !== "text");
  if (kind === "text") pre.textContent = $("ar-prompt").value + value;
  showMedia("ar-" + side, kind, kind === "text" ? null : value);
}
function voteButtons(on) { document.querySelectorAll("button.vote").forEach((b) => { b.disabled = !on; }); }
async function newBattle() {
  $("ar-error").textContent = ""; $("ar-result").textContent = ""; voteButtons(false);
  $("ar-name-a").textContent = "Model A"; $("ar-name-b").textContent = "Model B";
  $("ar-progress").classList.remove("hidden"); $("ar-go").disabled = true;
  try {
    const kind = $("ar-kind").value;
    const r = await post("/api/arena/battle", {kind, prompt: kind === "text" ? $("ar-prompt").value : "", seed: num("ar-seed") || 0});
    const b = await r.json();
    battle = b.battle;
    showSide("a", b.kind, b.a); showSide("b", b.kind, b.b);
    voteButtons(true);
  } catch (e) {
    $("ar-error").textContent = e.message;
  } finally {
    $("ar-progress").classList.add("hidden"); $("ar-go").disabled = false;
  }
}
async function vote(choice) {
  voteButtons(false);
  try {
    const v = await (await post("/api/arena/vote", {battle, vote: choice})).json();
    $("ar-name-a").textContent = "A: " + v.model_a; $("ar-name-b").textContent = "B: " + v.model_b;
    $("ar-result").textContent = `Vote ${v.vote_id} recorded (${v.outcome}).`;
  } catch (e) {
    $("ar-error").textContent = e.message; voteButtons(true);
  }
}
$("ar-go").addEventListener("click", newBattle);
document.querySelectorAll("button.vote").forEach((b) => b.addEventListener("click", () => vote(b.dataset.vote)));

// ---- leaderboard (refreshed every 3 s while shown) ----
async function refreshBoard() {
  const board = await (await fetch("/api/leaderboard")).json();
  $("lb-summary").textContent = board.votes ? `${board.votes} votes` : "No votes yet.";
  const body = $("lb-table").querySelector("tbody");
  body.innerHTML = "";
  board.rows.forEach((r, i) => {
    const tr = document.createElement("tr");
    const ci = r.bt_low === undefined ? "needs more votes" : `${r.bt_low.toFixed(0)} – ${r.bt_high.toFixed(0)}`;
    for (const cell of [i + 1, r.model, r.bt_rating.toFixed(0), ci, r.elo.toFixed(0), r.votes, (100 * r.win_rate).toFixed(0) + "%"]) {
      const td = document.createElement("td"); td.textContent = cell; tr.appendChild(td);
    }
    body.appendChild(tr);
  });
  if (board.bench && !$("lb-bench-frame").src) $("lb-bench-frame").src = board.bench;
  $("lb-bench").classList.toggle("hidden", !board.bench);
}
setInterval(() => { if (!$("leaderboard").classList.contains("hidden")) refreshBoard(); }, 3000);
loadModels();
