"""The reference the XOR tests compare with: the handout's 3-4-1 network (reference/xor.py)."""

from reference.xor import (
    HANDOUT_PRINTED_OUTPUT,
    HANDOUT_WEIGHTS1,
    HANDOUT_WEIGHTS2,
    INPUT_LABELS,
    X,
    Y,
    forward,
    sigmoid,
)

TARGET = [0.0, 1.0, 1.0, 0.0]

__all__ = ["HANDOUT_PRINTED_OUTPUT", "HANDOUT_WEIGHTS1", "HANDOUT_WEIGHTS2", "INPUT_LABELS", "TARGET", "X", "Y",
           "forward", "sigmoid"]
