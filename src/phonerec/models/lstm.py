"""Deep bidirectional LSTM CTC model (Graves et al. 2013 style), optional frame stacking.

Stacking `frame_stack` consecutive frames into one subsamples time cheaply before the LSTM.
"""
from __future__ import annotations

import torch
from torch import nn

from phonerec.model_config import LSTMConfig
from phonerec.models.common import AcousticModel, BiLSTM


class BiLSTMModel(AcousticModel):
    Config = LSTMConfig

    def __init__(self, cfg: LSTMConfig, n_feats: int, n_classes: int):
        super().__init__()
        self.subsampling = cfg.frame_stack
        self.centre_offset = (cfg.frame_stack - 1) / 2  # output frame j stacks input frames jk .. jk + k - 1
        self.rnn = BiLSTM(n_feats * self.subsampling, cfg.lstm_hidden, cfg.lstm_layers, cfg.dropout)
        self.dropout = nn.Dropout(cfg.dropout)
        self.out = nn.Linear(self.rnn.out_dim, n_classes)
        self.hidden_dim = self.rnn.out_dim

    def output_lengths(self, feat_lens: torch.Tensor) -> torch.Tensor:
        s = self.subsampling
        return torch.div(feat_lens + s - 1, s, rounding_mode="floor")  # a partial last stack counts

    def encode(self, feats: torch.Tensor, feat_lens: torch.Tensor):
        """(N, T, F) -> (hidden (N, T/s, 2H) after dropout, out_lens (N,))."""
        s = self.subsampling
        n, t, f = feats.shape
        if s > 1:
            pad = (-t) % s
            feats = nn.functional.pad(feats, (0, 0, 0, pad))  # (N, T+pad, F)
            feats = feats.reshape(n, (t + pad) // s, f * s)  # (N, T/s, F*s)
        lens = self.output_lengths(feat_lens)
        x = self.rnn(feats, lens)  # (N, T/s, 2H)
        return self.dropout(x), lens

    def ctc_output(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.out(hidden).float().log_softmax(-1)
