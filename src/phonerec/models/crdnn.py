"""CRDNN: 2-D CNN front end with time/frequency subsampling + BiLSTM (with a skip path) + DNN + output.

The shape of SpeechBrain's TIMIT CRDNN, sized by the config (~10 M parameters at full size).
"""
from __future__ import annotations

import torch
from torch import nn

from phonerec.model_config import CRDNNConfig
from phonerec.models.common import AcousticModel, BiLSTM, conv_out_lens


class CRDNN(AcousticModel):
    Config = CRDNNConfig

    def __init__(self, cfg: CRDNNConfig, n_feats: int, n_classes: int):
        super().__init__()
        k = cfg.cnn_kernel
        blocks, in_ch, freq = [], 1, n_feats
        for ch, stride in zip(cfg.cnn_channels, cfg.time_strides):
            blocks.append(nn.Sequential(
                nn.Conv2d(in_ch, ch, k, stride=(stride, 2), padding=k // 2),
                nn.BatchNorm2d(ch), nn.LeakyReLU(),
                nn.Conv2d(ch, ch, k, padding=k // 2),
                nn.BatchNorm2d(ch), nn.LeakyReLU(),
            ))
            in_ch, freq = ch, (freq + 2 * (k // 2) - k) // 2 + 1
        self.cnn = nn.ModuleList(blocks)
        self.strides, self.kernel = list(cfg.time_strides), k
        self.subsampling = int(torch.tensor(self.strides).prod())
        self.proj_in = nn.Sequential(nn.Linear(in_ch * freq, cfg.lstm_hidden), nn.Dropout(cfg.dropout))
        self.rnn = BiLSTM(cfg.lstm_hidden, cfg.lstm_hidden, cfg.lstm_layers, cfg.dropout)
        self.rnn_proj = nn.Linear(self.rnn.out_dim, cfg.proj_dim)
        # Skip path from the CNN features around the BiLSTM: the model starts out as a local
        # (CNN) classifier and escapes CTC's all-blank plateau in a few hundred steps instead of
        # thousands; the BiLSTM then adds long context on top (measured: recipes/timit/README.md).
        self.skip = nn.Linear(cfg.lstm_hidden, cfg.proj_dim)
        self.dnn = nn.Sequential(nn.LayerNorm(cfg.proj_dim), nn.LeakyReLU(), nn.Dropout(cfg.dropout))
        self.out = nn.Linear(cfg.proj_dim, n_classes)
        self.hidden_dim = cfg.proj_dim

    def output_lengths(self, feat_lens: torch.Tensor) -> torch.Tensor:
        return conv_out_lens(feat_lens, self.kernel, self.strides)

    def encode(self, feats: torch.Tensor, feat_lens: torch.Tensor):
        """(N, T, F) -> (hidden (N, T', P) after the DNN, out_lens (N,))."""
        x = feats.unsqueeze(1)  # (N, 1, T, F)
        for block in self.cnn:
            x = block(x)  # (N, C, T', F')
        lens = self.output_lengths(feat_lens)
        n, c, t, f = x.shape
        x = self.proj_in(x.permute(0, 2, 1, 3).reshape(n, t, c * f))  # (N, T', H)
        h = self.rnn_proj(self.rnn(x, lens)) + self.skip(x)  # (N, T', P)
        return self.dnn(h), lens

    def ctc_output(self, hidden: torch.Tensor) -> torch.Tensor:
        logits = self.out(hidden).float()  # (N, T', C) in fp32 for CTC
        return logits.log_softmax(-1)
