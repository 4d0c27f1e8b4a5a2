// The demo page: audio in (microphone or file) -> 16 kHz mono WAV -> POST /v1/chat/completions
// with stream:true -> the answer appended as server-sent events arrive. No libraries.
"use strict";

const $ = (id) => document.getElementById(id);
const history = [];          // OpenAI-style messages of this conversation (multi-turn)
let clip = null;             // {data: base64, format} ready to send
let recorder = null;

// A server started with --api-key wants `Authorization: Bearer <key>` on /v1/; the page asks for the key on
// the first 401 and keeps it for this tab only.
function authorized(headers = {}) {
  const key = $("api-key").value.trim() || sessionStorage.getItem("voxlm-api-key");
  return key ? { ...headers, Authorization: `Bearer ${key}` } : headers;
}

function needKey(response) {
  if (response.status !== 401) return false;
  $("api-key").hidden = false;
  $("api-key").focus();
  return true;
}

function setStatus(text, isError = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", isError);
}

// Any audio the browser can decode -> 16 kHz mono 16-bit WAV (small, and every server build reads it).
async function toWav16k(blob) {
  const decoder = new OfflineAudioContext(1, 1, 16000);  // decodeAudioData resamples to the context's rate
  const audio = await decoder.decodeAudioData(await blob.arrayBuffer());
  const mono = new Float32Array(audio.length);
  for (let c = 0; c < audio.numberOfChannels; c++) {
    audio.getChannelData(c).forEach((v, i) => { mono[i] += v / audio.numberOfChannels; });
  }
  const out = new DataView(new ArrayBuffer(44 + mono.length * 2));
  const text = (at, s) => [...s].forEach((ch, i) => out.setUint8(at + i, ch.charCodeAt(0)));
  text(0, "RIFF"); out.setUint32(4, 36 + mono.length * 2, true); text(8, "WAVE");
  text(12, "fmt "); out.setUint32(16, 16, true); out.setUint16(20, 1, true); out.setUint16(22, 1, true);
  out.setUint32(24, 16000, true); out.setUint32(28, 32000, true); out.setUint16(32, 2, true); out.setUint16(34, 16, true);
  text(36, "data"); out.setUint32(40, mono.length * 2, true);
  mono.forEach((v, i) => out.setInt16(44 + i * 2, Math.max(-1, Math.min(1, v)) * 0x7fff, true));
  return new Blob([out.buffer], { type: "audio/wav" });
}

function base64(buffer) {
  const bytes = new Uint8Array(buffer);
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

async function useAudio(blob, name) {
  setStatus("preparing audio…");
  let format = "wav";
  try {
    blob = await toWav16k(blob);
  } catch (err) {  // the browser cannot decode it: send the file as it is and let the server try
    format = (name.split(".").pop() || "wav").toLowerCase();
  }
  clip = { data: base64(await blob.arrayBuffer()), format };
  $("preview").src = URL.createObjectURL(blob);
  $("preview").hidden = false;
  $("send").disabled = false;
  setStatus(`ready: ${name}`);
}

$("file").addEventListener("change", (e) => {
  const file = e.target.files[0];
  if (file) useAudio(file, file.name);
});

$("record").addEventListener("click", async () => {
  if (recorder && recorder.state === "recording") { recorder.stop(); return; }
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  } catch (err) {
    setStatus(`no microphone: ${err.message}`, true);
    return;
  }
  const chunks = [];
  recorder = new MediaRecorder(stream);
  recorder.ondataavailable = (e) => chunks.push(e.data);
  recorder.onstop = () => {
    stream.getTracks().forEach((t) => t.stop());
    $("record").textContent = "● Record";
    $("record").classList.remove("recording");
    useAudio(new Blob(chunks, { type: recorder.mimeType }), "recording.webm");
  };
  recorder.start();
  $("record").textContent = "■ Stop";
  $("record").classList.add("recording");
  setStatus("recording… press Stop when done");
});

function addTurn(role, text) {
  const div = document.createElement("div");
  div.className = `turn ${role}`;
  div.textContent = text;
  $("log").append(div);
  return div;
}

async function send() {
  const prompt = $("prompt").value.trim();
  const content = [{ type: "input_audio", input_audio: clip }];
  if (prompt) content.push({ type: "text", text: prompt });
  const message = { role: "user", content };
  addTurn("user", `[audio]${prompt ? " " + prompt : ""}`);
  const answer = addTurn("assistant", "");
  answer.setAttribute("data-testid", "answer");
  $("send").disabled = true;
  setStatus("waiting for the first token…");
  const started = performance.now();
  let firstToken = null;
  let text = "";
  try {
    const response = await fetch("/v1/chat/completions", {
      method: "POST",
      headers: authorized({ "Content-Type": "application/json" }),
      body: JSON.stringify({ messages: [...history, message], stream: true, stream_options: { include_usage: true } }),
    });
    if (!response.ok) {
      needKey(response);
      const body = await response.json().catch(() => ({}));
      throw new Error(body.error ? body.error.message : `HTTP ${response.status}`);
    }
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    let usage = null;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      const events = buffer.split("\n\n");
      buffer = events.pop();
      for (const e of events) {
        const data = e.replace(/^data: /, "");
        if (data === "[DONE]") continue;
        const chunk = JSON.parse(data);
        if (chunk.error) throw new Error(chunk.error.message);
        if (chunk.usage) usage = chunk.usage;
        const piece = chunk.choices.length ? chunk.choices[0].delta.content : "";
        if (piece) {
          if (firstToken === null) firstToken = performance.now() - started;
          text += piece;
          answer.textContent = text;
        }
      }
    }
    if ($("api-key").value.trim()) sessionStorage.setItem("voxlm-api-key", $("api-key").value.trim());
    history.push(message, { role: "assistant", content: text });
    const meta = document.createElement("span");
    meta.className = "meta";
    const seconds = (ms) => (ms / 1000).toFixed(2) + " s";
    meta.textContent = `first token ${firstToken === null ? "–" : seconds(firstToken)}, total ${seconds(performance.now() - started)}`
      + (usage ? `, ${usage.completion_tokens} tokens` : "");
    answer.append(meta);
    answer.classList.add("done");
    setStatus("");
  } catch (err) {
    answer.remove();
    setStatus(err.message, true);
  } finally {
    $("send").disabled = false;
  }
}

$("send").addEventListener("click", () => { if (clip) send(); });
$("reset").addEventListener("click", () => { history.length = 0; $("log").replaceChildren(); setStatus(""); });

function showModel() {
  fetch("/v1/models", { headers: authorized() })
    .then((r) => (needKey(r) ? Promise.reject() : r.json()))
    .then((m) => { $("model").textContent = m.data[0].id; })
    .catch(() => {});
}
$("api-key").addEventListener("change", showModel);
showModel();
