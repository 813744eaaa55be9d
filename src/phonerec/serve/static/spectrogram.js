// A wide-band spectrogram as Praat shows one by default: 5 ms hop, ~8 ms Hann window, +6 dB/octave
// pre-emphasis, 60 dB of dynamic range below the loudest bin, darker = more energy.

const FFT_SIZE = 256;
const DYNAMIC_RANGE_DB = 60;

// In-place radix-2 FFT of (re, im), length a power of two.
function fft(re, im) {
  const n = re.length;
  for (let i = 1, j = 0; i < n; i++) {  // bit-reversal permutation
    let bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) {
      [re[i], re[j]] = [re[j], re[i]];
      [im[i], im[j]] = [im[j], im[i]];
    }
  }
  for (let len = 2; len <= n; len <<= 1) {
    const angle = -2 * Math.PI / len;
    const wr = Math.cos(angle), wi = Math.sin(angle);
    for (let i = 0; i < n; i += len) {
      let ur = 1, ui = 0;
      for (let k = 0; k < len / 2; k++) {
        const a = i + k, b = a + len / 2;
        const tr = re[b] * ur - im[b] * ui, ti = re[b] * ui + im[b] * ur;
        re[b] = re[a] - tr; im[b] = im[a] - ti;
        re[a] += tr; im[a] += ti;
        [ur, ui] = [ur * wr - ui * wi, ur * wi + ui * wr];
      }
    }
  }
}

// samples: Float32Array (mono), rate: Hz -> {frames, bins, hop (s), binHz, data: Uint8Array(frames * bins)}
// with data[f * bins + k] = 0 (silent) .. 255 (loudest).
export function spectrogram(samples, rate) {
  const hopSamples = Math.max(1, Math.round(0.005 * rate));
  const win = Math.min(FFT_SIZE, Math.round(0.008 * rate));
  const bins = FFT_SIZE / 2;
  const frames = Math.max(1, Math.floor(samples.length / hopSamples));
  const hann = new Float32Array(win).map((_, i) => 0.5 - 0.5 * Math.cos(2 * Math.PI * i / (win - 1)));
  const db = new Float32Array(frames * bins);
  const re = new Float32Array(FFT_SIZE), im = new Float32Array(FFT_SIZE);
  let loudest = -Infinity;
  for (let f = 0; f < frames; f++) {
    const start = f * hopSamples - (win >> 1);  // frame f is centred on f * hop
    re.fill(0); im.fill(0);
    for (let i = 0; i < win; i++) {
      const t = start + i;
      if (t > 0 && t < samples.length) re[i] = (samples[t] - 0.97 * samples[t - 1]) * hann[i];
    }
    fft(re, im);
    for (let k = 0; k < bins; k++) {
      const v = 10 * Math.log10(re[k] * re[k] + im[k] * im[k] + 1e-12);
      db[f * bins + k] = v;
      if (v > loudest) loudest = v;
    }
  }
  const data = new Uint8Array(frames * bins);
  for (let i = 0; i < db.length; i++) {
    data[i] = Math.max(0, Math.min(255, Math.round(255 * (1 - (loudest - db[i]) / DYNAMIC_RANGE_DB))));
  }
  return { frames, bins, hop: hopSamples / rate, binHz: rate / FFT_SIZE, data };
}
