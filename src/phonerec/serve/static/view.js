// The view of one recording: time axis, waveform and spectrogram (canvases redrawn for the visible
// time span) over word and phone tiers (one element per segment, carrying data-phone / data-word,
// data-start, data-end and data-confidence exactly as the API gave them), zoom and scroll, and
// playback of a clicked segment.
import { spectrogram } from "./spectrogram.js";

const MAX_PX_PER_SECOND = 4000;
const TICK_STEPS = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600];

// Confidence 0..1 -> the segment's shade (more confident = darker blue).
export function confidenceColor(confidence) {
  const c = Math.max(0, Math.min(1, Number(confidence) || 0));
  return `rgba(42, 98, 201, ${(0.06 + 0.6 * c).toFixed(3)})`;
}

export class Viewer {
  // el: {viewport, content, sticky, axis, wave, spec, words, wordsLabel, phones, cursor}
  constructor(el) {
    this.el = el;
    this.zoom = 1;  // content width / viewport width
    this.maxFreq = 5000;
    this.player = null;
    el.viewport.addEventListener("scroll", () => this.draw(), { passive: true });
    window.addEventListener("resize", () => this.layout());
    el.viewport.addEventListener("wheel", (e) => this.wheel(e), { passive: false });
    for (const tier of [el.words, el.phones]) {
      tier.addEventListener("click", (e) => {
        const seg = e.target.closest(".seg");
        if (seg) this.play(Number(seg.dataset.start), Number(seg.dataset.end), seg);
      });
    }
  }

  // transcript: the API's JSON; samples: Float32Array of the audio the model heard, at `rate`.
  show(transcript, samples, rate) {
    this.stop();
    Object.assign(this, { transcript, samples, rate, buffer: null, peak: undefined });
    this.duration = transcript.duration || samples.length / rate;
    this.spec = spectrogram(samples, rate);
    const words = transcript.words || null;
    this.el.words.hidden = this.el.wordsLabel.hidden = !words;
    this.fillTier(this.el.words, words || [], "word");
    this.fillTier(this.el.phones, transcript.segments || [], "phone");
    this.zoom = 1;
    this.layout();
    this.el.viewport.scrollLeft = 0;
  }

  fillTier(tier, items, key) {
    const duration = this.duration;
    const nodes = items.map((item) => {
      const seg = document.createElement("div");
      seg.className = key === "word" ? "seg word" : "seg";
      seg.dataset[key] = item[key];
      seg.dataset.start = String(item.start);
      seg.dataset.end = String(item.end);
      seg.style.left = `${(100 * item.start) / duration}%`;
      seg.style.width = `${(100 * (item.end - item.start)) / duration}%`;
      seg.textContent = item[key];
      let title = `${item[key]}  ${item.start.toFixed(3)}–${item.end.toFixed(3)} s`;
      if (item.confidence !== undefined && item.confidence !== null) {
        seg.dataset.confidence = String(item.confidence);
        seg.style.background = confidenceColor(item.confidence);
        title += `, confidence ${item.confidence.toFixed(2)}`;
      }
      seg.title = title + " (click to hear)";
      return seg;
    });
    tier.replaceChildren(...nodes);
  }

  get width() { return this.el.viewport.clientWidth; }

  layout() {
    if (!this.samples) return;
    this.el.content.style.width = `${Math.round(this.width * this.zoom)}px`;
    this.el.sticky.style.width = `${this.width}px`;
    this.draw();
  }

  // Zoom by `factor` keeping the time under viewport x = `anchorX` in place.
  zoomBy(factor, anchorX = this.width / 2) {
    const maxZoom = Math.max(1, (this.duration * MAX_PX_PER_SECOND) / this.width);
    const anchorTime = this.timeAt(anchorX);
    this.zoom = Math.max(1, Math.min(maxZoom, this.zoom * factor));
    this.el.content.style.width = `${Math.round(this.width * this.zoom)}px`;
    this.el.viewport.scrollLeft = (anchorTime / this.duration) * this.width * this.zoom - anchorX;
    this.draw();
  }

  fit() { this.zoom = 1; this.layout(); }

  wheel(e) {
    if (!(e.ctrlKey || e.metaKey) || !this.samples) return;
    e.preventDefault();
    const x = e.clientX - this.el.viewport.getBoundingClientRect().left;
    this.zoomBy(e.deltaY < 0 ? 1.25 : 0.8, x);
  }

  // Seconds at viewport pixel x, and the visible span [t0, t1].
  timeAt(x) { return ((this.el.viewport.scrollLeft + x) / (this.width * this.zoom)) * this.duration; }
  span() { return [this.timeAt(0), this.timeAt(this.width)]; }

  draw() {
    if (!this.samples) return;
    const [t0, t1] = this.span();
    for (const canvas of [this.el.axis, this.el.wave, this.el.spec]) {
      const ratio = window.devicePixelRatio || 1;
      canvas.width = Math.max(1, Math.round(canvas.clientWidth * ratio));
      canvas.height = Math.max(1, Math.round(canvas.clientHeight * ratio));
    }
    this.drawAxis(this.el.axis, t0, t1);
    this.drawWave(this.el.wave, t0, t1);
    this.drawSpectrogram(this.el.spec, t0, t1);
    this.placeCursor();
  }

  drawAxis(canvas, t0, t1) {
    const ctx = canvas.getContext("2d");
    const { width: w, height: h } = canvas;
    const ratio = window.devicePixelRatio || 1;
    const step = TICK_STEPS.find((s) => (s / (t1 - t0)) * w >= 80 * ratio) || 600;
    ctx.fillStyle = "#5d6677";
    ctx.strokeStyle = "#9aa3b5";
    ctx.font = `${11 * ratio}px system-ui, sans-serif`;
    ctx.textBaseline = "middle";
    for (let t = Math.ceil(t0 / step) * step; t <= t1; t += step) {
      const x = Math.round(((t - t0) / (t1 - t0)) * w) + 0.5;
      ctx.beginPath(); ctx.moveTo(x, h * 0.6); ctx.lineTo(x, h); ctx.stroke();
      const label = step < 1 ? `${t.toFixed(step < 0.1 ? 2 : 1)} s` : `${Math.round(t)} s`;
      ctx.fillText(label, x + 3 * ratio, h * 0.4);
    }
  }

  drawWave(canvas, t0, t1) {
    const ctx = canvas.getContext("2d");
    const { width: w, height: h } = canvas;
    const { samples, rate } = this;
    ctx.strokeStyle = "#2a3d66";
    ctx.beginPath();
    let peak = 1e-4;  // scale to the loudest sample of the recording, so zooming keeps the scale
    if (this.peak === undefined) {
      for (let i = 0; i < samples.length; i++) peak = Math.max(peak, Math.abs(samples[i]));
      this.peak = peak;
    }
    const scale = (h / 2 - 2) / this.peak;
    for (let x = 0; x < w; x++) {
      const a = Math.max(0, Math.floor((t0 + ((t1 - t0) * x) / w) * rate));
      const b = Math.min(samples.length, Math.max(a + 1, Math.floor((t0 + ((t1 - t0) * (x + 1)) / w) * rate)));
      let lo = Infinity, hi = -Infinity;
      for (let i = a; i < b; i++) { const v = samples[i]; if (v < lo) lo = v; if (v > hi) hi = v; }
      if (lo === Infinity) continue;
      ctx.moveTo(x + 0.5, h / 2 - hi * scale);
      ctx.lineTo(x + 0.5, h / 2 - lo * scale + 1);
    }
    ctx.stroke();
  }

  drawSpectrogram(canvas, t0, t1) {
    const ctx = canvas.getContext("2d");
    const { width: w, height: h } = canvas;
    const { frames, bins, hop, binHz, data } = this.spec;
    const image = ctx.createImageData(w, h);
    const pixels = image.data;
    const binOfRow = Array.from({ length: h }, (_, y) => Math.min(bins - 1, Math.floor(((1 - y / h) * this.maxFreq) / binHz)));
    for (let x = 0; x < w; x++) {
      const f0 = Math.max(0, Math.floor((t0 + ((t1 - t0) * x) / w) / hop));
      const f1 = Math.min(frames, Math.max(f0 + 1, Math.floor((t0 + ((t1 - t0) * (x + 1)) / w) / hop)));
      for (let y = 0; y < h; y++) {
        let v = 0;  // the loudest frame under this pixel, so zoomed out nothing vanishes
        for (let f = f0; f < f1; f++) v = Math.max(v, data[f * bins + binOfRow[y]]);
        const p = 4 * (y * w + x);
        pixels[p] = pixels[p + 1] = pixels[p + 2] = 255 - v;
        pixels[p + 3] = 255;
      }
    }
    ctx.putImageData(image, 0, 0);
  }

  // Play [start, end] seconds of the recording; `seg` is outlined while it plays.
  play(start, end, seg = null) {
    this.stop();
    if (!this.context) this.context = new AudioContext();
    if (!this.buffer) {
      this.buffer = this.context.createBuffer(1, this.samples.length, this.rate);
      this.buffer.copyToChannel(this.samples, 0);
    }
    const source = this.context.createBufferSource();
    source.buffer = this.buffer;
    source.connect(this.context.destination);
    const begun = this.context.currentTime;
    source.start(0, start, Math.max(0.01, end - start));
    this.player = { source, start, end, begun, seg };
    if (seg) seg.classList.add("playing");
    source.onended = () => { if (this.player && this.player.source === source) this.stop(); };
    const tick = () => { if (this.player && this.player.source === source) { this.placeCursor(); requestAnimationFrame(tick); } };
    requestAnimationFrame(tick);
  }

  playView() { const [t0, t1] = this.span(); this.play(t0, t1); }

  stop() {
    if (!this.player) return;
    const { source, seg } = this.player;
    this.player = null;
    try { source.stop(); } catch (_) { /* already ended */ }
    if (seg) seg.classList.remove("playing");
    this.placeCursor();
  }

  placeCursor() {
    const cursor = this.el.cursor;
    if (!this.player) { cursor.hidden = true; return; }
    const { start, end, begun } = this.player;
    const t = Math.min(end, start + this.context.currentTime - begun);
    const [t0, t1] = this.span();
    cursor.hidden = t < t0 || t > t1;
    cursor.style.left = `${((t - t0) / (t1 - t0)) * this.width}px`;
  }
}
