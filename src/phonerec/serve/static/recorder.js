// Recording from the microphone in the browser, handed to the server as a 16-bit PCM WAV file (a
// format every reader takes; MediaRecorder's webm/opus is not one soundfile reads).

// Float32Array samples in -1..1 at `rate` -> a WAV Blob (mono, 16-bit PCM).
export function encodeWav(samples, rate) {
  const buffer = new ArrayBuffer(44 + 2 * samples.length);
  const view = new DataView(buffer);
  const text = (offset, s) => [...s].forEach((c, i) => view.setUint8(offset + i, c.charCodeAt(0)));
  text(0, "RIFF"); view.setUint32(4, 36 + 2 * samples.length, true); text(8, "WAVE");
  text(12, "fmt "); view.setUint32(16, 16, true); view.setUint16(20, 1, true); view.setUint16(22, 1, true);
  view.setUint32(24, rate, true); view.setUint32(28, 2 * rate, true); view.setUint16(32, 2, true);
  view.setUint16(34, 16, true); text(36, "data"); view.setUint32(40, 2 * samples.length, true);
  for (let i = 0; i < samples.length; i++) {
    const s = Math.max(-1, Math.min(1, samples[i]));
    view.setInt16(44 + 2 * i, Math.round(s * 32767), true);
  }
  return new Blob([buffer], { type: "audio/wav" });
}

// start() asks for the microphone and records until stop(), which resolves to {blob (WAV), seconds}.
// `maxSeconds`: recording stops by itself there (the server's limit); onTick(seconds) while recording.
export class Recorder {
  constructor({ maxSeconds = 600, onTick = () => {}, onAutoStop = () => {} } = {}) {
    Object.assign(this, { maxSeconds, onTick, onAutoStop });
    this.context = null;
  }

  async start() {
    if (!navigator.mediaDevices || !window.AudioWorkletNode) {
      throw new Error("this browser cannot record here: the microphone needs http://127.0.0.1 or " +
                      "http://localhost (or https); upload a file instead");
    }
    this.stream = await navigator.mediaDevices.getUserMedia({ audio: { channelCount: 1, echoCancellation: false,
                                                                       noiseSuppression: false, autoGainControl: false } });
    const context = new AudioContext();
    try {
      await context.audioWorklet.addModule("/static/capture-worklet.js");
    } catch (e) {
      this.stream.getTracks().forEach((track) => track.stop());
      context.close();
      throw e;
    }
    this.chunks = [];
    this.length = 0;
    const source = context.createMediaStreamSource(this.stream);
    const node = new AudioWorkletNode(context, "capture", { numberOfOutputs: 0 });
    node.port.onmessage = (event) => {
      if (!this.context) return;  // stopped: the last blocks in flight are dropped
      this.chunks.push(event.data);
      this.length += event.data.length;
      const seconds = this.length / context.sampleRate;
      this.onTick(seconds);
      if (seconds >= this.maxSeconds) this.onAutoStop();
    };
    this.context = context;
    source.connect(node);
  }

  get recording() { return this.context !== null; }

  async stop() {
    const context = this.context;
    this.context = null;  // not recording from here on, even while the context closes
    const rate = context.sampleRate;
    this.stream.getTracks().forEach((track) => track.stop());
    await context.close();
    const samples = new Float32Array(this.length);
    let offset = 0;
    for (const chunk of this.chunks) { samples.set(chunk, offset); offset += chunk.length; }
    this.chunks = [];
    return { blob: encodeWav(samples, rate), seconds: samples.length / rate };
  }
}
