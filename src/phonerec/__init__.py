"""phonerec: phoneme recognition on TIMIT with CTC acoustic models in plain PyTorch."""

__version__ = "0.1.0"


def __getattr__(name):
    """`from phonerec import Recognizer` without importing torch for `import phonerec` alone."""
    if name == "Recognizer":
        from phonerec.api import Recognizer

        return Recognizer
    raise AttributeError(f"module 'phonerec' has no attribute {name!r}")
