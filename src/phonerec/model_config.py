"""The settings of each acoustic model (`model: {name: <key>, <key>: {...}}` in a config file), one dataclass
per model in `phonerec.models`, by name.

They live here, apart from the models, because the config (the ground floor) must read them without
importing torch: `scripts/stage.py check --config`, which run.sh calls before and after every stage,
resolves a config and took a second and a half of torch import each time. `phonerec.models.MODELS[name].Config`
is the same class (tests/test_models_registry.py checks that both registries name the same models).
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class CNNConfig:
    """`model: {name: cnn, cnn: {...}}` in a config file."""
    cnn_channels: list[int] = field(default_factory=lambda: [64, 128])  # channels of each front conv
    cnn_kernel: int = 3  # kernel size of every convolution
    cnn_blocks: int = 4  # residual blocks after the front, as wide as the last front conv
    time_strides: list[int] = field(default_factory=lambda: [2, 1])  # per front conv; product = subsampling
    dropout: float = 0.15  # inside each residual block and before the output


@dataclass
class LSTMConfig:
    """`model: {name: lstm, lstm: {...}}` in a config file."""
    frame_stack: int = 2  # consecutive frames stacked into one LSTM input (= the time subsampling)
    lstm_hidden: int = 256  # units per direction
    lstm_layers: int = 3  # stacked bidirectional layers
    dropout: float = 0.15  # between LSTM layers and before the output

    def __post_init__(self):
        if self.frame_stack < 1:
            raise ValueError(f"frame_stack must be >= 1, got {self.frame_stack}")


@dataclass
class CRDNNConfig:
    """`model: {name: crdnn, crdnn: {...}}` in a config file."""
    cnn_channels: list[int] = field(default_factory=lambda: [64, 128])  # channels of each 2-D conv block
    cnn_kernel: int = 3  # conv kernel size (time and frequency)
    time_strides: list[int] = field(default_factory=lambda: [2, 1])  # per conv block; product = subsampling
    lstm_hidden: int = 256  # BiLSTM units per direction, also the width of the CNN -> BiLSTM projection
    lstm_layers: int = 3  # stacked BiLSTM layers
    proj_dim: int = 256  # width after the BiLSTM (and of the skip path around it) and of the DNN
    dropout: float = 0.15  # after the input projection, between BiLSTM layers, in the DNN

    def __post_init__(self):
        if len(self.cnn_channels) != len(self.time_strides):
            raise ValueError(f"cnn_channels ({len(self.cnn_channels)} blocks) and time_strides "
                             f"({len(self.time_strides)}) must have the same length: one stride per conv block")


MODEL_CONFIGS = {"cnn": CNNConfig, "lstm": LSTMConfig, "crdnn": CRDNNConfig}
