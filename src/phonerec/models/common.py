"""Pieces shared by the acoustic models: output lengths after strided convs, a masked BiLSTM, and the
optional frame-classification head (FrameHead) with the forward() every model shares (AcousticModel)."""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


def conv_out_lens(lens: torch.Tensor, kernel: int, strides: list[int]) -> torch.Tensor:
    """Valid output frames of a stack of 'same'-padded convolutions (one per time stride)
    for inputs of `lens` valid frames."""
    for stride in strides:
        lens = torch.div(lens + 2 * (kernel // 2) - kernel, stride, rounding_mode="floor") + 1
    return lens


class BiLSTM(nn.Module):
    """Stacked bidirectional LSTM that never lets padding leak into the backward direction.

    On CUDA it runs packed sequences (cuDNN takes them natively). On the CPU a packed LSTM has no
    oneDNN kernel and steps through time in plain ATen, several times slower than an unpacked one
    (a crdnn_cpu training step: 0.84 -> 0.27 s, recipes/speechocean762/README.md); so there each
    layer runs its two directions as two unpacked calls of the same weights, the backward one on each
    sequence reversed within its own length (padding stays at the end, after every valid frame):
    the same outputs as the packed path, to float rounding (tests/test_device_path.py).

    It always runs in float32, autocast or not: under torch.autocast("cuda", dtype=torch.bfloat16)
    PyTorch's cuDNN RNN path has been reported to run in float16 instead, i.e. fp16 training without a
    GradScaler (its gradients underflow), and CPU autocast runs it in bf16. Its recurrence accumulates
    rounding over hundreds of steps, so fp32 is the safe choice. Without autocast (CPU fp32) nothing
    changes: the cast is a no-op."""

    def __init__(self, input_size: int, hidden: int, layers: int, dropout: float):
        super().__init__()
        self.lstm = nn.LSTM(input_size, hidden, num_layers=layers, bidirectional=True, batch_first=True,
                            dropout=dropout if layers > 1 else 0.0)
        self.out_dim = 2 * hidden

    def forward(self, x: torch.Tensor, lens: torch.Tensor) -> torch.Tensor:
        """(N, T, D) in any float dtype, lens (N,) on the CPU -> (N, T, 2H) float32."""
        with torch.autocast(x.device.type, enabled=False):
            if x.is_cuda:
                return self._packed(x.float(), lens)
            return self._per_direction(x.float(), lens)

    def _packed(self, x: torch.Tensor, lens: torch.Tensor) -> torch.Tensor:
        # lengths must be on the CPU for packing; callers pass CPU lengths to avoid a device sync
        packed = pack_padded_sequence(x, lens.cpu(), batch_first=True, enforce_sorted=False)
        y, _ = self.lstm(packed)
        y, _ = pad_packed_sequence(y, batch_first=True, total_length=x.shape[1])  # (N, T, 2H)
        return y

    def _per_direction(self, x: torch.Tensor, lens: torch.Tensor) -> torch.Tensor:
        n, t, _ = x.shape
        steps = torch.arange(t, device=x.device)  # (T,)
        last = (lens.to(x.device) - 1).unsqueeze(1)  # (N, 1)
        # frame i of a sequence of length L reads frame L-1-i; padding frames stay where they are
        reverse = torch.where(steps <= last, last - steps, steps)  # (N, T)
        reverse = reverse.unsqueeze(-1)  # (N, T, 1), gathered along time
        lstm, h = self.lstm, x
        zeros = x.new_zeros(1, n, lstm.hidden_size)  # initial (h, c) of each direction
        for layer in range(lstm.num_layers):
            if layer > 0:
                h = F.dropout(h, lstm.dropout, self.training)  # as nn.LSTM does between layers
            outputs = []
            for suffix in ("", "_reverse"):
                weights = [getattr(lstm, f"{name}_l{layer}{suffix}")
                           for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
                inp = h.gather(1, reverse.expand_as(h)) if suffix else h
                y, _, _ = torch.lstm(inp, (zeros, zeros), weights, True, 1, 0.0, self.training, False, True)
                outputs.append(y.gather(1, reverse.expand_as(y)) if suffix else y)  # (N, T, H)
            h = torch.cat(outputs, -1)  # (N, T, 2H)
        return h * (steps <= last).unsqueeze(-1)  # padding frames are 0, as pad_packed_sequence leaves them


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
    centre_offset: float = 0.0  # input frames from j * subsampling to the centre of output frame j


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
