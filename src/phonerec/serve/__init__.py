"""`phonerec serve`: a local web page over the Python API (Recognizer), to record or upload speech and
look at its phones: waveform, spectrogram, phone and word tiers, TextGrid/JSON/.phn downloads.

app.py is the HTTP layer (Starlette), engine.py turns one upload into one Transcript under the server's
limits, model_info.py describes the model for the page, static/ is the page itself (plain JS modules,
shipped in the package: no CDN, no build step).
"""
