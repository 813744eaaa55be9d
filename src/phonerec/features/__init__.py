"""Audio -> model input: audio I/O (soundfile), dsp (every torchaudio call), log-mel + CMVN, the feature
cache on disk (store), SpecAugment."""
