"""Fully convolutional CTC model (in the spirit of Zhang et al. 2016): strided 1-D
convolutions for subsampling, then residual conv blocks; no recurrence, so it is fast
and its receptive field is set by depth and kernel size."""
from __future__ import annotations

import torch
from torch import nn

from phonerec.model_config import CNNConfig
from phonerec.models.common import AcousticModel, conv_out_lens


class ResBlock(nn.Module):
    def __init__(self, ch: int, kernel: int, dropout: float):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv1d(ch, ch, kernel, padding=kernel // 2), nn.BatchNorm1d(ch), nn.GELU(), nn.Dropout(dropout),
            nn.Conv1d(ch, ch, kernel, padding=kernel // 2), nn.BatchNorm1d(ch),
        )
        self.act = nn.GELU()

    def forward(self, x):
        return self.act(x + self.body(x))


class CNNModel(AcousticModel):
    Config = CNNConfig

    def __init__(self, cfg: CNNConfig, n_feats: int, n_classes: int):
        super().__init__()
        k, ch = cfg.cnn_kernel, cfg.cnn_channels[-1]
        front, in_ch = [], n_feats
        for c, stride in zip(cfg.cnn_channels, cfg.time_strides):
            front.append(nn.Sequential(nn.Conv1d(in_ch, c, k, stride=stride, padding=k // 2), nn.BatchNorm1d(c), nn.GELU()))
            in_ch = c
        self.front = nn.ModuleList(front)
        self.strides, self.kernel = list(cfg.time_strides), k
        self.subsampling = int(torch.tensor(self.strides).prod())
        self.blocks = nn.Sequential(*[ResBlock(ch, k, cfg.dropout) for _ in range(cfg.cnn_blocks)])
        self.out = nn.Sequential(nn.Dropout(cfg.dropout), nn.Conv1d(ch, n_classes, 1))
        self.hidden_dim = ch

    def output_lengths(self, feat_lens: torch.Tensor) -> torch.Tensor:
        return conv_out_lens(feat_lens, self.kernel, self.strides)

    def encode(self, feats: torch.Tensor, feat_lens: torch.Tensor):
        """(N, T, F) -> (hidden (N, T', C) after the residual blocks, out_lens (N,))."""
        x = feats.transpose(1, 2)  # (N, F, T)
        for layer in self.front:
            x = layer(x)  # (N, C, T / stride)
        return self.blocks(x).transpose(1, 2), self.output_lengths(feat_lens)  # (N, T', C)

    def ctc_output(self, hidden: torch.Tensor) -> torch.Tensor:
        x = self.out(hidden.transpose(1, 2))  # (N, classes, T')
        return x.transpose(1, 2).float().log_softmax(-1)  # (N, T', classes)
