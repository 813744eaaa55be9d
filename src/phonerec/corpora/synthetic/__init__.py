"""The synthetic corpus: a small corpus in the exact LDC TIMIT layout, made from scratch.

Real TIMIT is licensed, so the recipe and every test run on this stand-in. It keeps
what the pipeline depends on: the TRAIN/TEST/DR/speaker/utterance tree, SA/SX/SI
sentence kinds, the standard core-test and dev speaker names, NIST SPHERE audio,
.PHN/.WRD/.TXT labels with TIMIT's 61 phones and labelling conventions (closures
before releases, flaps, glottal stops, reduced vowels, pauses, epenthetic silence).

The audio is a vectorised source-filter synthesis: a glottal pulse train and two
noise sources, shaped frame by frame (STFT) by formant resonators or fricative bands,
gated sample by sample. Phones that are close in real speech get close parameters and
speakers, tokens, noise and channels vary, so a recogniser can learn the phones but
cannot reach zero error.

Everything is a function of the seed: each utterance draws from its own generator
keyed by (seed, speaker, utterance), so files are byte-identical whatever the order
or the number of worker processes.
"""

from phonerec.corpora.synthetic.text import (
    AFFRICATE_CLOSURES,
    CLOSURE_OF,
    CORE_TEST_SPEAKERS,
    DEV_SPEAKERS,
    LEXICON,
    PHONES_61,
    SA_TEXTS,
    SAMPLE_RATE,
    STOP_CLOSURES,
    Speaker,
    Utterance,
    plan_corpus,
    pronounce,
    sentence_words,
    utterance_phones,
)
from phonerec.corpora.synthetic.voice import SynthUtterance, synthesize_utterance
from phonerec.corpora.synthetic.writer import generate_corpus, read_sphere_header, write_speaker, write_sphere

__all__ = ["AFFRICATE_CLOSURES", "CLOSURE_OF", "CORE_TEST_SPEAKERS", "DEV_SPEAKERS", "LEXICON", "PHONES_61", "SA_TEXTS",
           "SAMPLE_RATE", "STOP_CLOSURES", "Speaker", "SynthUtterance", "Utterance", "generate_corpus", "plan_corpus",
           "pronounce", "read_sphere_header", "sentence_words", "synthesize_utterance", "utterance_phones",
           "write_speaker", "write_sphere"]
