// botline recordings page: search, play, waveform with pause and chunk
// marks, metadata, download, erase. Plain JavaScript over the JSON API
// (GET /recordings, /recording/download/{id}[/metadata], DELETE
// /recording/{id}); the session cookie authenticates it.
"use strict";

const $ = (id) => document.getElementById(id);
let all = []; // the last search's chunks

function isoOrEmpty(v) {
  return v ? new Date(v).toISOString() : "";
}

async function search(ev) {
  if (ev) ev.preventDefault();
  const q = new URLSearchParams();
  for (const [k, v] of [["caller", $("caller").value.trim()], ["dialed", $("dialed").value.trim()],
                        ["from", isoOrEmpty($("from").value)], ["to", isoOrEmpty($("to").value)]]) {
    if (v) q.set(k, v);
  }
  $("status").textContent = "Searching…";
  const res = await fetch("/recordings?" + q, { credentials: "same-origin" });
  if (!res.ok) {
    $("status").textContent = "Search failed: " + res.status;
    return;
  }
  all = (await res.json()).recordings || [];
  all.sort((a, b) => b.chunkStartTime.localeCompare(a.chunkStartTime));
  const body = $("results").querySelector("tbody");
  body.replaceChildren();
  for (const md of all) {
    const tr = document.createElement("tr");
    tr.dataset.id = md.chunkDocumentId;
    for (const text of [new Date(md.chunkStartTime).toLocaleString(), md.callerNumber || "", md.dialedNumber || "",
                        (md.chunkDuration / 1000).toFixed(1) + " s", String(md.chunkIndex), md.endReason || "recording"]) {
      const td = document.createElement("td");
      td.textContent = text;
      tr.append(td);
    }
    tr.addEventListener("click", () => show(md, tr));
    body.append(tr);
  }
  $("status").textContent = all.length + " recording" + (all.length === 1 ? "" : "s");
}

// marks places a mark element at time t (seconds) of a file of length
// total seconds; the test and the eye find them by class.
function mark(cls, t, total, title, width) {
  const el = document.createElement("div");
  el.className = cls;
  el.style.left = Math.min(958, Math.max(0, Math.round(960 * t / total))) + "px";
  if (width) el.style.width = Math.max(2, Math.round(960 * width / total)) + "px";
  el.title = title;
  $("wave").append(el);
}

async function show(md, tr) {
  for (const r of document.querySelectorAll("tbody tr.selected")) r.classList.remove("selected");
  tr.classList.add("selected");
  const id = md.chunkDocumentId;
  const url = "/recording/download/" + encodeURIComponent(id);
  $("detail").hidden = false;
  $("title").textContent = "Recording " + md.recordingId + ", chunk " + md.chunkIndex;
  $("player").src = url;
  $("download").href = url;
  $("metadata-link").href = url + "/metadata";
  $("metadata").textContent = JSON.stringify(md, null, 2);
  $("erase").onclick = () => erase(id, tr);
  for (const m of $("wave").querySelectorAll(".pause-mark, .chunk-mark")) m.remove();

  const total = md.chunkDuration / 1000;
  // A skipped pause is absent from the file: its mark sits where the
  // file resumes, i.e. at its start minus the skipped pauses before it. A
  // pause kept as silence is a shaded span in place.
  const start = Date.parse(md.chunkStartTime);
  let skipped = 0;
  for (const p of md.pauseResumeIntervals || []) {
    const at = (Date.parse(p.startTime) - start) / 1000 - skipped;
    const secs = p.duration / 1000;
    if (p.pauseBehavior === "silence") {
      mark("pause-mark silent", at, total, "paused " + secs.toFixed(1) + " s (kept as silence)", secs);
    } else {
      mark("pause-mark", at, total, "paused " + secs.toFixed(1) + " s");
      skipped += secs;
    }
  }
  const siblings = all.filter((c) => c.recordingId === md.recordingId);
  if (md.chunkIndex > 0) mark("chunk-mark", 0, total, "continues chunk " + (md.chunkIndex - 1));
  if (siblings.some((c) => c.chunkIndex === md.chunkIndex + 1)) mark("chunk-mark", total, total, "continues in chunk " + (md.chunkIndex + 1));

  if (md.encryption) { // the gateway cannot read it: nothing to draw or play
    $("player").removeAttribute("src");
    const g = $("canvas").getContext("2d");
    g.clearRect(0, 0, $("canvas").width, $("canvas").height);
    g.fillStyle = "#57606a";
    g.font = "14px sans-serif";
    g.fillText("Encrypted to " + md.encryption.recipients.join(", ") + ": download it and run botline decrypt -identity KEYFILE", 10, 60);
    return;
  }
  await drawWave(url);
}

async function drawWave(url) {
  const canvas = $("canvas");
  const g = canvas.getContext("2d");
  g.clearRect(0, 0, canvas.width, canvas.height);
  const res = await fetch(url, { credentials: "same-origin" });
  if (!res.ok) return;
  const ctx = new (window.AudioContext || window.webkitAudioContext)();
  const audio = await ctx.decodeAudioData(await res.arrayBuffer());
  ctx.close();
  const data = audio.getChannelData(0);
  const step = Math.max(1, Math.floor(data.length / canvas.width));
  g.fillStyle = "#0969da";
  for (let x = 0; x < canvas.width; x++) {
    let peak = 0;
    for (let i = x * step; i < Math.min(data.length, (x + 1) * step); i++) peak = Math.max(peak, Math.abs(data[i]));
    const h = Math.max(1, peak * canvas.height);
    g.fillRect(x, (canvas.height - h) / 2, 1, h);
  }
  canvas.dataset.drawn = "true";
}

async function erase(id, tr) {
  if (!confirm("Erase this recording (audio and metadata)? This cannot be undone.")) return;
  const res = await fetch("/recording/" + encodeURIComponent(id), { method: "DELETE", credentials: "same-origin" });
  if (res.status === 204) {
    tr.remove();
    $("detail").hidden = true;
    $("status").textContent = "Erased " + id;
  } else {
    $("status").textContent = "Erase failed: " + res.status;
  }
}

$("search").addEventListener("submit", search);
search();
