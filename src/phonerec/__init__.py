"""phonerec: phoneme recognition on TIMIT with CTC acoustic models in plain PyTorch."""

__version__ = "0.1.0"
