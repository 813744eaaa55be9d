// The page: choose or record audio, send it (with the text, if any) to the server, show the answer.
import { ApiError, exportAs, heardAudio, modelInfo, transcribe } from "./api.js";
import { Recorder } from "./recorder.js";
import { Viewer, confidenceColor } from "./view.js";

const $ = (id) => document.getElementById(id);
const state = { audio: null, name: "", transcript: null, limits: null };

const viewer = new Viewer({
  viewport: $("viewport"), content: $("content"), sticky: $("sticky"), axis: $("axis"), wave: $("wave"),
  spec: $("spec"), words: $("words"), wordsLabel: $("words-label"), phones: $("phones"), cursor: $("cursor"),
});

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

function showWarnings(warnings) {
  $("warnings").replaceChildren(...warnings.map((w) => Object.assign(document.createElement("li"), { textContent: w })));
  $("warnings").hidden = warnings.length === 0;
}

function setStatus(text) { $("status").textContent = text; }

function megabytes(bytes) { return `${(bytes / 2 ** 20).toFixed(1)} MiB`; }

function duration(seconds) { return seconds >= 120 ? `${Math.round(seconds / 60)} min` : `${seconds} s`; }

function chooseAudio(blob, name, description) {
  Object.assign(state, { audio: blob, name });
  $("source").textContent = description;
  $("run").disabled = false;
  showError("");
  const max = state.limits && state.limits.max_bytes;
  if (max && blob.size > max) showError(`${name} is ${megabytes(blob.size)}; this server takes at most ${megabytes(max)}.`);
}

function updateRunLabel() {
  $("run").textContent = $("text").value.trim() ? "Align the words" : "Recognise phones";
}

// 16-bit PCM WAV (what /api/audio sends) -> {samples: Float32Array, rate}
function parseWav(buffer) {
  const view = new DataView(buffer);
  const tag = (at) => String.fromCharCode(...new Uint8Array(buffer, at, 4));
  if (tag(0) !== "RIFF" || tag(8) !== "WAVE") throw new ApiError("the server's audio is not a WAV file");
  let rate = 16000;
  for (let at = 12; at + 8 <= buffer.byteLength;) {
    const size = view.getUint32(at + 4, true);
    if (tag(at) === "fmt ") rate = view.getUint32(at + 12, true);
    if (tag(at) === "data") {
      const n = Math.floor(Math.min(size, buffer.byteLength - at - 8) / 2);
      const samples = new Float32Array(n);
      for (let i = 0; i < n; i++) samples[i] = view.getInt16(at + 8 + 2 * i, true) / 32768;
      return { samples, rate };
    }
    at += 8 + size + (size % 2);
  }
  throw new ApiError("the server's WAV has no data");
}

async function run() {
  if (!state.audio) return;
  const text = $("text").value;
  const started = performance.now();
  $("run").disabled = true;
  showError("");
  showWarnings([]);
  setStatus(`${text.trim() ? "Aligning" : "Recognising"} ${state.name} (${megabytes(state.audio.size)})…`);
  try {
    const [transcript, wav] = await Promise.all([transcribe(state.audio, state.name, text),
                                                 heardAudio(state.audio, state.name)]);
    const { samples, rate } = parseWav(wav);
    state.transcript = transcript;
    $("result").hidden = false;
    viewer.show(transcript, samples, rate);
    $("download-wrd").hidden = !transcript.words;
    showWarnings(transcript.warnings || []);
    const ms = performance.now() - started;
    $("result").dataset.ms = ms.toFixed(0);  // page to tiers, read by scripts/serve_benchmark.py
    const n = transcript.segments.length;
    setStatus(`${n} phones${transcript.words ? `, ${transcript.words.length} words` : ""} in ` +
              `${transcript.duration.toFixed(2)} s of audio, shown in ${(ms / 1000).toFixed(2)} s.`);
    $("summary").textContent = `Phones: ${transcript.phones.join(" ")}`;
  } catch (e) {
    $("result").hidden = true;
    setStatus("");
    showError(e instanceof ApiError ? e.message : `the page failed: ${e.message}`);
  } finally {
    $("run").disabled = false;
  }
}

async function download(format) {
  if (!state.transcript) return;
  try {
    const { blob, name } = await exportAs(state.transcript, format);
    const link = Object.assign(document.createElement("a"), { href: URL.createObjectURL(blob), download: name });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 10000);
  } catch (e) {
    showError(e.message);
  }
}

const recorder = new Recorder({
  onTick: (s) => { $("source").textContent = `recording… ${s.toFixed(1)} s`; },
  onAutoStop: () => stopRecording(),
});

async function stopRecording() {
  if (!recorder.recording) return;
  const { blob, seconds } = await recorder.stop();
  $("record").textContent = "● Record";
  $("record").classList.remove("recording");
  const stamp = new Date().toISOString().slice(0, 19).replace(/[:T]/g, "-");
  chooseAudio(blob, `recording-${stamp}.wav`, `recording (${seconds.toFixed(1)} s)`);
  run();
}

async function toggleRecording() {
  if (recorder.recording) return stopRecording();
  try {
    await recorder.start();
    $("record").textContent = "■ Stop";
    $("record").classList.add("recording");
    showError("");
  } catch (e) {
    showError(`cannot record: ${e.message}`);
  }
}

async function showModel() {
  try {
    const info = await modelInfo();
    state.limits = info.limits;
    recorder.maxSeconds = info.limits.max_seconds;
    $("model-name").textContent = info.name;
    $("model-description").textContent = info.description || "";
    const rows = [["trained on", info.trained_on], ...info.figures, ...info.details,
                  ["file", info.file], ["limits", `uploads up to ${megabytes(info.limits.max_bytes)}, ` +
                                                  `${duration(info.limits.max_seconds)} of audio`]];
    $("model-info").replaceChildren(...rows.filter(([, v]) => v).flatMap(([k, v]) => [
      Object.assign(document.createElement("dt"), { textContent: k }),
      Object.assign(document.createElement("dd"), { textContent: v })]));
  } catch (e) {
    showError(`cannot describe the model: ${e.message}`);
  }
}

$("file").addEventListener("change", () => {
  const file = $("file").files[0];
  if (file) chooseAudio(file, file.name, `${file.name} (${megabytes(file.size)})`);
});
$("record").addEventListener("click", toggleRecording);
$("run").addEventListener("click", run);
$("text").addEventListener("input", updateRunLabel);
$("zoom-in").addEventListener("click", () => viewer.zoomBy(2));
$("zoom-out").addEventListener("click", () => viewer.zoomBy(0.5));
$("zoom-fit").addEventListener("click", () => viewer.fit());
$("play-view").addEventListener("click", () => viewer.playView());
$("stop").addEventListener("click", () => viewer.stop());
$("max-freq").addEventListener("change", (e) => { viewer.maxFreq = Number(e.target.value); viewer.draw(); });
document.querySelectorAll(".download").forEach((b) => b.addEventListener("click", () => download(b.dataset.format)));
document.querySelectorAll(".swatch").forEach((s) => { s.style.background = confidenceColor(s.dataset.level); });
updateRunLabel();
showModel();
