"""Pieces shared by the acoustic models: output lengths after strided convs, a masked BiLSTM."""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


def conv_out_lens(lens: torch.Tensor, kernel: int, strides: list[int]) -> torch.Tensor:
    """Valid output frames of a stack of 'same'-padded convolutions (one per time stride)
    for inputs of `lens` valid frames."""
    for stride in strides:
        lens = torch.div(lens + 2 * (kernel // 2) - kernel, stride, rounding_mode="floor") + 1
    return lens


class BiLSTM(nn.Module):
    """Stacked bidirectional LSTM over packed sequences, so padding never leaks into
    the backward direction (cuDNN runs packed sequences natively)."""

    def __init__(self, input_size: int, hidden: int, layers: int, dropout: float):
        super().__init__()
        self.lstm = nn.LSTM(input_size, hidden, num_layers=layers, bidirectional=True, batch_first=True,
                            dropout=dropout if layers > 1 else 0.0)
        self.out_dim = 2 * hidden

    def forward(self, x: torch.Tensor, lens: torch.Tensor) -> torch.Tensor:
        total = x.shape[1]
        # lengths must be on the CPU for packing; callers pass CPU lengths to avoid a device sync
        packed = pack_padded_sequence(x, lens.cpu(), batch_first=True, enforce_sorted=False)
        y, _ = self.lstm(packed)
        y, _ = pad_packed_sequence(y, batch_first=True, total_length=total)  # (N, T, 2H)
        return y
