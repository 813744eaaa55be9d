"""SpecAugment (Park et al. 2019) on padded feature batches, with torchaudio's masking (through dsp).

Masks are drawn independently per utterance. Speed perturbation is not here: it is done
once when features are cached (features.extract), so training stays fast.
"""
from __future__ import annotations

import torch

from phonerec.config import SpecAugmentConfig
from phonerec.features import dsp


class SpecAugment(torch.nn.Module):
    def __init__(self, cfg: SpecAugmentConfig):
        super().__init__()
        self.freq = [dsp.frequency_masking(cfg.freq_width) for _ in range(cfg.freq_masks)]
        self.time = [dsp.time_masking(cfg.time_width) for _ in range(cfg.time_masks)]

    @property
    def enabled(self) -> bool:
        return bool(self.freq or self.time)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        """(N, T, F) -> (N, T, F) with masked bands set to 0 (the mean after CMVN)."""
        x = feats.transpose(1, 2).unsqueeze(1)  # (N, 1, F, T) as torchaudio expects
        for mask in self.freq + self.time:
            x = mask(x)
        return x.squeeze(1).transpose(1, 2)
