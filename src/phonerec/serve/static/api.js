// The server's API, as the page calls it (scripts call the same URLs: docs/serve.md).

// An error the server answered with a sentence ({"error": ...}), or a network failure, as one message.
export class ApiError extends Error {}

async function answer(response) {
  if (response.ok) return response;
  let message = `the server answered ${response.status} ${response.statusText}`;
  try {
    const body = await response.json();
    if (body.error) message = body.error;
  } catch (_) { /* not JSON: keep the status line */ }
  throw new ApiError(message);
}

async function post(url, body) {
  let response;
  try {
    response = await fetch(url, { method: "POST", body });
  } catch (e) {
    throw new ApiError(`cannot reach the server (${e.message}): is phonerec serve still running?`);
  }
  return answer(response);
}

function form(audio, name, fields = {}) {
  const data = new FormData();
  data.append("audio", audio, name);
  for (const [key, value] of Object.entries(fields)) data.append(key, value);
  return data;
}

// {file, duration, phones, segments: [{phone, start, end, confidence}], words?, warnings}
export async function transcribe(audio, name, text) {
  const fields = text && text.trim() ? { text } : {};
  return (await post("/api/transcribe", form(audio, name, fields))).json();
}

// The recording as the model hears it: mono WAV at its sample rate (any format the server reads).
export async function heardAudio(audio, name) {
  return (await post("/api/audio", form(audio, name))).arrayBuffer();
}

// What /api/transcribe gave, rendered by the server as a file (textgrid, json, phn, wrd) -> Blob.
export async function exportAs(transcript, format) {
  const body = JSON.stringify({ transcript, format });
  const response = await post("/api/export", new Blob([body], { type: "application/json" }));
  const disposition = response.headers.get("Content-Disposition") || "";
  const name = (disposition.match(/filename="([^"]+)"/) || [])[1] || `transcript.${format}`;
  return { blob: await response.blob(), name };
}

export async function modelInfo() {
  return (await answer(await fetch("/api/model"))).json();
}
