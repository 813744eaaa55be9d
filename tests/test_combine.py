"""corpora.combine --drop-times: the named sources' rows lose their phone times, keep their phones."""
import json

import pytest

from phonerec.commands import prepare as prepare_command
from phonerec.corpora.combine import combine, parse_plan, parse_sources
from phonerec.corpora.manifest import write_manifest
from phonerec.corpora.problems import CorpusError


def _source(folder, speaker, n=2):
    """A prepared corpus's manifests whose rows all have phone times."""
    for split in ("train", "dev", "test"):
        rows = {f"{speaker}_{split}{k}": {"wav": f"/x/{speaker}{k}.wav", "duration": 0.2, "spk_id": speaker,
                                          "phn": "h# b ae h#", "wrd": "ba", "ground_truth_phn_ends": "800 1600 2400 3200"}
                for k in range(n)}
        write_manifest(folder / "manifests" / f"{split}.json", rows)
    return folder


def test_drop_times_removes_the_named_sources_times_and_nothing_else(tmp_path):
    real, synth = _source(tmp_path / "real", "r"), _source(tmp_path / "synth", "s")
    out = tmp_path / "both"
    assert prepare_command.main(["--combine", f"real={real}", f"synth={synth}", "--drop-times", "real",
                                 "--splits", "train=real:train,synth:train", "dev=real:dev", "test=real:test",
                                 "--out", str(out)]) == 0
    train = json.loads((out / "train.json").read_text())
    source = json.loads((real / "manifests" / "train.json").read_text())
    for utt, row in train.items():
        if utt.startswith("r_"):  # the phones and everything else kept, the times gone
            assert "ground_truth_phn_ends" not in row
            assert row == {k: v for k, v in source[utt].items() if k != "ground_truth_phn_ends"}
        else:
            assert row["ground_truth_phn_ends"] == "800 1600 2400 3200"
    assert len(train) == 4 and all("ground_truth_phn_ends" not in r for r in json.loads((out / "dev.json").read_text()).values())
    assert json.loads((out / "sources.json").read_text())["real"]["phone_times"] == "dropped"
    assert "phone_times" not in json.loads((out / "sources.json").read_text())["synth"]
    # the union (no plan) drops them too, in each source's own test_<NAME> as well
    manifests, _, info = combine(parse_sources([f"real={real}", f"synth={synth}"]), drop_times=["real"])
    assert not any("ground_truth_phn_ends" in r for s in ("train", "test_real") for r in manifests[s].values()
                   if r["spk_id"] == "r")
    assert all("ground_truth_phn_ends" in r for r in manifests["test_synth"].values())


def test_drop_times_names_an_unknown_source_and_needs_combine(tmp_path):
    real, synth = _source(tmp_path / "real", "r"), _source(tmp_path / "synth", "s")
    sources = parse_sources([f"real={real}", f"synth={synth}"])
    with pytest.raises(CorpusError, match="--drop-times rael: not a source \\(the sources: real, synth\\)"):
        combine(sources, parse_plan(["train=real:train", "dev=real:dev", "test=real:test"], ["real", "synth"]),
                drop_times=["rael"])
    with pytest.raises(SystemExit):
        prepare_command.main(["--timit", str(real), "--drop-times", "real", "--out", str(tmp_path / "x")])
    assert not (tmp_path / "x").exists()
