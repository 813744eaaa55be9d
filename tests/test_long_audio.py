"""Long recordings in bounded memory: the network runs on pieces cut at pauses (transcribe.pause_cuts),
and what comes out has the length, and on a CNN away from the cuts the values, of one pass over the whole."""
import numpy as np
import pytest
import soundfile as sf
import torch

from phonerec import transcribe
from phonerec.inference import chunking
from phonerec.inference.chunking import pause_cuts
from phonerec.transcribe import Transcriber


def test_pause_cuts_fall_at_the_quietest_frame_and_on_the_subsampling_grid():
    feats = torch.zeros(1000, 4)
    pauses = [(150, 180), (300, 330), (450, 490)]
    for a, b in pauses:
        feats[a:b] = -20.0
    cuts = pause_cuts(feats, multiple=4, limit=200, window=80)
    assert cuts[0][0] == 0 and cuts[-1][1] == 1000
    assert all(a < b and b - a <= 200 for a, b in cuts) and all(b == c for (_, b), (c, _) in zip(cuts, cuts[1:]))
    for (_, cut), (a, b) in zip(cuts, pauses):  # each cut inside the pause in its window
        assert a <= cut < b and cut % 4 == 0, (cut, a, b)
    assert pause_cuts(feats, multiple=4, limit=1000) == [(0, 1000)]  # within the limit: one piece


@pytest.fixture(scope="module")
def long_file(trained_model, tmp_path_factory):
    """Four corpus utterances one after the other (their own silences between them), and the model."""
    import json
    data, exp = trained_model
    manifest = json.loads((data / "manifests" / "test.json").read_text())
    waves = [sf.read(manifest[u]["wav"], dtype="float32")[0] for u in sorted(manifest)[:4]]
    path = tmp_path_factory.mktemp("long") / "long.wav"
    sf.write(path, np.concatenate(waves), 16000)
    return path, exp


def test_a_long_input_goes_through_the_network_in_pieces_of_the_same_total_length(long_file, monkeypatch):
    path, exp = long_file
    tr = Transcriber(exp)
    wave = tr.load(path)
    whole_lp, whole_frames = tr.posteriors(wave)
    calls, cuts = [], []
    forward = tr._forward
    monkeypatch.setattr(tr, "_forward", lambda feats: calls.append(len(feats[0])) or forward(feats))
    monkeypatch.setattr(transcribe, "CHUNK_FRAMES", 400)
    monkeypatch.setattr(chunking, "pause_cuts", lambda f, m: cuts.extend(pause_cuts(f, m, 400, 200)) or cuts)
    lp, frames = tr.posteriors(wave)
    n = len(tr.fbank(wave))
    assert len(cuts) >= 3 and len(calls) == len(cuts) and cuts[-1][1] == n and max(b - a for a, b in cuts) <= 400
    assert all(c <= b - a + 2 * chunking.context_frames(tr.model.subsampling) for c, (a, b) in zip(calls, cuts))
    assert lp.shape == whole_lp.shape and (frames is None) == (whole_frames is None)
    # a CNN sees a few frames either side: far from the cuts the values are those of one pass
    ends = [b // tr.model.subsampling for _, b in cuts[:-1]]
    far = np.ones(len(lp), dtype=bool)
    for e in ends:
        far[max(0, e - 20):e + 20] = False
    assert np.allclose(lp[far], whole_lp[far], atol=1e-4)
    # and the transcript hardly changes: the cuts are in pauses
    chunked, whole = tr.transcript(lp, frames, len(wave)), tr.transcript(whole_lp, whole_frames, len(wave))
    assert chunked.phones == whole.phones


@pytest.mark.parametrize("subsampling", [2, 3, 8])
def test_pieces_join_on_output_frame_boundaries_whatever_the_subsampling(subsampling):
    """A model that subsamples by 3 (frame_stack 3) or 8 (strides [2, 2, 2]): the context before a piece is a
    whole number of output frames, so the pieces' posteriors line up with one pass over the whole input
    (100 frames of context would shift them by a frame at every cut)."""
    n = 7000
    feats = torch.arange(n, dtype=torch.float32)[:, None].repeat(1, 4)  # frame t holds t

    def forward(piece):  # output frame j of a piece is its input frame j * subsampling
        return piece[::subsampling, :1].numpy(), None

    lp, _ = chunking.long_posteriors(forward, feats, subsampling)
    assert np.array_equal(lp[:, 0], feats[::subsampling, 0].numpy())
    assert chunking.context_frames(subsampling) % subsampling == 0
