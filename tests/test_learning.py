"""The real path learns phones: synthetic TIMIT audio -> prepare -> log-mel features + CMVN ->
dataset -> CTC model trained by the trainer -> greedy decode -> PER on 39 phones.

A recognizer that ignores the audio scores the `baseline` command's unigram PER (phones drawn
from the train distribution at the train phone rate): 87.08 % on this test split. A small CNN
(0.2 M parameters, conftest.trained_model) trained for 25 short epochs on the session corpus's 64 training utterances
must beat it by a wide margin on the speaker-disjoint core-test split. Measured on the 2-core
machine with one thread: test PER 49.15 / 48.08 / 48.59 % for seeds 0 / 1 / 2 (38-39 points
under the baseline), 8 s of training; 15 epochs gave 31-35 points. The assertion asks for 25
points: it holds across seeds, but not for a pipeline that has lost the link between audio and
labels. Checked by breaking the library: each utterance trained on the next one's labels gives
78.59 %, a tokenizer that decodes ids to the wrong phones 92.41 %.
"""
import re

from phonerec.commands import baseline
from phonerec.corpora.manifest import read_manifest
from phonerec.evaluation.per import read_hyp_file, score

MARGIN = 25.0  # percentage points under the unigram baseline


def test_trained_model_beats_the_unigram_baseline_by_a_wide_margin(trained_model, capsys):
    data, exp = trained_model
    capsys.readouterr()
    assert baseline.main(["--data", str(data), "--splits", "test"]) == 0
    printed = capsys.readouterr().out
    unigram = float(re.search(r"test unigram baseline PER ([0-9.]+) %", printed).group(1))
    assert unigram > 70  # a recognizer that ignores the audio is far off (about 86 %)

    manifest = read_manifest(data / "manifests" / "test.json", check_files=False)
    refs = {u: r["phn"].split() for u, r in manifest.items()}  # scored as the baseline is: same function
    hyps = read_hyp_file(exp / "decode_test" / "hyp.txt")
    model_per = score(refs, hyps)[0].per
    print(f"test PER {model_per:.2f} % (unigram baseline {unigram:.2f} %)")
    assert model_per < unigram - MARGIN, f"model {model_per:.2f} % vs unigram baseline {unigram:.2f} %"
