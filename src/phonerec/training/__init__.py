"""The generic fit machinery: trainer loop, LR schedule, atomic checkpoints, DDP helpers (the smoke tests use it too)."""
