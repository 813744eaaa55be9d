"""Training-data checks done before training starts."""
import pytest
import torch

from phonerec.config import ModelConfig
from phonerec.data import PhoneDataset
from phonerec.experiment.train import drop_unalignable
from phonerec.features.fbank import FeatureCache
from phonerec.models import MODELS, build_model
from phonerec.models.cnn import CNNConfig
from phonerec.models.crdnn import CRDNNConfig
from phonerec.models.lstm import LSTMConfig
from phonerec.phones import PhoneTokenizer

# tiny models with 4x time subsampling (a model added to MODELS needs an entry here)
TINY = {"crdnn": CRDNNConfig(cnn_channels=[4, 4], time_strides=[2, 2], lstm_hidden=8, lstm_layers=1, proj_dim=8),
        "cnn": CNNConfig(cnn_channels=[4, 4], time_strides=[2, 2], cnn_blocks=1),
        "lstm": LSTMConfig(frame_stack=4, lstm_hidden=8, lstm_layers=1)}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_output_lengths_match_the_forward_pass(name):
    model = build_model(ModelConfig(name, TINY[name]), 16, 5).eval()
    lens = torch.tensor([40, 23, 22, 21, 20, 5, 1])
    with torch.no_grad():
        log_probs, out_lens = model(torch.randn(len(lens), 40, 16), lens)
    assert torch.equal(out_lens, model.output_lengths(lens))
    assert log_probs.shape[1] == int(out_lens.max())
    assert out_lens.tolist() == [10, 6, 6, 6, 5, 2, 1]  # ceil(T / 4) for stride-2 k3 convs and stacking


@pytest.mark.parametrize("name", ["crdnn", "lstm"])
def test_utterances_too_short_for_ctc_are_reported_and_excluded(caplog, name):
    # 6 target phones (sil s ih k s sil, no repeats) need 6 output frames; 4x subsampling gives
    # 22 -> 6 frames (kept, though 22 // 4 = 5) and 20 -> 5 frames (excluded)
    ids = ["u_ok", "u_edge", "u_short"]
    lengths = torch.tensor([40, 22, 20])
    cache = FeatureCache(ids, lengths, torch.zeros(82, 4, dtype=torch.float16), {})
    manifest = {u: {"phn": "h# s ih k s h#"} for u in ids}
    cmvn = {"mean": [0.0] * 4, "std": [1.0] * 4}
    ds = PhoneDataset(cache, manifest, PhoneTokenizer.for_set(48), 48, cmvn)
    model = build_model(ModelConfig(name, TINY[name]), 4, 49)
    with caplog.at_level("WARNING"):
        dropped = drop_unalignable(ds, model, split="train")
    assert dropped == ["u_short"] and ds.utt_ids == ["u_ok", "u_edge"] and len(ds) == 2
    assert "u_short" in caplog.text and "too short for CTC" in caplog.text
    feats, target, utt = ds[1]
    assert utt == "u_edge" and feats.shape == (22, 4) and len(target) == 6


def _tiny_data(data_dir, cfg, n_utts=6):
    """data_dir/manifests/{train,dev}.json and fbank/{train,dev}.pt, cmvn.json of random features."""
    from phonerec.corpora.manifest import write_manifest
    from phonerec.features.fbank import _cache_config, save_cmvn

    g = torch.Generator().manual_seed(0)
    for split in ("train", "dev"):
        ids = [f"spk{i}_{split}{i}" for i in range(n_utts)]
        lengths = torch.tensor([60 + 10 * i for i in range(n_utts)])
        feats = torch.randn(int(lengths.sum()), cfg.features.n_mels, generator=g).half()
        FeatureCache(ids, lengths, feats, _cache_config(cfg.features)).save(data_dir / "fbank" / f"{split}.pt")
        write_manifest(data_dir / "manifests" / f"{split}.json",
                       {u: {"wav": f"/none/{u}.wav", "duration": 1.0, "spk_id": u.split("_")[0],
                            "phn": "h# s ih k s h#"} for u in ids})
    n = cfg.features.n_mels
    save_cmvn({"mean": [0.0] * n, "std": [1.0] * n}, data_dir / "fbank" / "cmvn.json")


def test_build_training_carries_every_train_setting(tmp_path):
    """The one builder of training (train and the benchmark use it): catches a TrainConfig setting
    that does not reach the trainer, optimizer, loader or checkpoints (the benchmark's own copy
    used to drop max_bad_steps)."""
    from phonerec.config import load_config, to_dict
    from phonerec.experiment.train import build_training

    cfg = load_config(None, ["model.name=lstm", "model.lstm.lstm_hidden=8", "model.lstm.lstm_layers=1",
                             "features.n_mels=8", "data.max_frames=200", "train.epochs=3", "train.lr=0.01",
                             "train.weight_decay=0.1", "train.schedule=noam", "train.warmup_steps=7",
                             "train.plateau_factor=0.5", "train.plateau_patience=2", "train.early_stop_patience=4",
                             "train.grad_clip=1.5", "train.amp=false", "train.seed=3", "train.average=6",
                             "train.keep_checkpoints=2", "train.max_bad_steps=9", "train.specaugment.time_masks=1"])
    _tiny_data(tmp_path / "data", cfg)
    run = build_training(cfg, tmp_path / "data", tmp_path / "exp", device="cpu")
    t, c = cfg.train, run.trainer.cfg
    assert (c.epochs, c.lr, c.schedule, c.warmup_steps, c.grad_clip, c.amp) == (3, 0.01, "noam", 7, 1.5, False)
    assert (c.plateau_factor, c.plateau_patience, c.early_stop_patience) == (0.5, 2, 4)
    assert c.keep_checkpoints == 6 and c.max_bad_steps == 9 and (c.monitor, c.mode) == ("dev_per", "min")
    group = run.optimizer.param_groups[0]
    assert (group["lr"], group["weight_decay"]) == (t.lr, t.weight_decay) and run.trainer.optimizer is run.optimizer
    batches, lengths = run.train_loader.batch_sampler.batches, run.train_set.lengths
    assert run.train_loader.batch_sampler.seed == 3 and len(batches) > 1
    assert all(max(lengths[i] for i in b) * len(b) <= 200 for b in batches)  # data.max_frames
    assert run.trainer.extra["config"] == to_dict(cfg) and run.trainer.ckpt_dir == tmp_path / "exp" / "checkpoints"
    assert run.model is run.core and run.core.subsampling == 2 and len(run.train_set) == 6
    assert not (tmp_path / "exp").exists()  # building writes nothing


def test_load_split_normalises_each_utterance_by_its_own_mean_when_the_config_says_so(tmp_path):
    """features.cmvn reaches the dataset training and decoding read (global: the train set's mean only)."""
    from phonerec.config import load_config
    from phonerec.experiment.train import load_split
    from phonerec.features.fbank import load_cmvn

    cfg = load_config(None, ["features.n_mels=8"])
    _tiny_data(tmp_path / "data", cfg)
    cmvn, tok = load_cmvn(tmp_path / "data" / "fbank" / "cmvn.json"), PhoneTokenizer.for_set(48)

    def utterance_means(mode):
        ds = load_split(tmp_path / "data", "train", load_config(None, ["features.n_mels=8", f"features.cmvn={mode}"]),
                        tok, cmvn)
        return torch.stack([ds[i][0].mean(0) for i in range(len(ds))])
    assert utterance_means("utterance").abs().max() < 1e-5
    assert utterance_means("global").abs().max() > 0.05  # 60-110 random frames: their means are not 0


def test_init_from_starts_training_from_another_models_weights(tmp_path):
    """train.init_from (stage 3's next round): every weight of the earlier model arrives, a frame head it
    lacks keeps its fresh weights, and a model with other phones or features is refused, naming it."""
    from phonerec.config import load_config, to_dict
    from phonerec.experiment.train import build_training, start_from
    from phonerec.training.checkpoint import CheckpointError
    from tests.conftest import export_untrained

    settings = ["model.name=lstm", "model.lstm.lstm_hidden=8", "model.lstm.lstm_layers=1", "features.n_mels=8"]
    cfg = load_config(None, settings)
    _tiny_data(tmp_path / "data", cfg)
    tok, cmvn = PhoneTokenizer.for_set(48), {"mean": [0.0] * 8, "std": [1.0] * 8}
    torch.manual_seed(123)
    earlier = build_model(cfg.model, 8, len(tok))
    path = export_untrained(earlier, {"config": to_dict(cfg), "phones": tok.phones, "cmvn": cmvn}, tmp_path / "r0")

    fresh = build_training(cfg, tmp_path / "data", tmp_path / "exp", device="cpu").core
    started = build_training(load_config(None, settings + [f"train.init_from={path}"]), tmp_path / "data",
                             tmp_path / "exp", device="cpu").core
    for k, v in earlier.state_dict().items():
        assert torch.equal(started.state_dict()[k], v), k
    assert not all(torch.equal(fresh.state_dict()[k], v) for k, v in earlier.state_dict().items())

    torch.manual_seed(0)
    headed = build_model(cfg.model, 8, len(tok), frame_head=True)
    head_before = {k: v.clone() for k, v in headed.state_dict().items() if k.startswith("frame_head.")}
    start_from(headed, path, tok, cmvn)
    assert head_before and all(torch.equal(headed.state_dict()[k], v) for k, v in head_before.items())
    assert all(torch.equal(headed.state_dict()[k], v) for k, v in earlier.state_dict().items())

    with pytest.raises(CheckpointError, match="other output phones") as e:
        start_from(build_model(cfg.model, 8, len(PhoneTokenizer.for_set(39))), path, PhoneTokenizer.for_set(39), cmvn)
    assert str(path) in str(e.value)
    with pytest.raises(CheckpointError, match="CMVN"):
        start_from(headed, path, tok, {"mean": [0.5] * 8, "std": [1.0] * 8})
    with pytest.raises(CheckpointError, match="features.cmvn"):
        start_from(headed, path, tok, cmvn, "utterance")
    wider = load_config(None, ["model.name=lstm", "model.lstm.lstm_hidden=16", "model.lstm.lstm_layers=1"])
    with pytest.raises(CheckpointError, match="does not fit"):
        start_from(build_model(wider.model, 8, len(tok)), path, tok, cmvn)


def test_training_records_the_phones_its_labels_never_have_and_loading_restores_them(tmp_path):
    """model.pt's stand_ins: what forced alignment scores in place of a phone the model never learned."""
    from phonerec.config import load_config
    from phonerec.experiment.train import build_training
    from phonerec.inference.model import load_model
    from tests.conftest import export_untrained

    cfg = load_config(None, ["model.name=lstm", "model.lstm.lstm_hidden=8", "model.lstm.lstm_layers=1",
                             "features.n_mels=8"])
    _tiny_data(tmp_path / "data", cfg)  # every label is "h# s ih k s h#"
    run = build_training(cfg, tmp_path / "data", tmp_path / "exp", device="cpu")
    found = run.extra["stand_ins"]
    assert found["ix"] == "ih" and found["epi"] == "sil" and found["cl"] == "sil" and "z" not in found
    assert not {"s", "ih", "k", "sil"} & set(found)  # trained phones keep their own scores
    export_untrained(run.core, run.extra, tmp_path / "model")
    _, _, tokenizer, _ = load_model(tmp_path / "model", "cpu")
    assert tokenizer.stand_ins == found and tokenizer.align_ids(["ix"]) == tokenizer.encode(["ih"])


def test_an_average_names_the_checkpoints_it_averaged(tmp_path, caplog):
    """export_model averages the best epochs whose checkpoints exist and says which: a pruned one is neither
    averaged nor named in model.pt's source."""
    import types

    import torch

    from phonerec.experiment.train import export_model
    from phonerec.training import checkpoint

    ckpt = tmp_path / "checkpoints"
    for epoch, value in ((1, 1.0), (3, 3.0)):
        checkpoint.save({"model": {"w": torch.tensor([value])}}, ckpt / f"epoch-{epoch}.pt")
    trainer = types.SimpleNamespace(best_epochs=lambda n: [{"epoch": 3}, {"epoch": 2}, {"epoch": 1}][:n])
    export_model(trainer, tmp_path, {}, average=3)
    model = checkpoint.load(tmp_path / "model.pt")
    assert model["source"] == "average of epochs [3, 1]" and torch.equal(model["model"]["w"], torch.tensor([2.0]))
    assert "epochs [2] are missing" in caplog.text


def test_dev_loss_is_the_mean_over_the_utterances_it_counts():
    """An utterance CTC cannot align (infinite loss) is out of the sum and out of the count."""
    import torch

    from phonerec.data import Batch
    from phonerec.experiment.train import decode_loader
    from phonerec.phones import PhoneTokenizer

    class Uniform(torch.nn.Module):
        """Equal posteriors over 4 classes; output length = input length."""

        def forward(self, feats, lens):
            return torch.full((*feats.shape[:2], 4), -torch.log(torch.tensor(4.0))), lens

    targets = torch.tensor([[1, 2, 0], [1, 2, 3]])
    batch = Batch(torch.zeros(2, 6, 1), torch.tensor([6, 2]), targets, torch.tensor([2, 3]), ["ok", "short"])
    hyps, loss_sum, n = decode_loader(Uniform(), [batch], PhoneTokenizer.for_set(48), "cpu")
    assert n == 1 and set(hyps) == {"ok", "short"}  # 2 frames cannot emit 3 phones: infinite, not counted
    assert torch.isfinite(torch.tensor(loss_sum)) and loss_sum > 0
