"""Pieces shared by the acoustic models: output lengths after strided convs, a masked BiLSTM, and the
optional frame-classification head (FrameHead) with the forward() every model shares (AcousticModel)."""
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
    the backward direction (cuDNN runs packed sequences natively).

    It always runs in float32, autocast or not: under torch.autocast("cuda", dtype=torch.bfloat16)
    PyTorch's cuDNN RNN path has been reported to run in float16 instead, i.e. fp16 training without a
    GradScaler (its gradients underflow), and CPU autocast runs it in bf16. An LSTM is a small part of
    the time next to the convolutions, and its recurrence accumulates rounding over hundreds of steps,
    so fp32 is the safe choice. Without autocast (CPU fp32) nothing changes: the cast is a no-op."""

    def __init__(self, input_size: int, hidden: int, layers: int, dropout: float):
        super().__init__()
        self.lstm = nn.LSTM(input_size, hidden, num_layers=layers, bidirectional=True, batch_first=True,
                            dropout=dropout if layers > 1 else 0.0)
        self.out_dim = 2 * hidden

    def forward(self, x: torch.Tensor, lens: torch.Tensor) -> torch.Tensor:
        """(N, T, D) in any float dtype, lens (N,) on the CPU -> (N, T, 2H) float32."""
        total = x.shape[1]
        with torch.autocast(x.device.type, enabled=False):
            # lengths must be on the CPU for packing; callers pass CPU lengths to avoid a device sync
            packed = pack_padded_sequence(x.float(), lens.cpu(), batch_first=True, enforce_sorted=False)
            y, _ = self.lstm(packed)
        y, _ = pad_packed_sequence(y, batch_first=True, total_length=total)  # (N, T, 2H)
        return y


class FrameHead(nn.Module):
    """Frame classifier at the INPUT frame rate: one Linear(H, subsampling * C) on the encoder output
    (N, T', H), reshaped to (N, T' * subsampling, C) and cropped to the T input frames, so input
    frame j * subsampling + k is predicted from output frame j (the 2x subsampling does not cap the
    time resolution of the alignment). Classes are the CTC output classes (blank 0 is never a target)."""

    def __init__(self, hidden_dim: int, subsampling: int, n_classes: int):
        super().__init__()
        self.subsampling, self.n_classes = subsampling, n_classes
        self.linear = nn.Linear(hidden_dim, subsampling * n_classes)

    def forward(self, hidden: torch.Tensor, n_frames: int) -> torch.Tensor:
        """(N, T', H) -> (N, n_frames, C) fp32 log posteriors (n_frames <= T' * subsampling)."""
        n, t, _ = hidden.shape
        y = self.linear(hidden).reshape(n, t * self.subsampling, self.n_classes)[:, :n_frames]
        return y.float().log_softmax(-1)


class AcousticModel(nn.Module):
    """Base of the models: `encode(feats, lens) -> (hidden (N, T', H), out_lens)` and `ctc_output(hidden)
    -> (N, T', C) log posteriors` are the model's own; forward() chains them. A model built with a
    frame head (`frame_head=True`, train.frame_weight > 0) also returns, when called with
    `frames=True`, the head's (N, T, C) log posteriors at the input frame rate (valid: feat_lens).
    Without a head the model has exactly the parameters (and state-dict keys) it had before the head
    existed."""

    hidden_dim: int
    subsampling: int

    def add_frame_head(self, n_classes: int) -> None:
        self.frame_head = FrameHead(self.hidden_dim, self.subsampling, n_classes)

    @property
    def has_frame_head(self) -> bool:
        return getattr(self, "frame_head", None) is not None

    def forward(self, feats: torch.Tensor, feat_lens: torch.Tensor, frames: bool = False):
        hidden, lens = self.encode(feats, feat_lens)
        log_probs = self.ctc_output(hidden)
        if not frames:
            return log_probs, lens
        if not self.has_frame_head:
            raise ValueError("this model has no frame head (trained with train.frame_weight 0)")
        return log_probs, lens, self.frame_head(hidden, feats.shape[1])
