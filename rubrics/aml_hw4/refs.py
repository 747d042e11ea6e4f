"""The reference the backprop tests compare with: the handout's network (reference/backprop.py)."""

from reference.backprop import back_propagation, forward_propagation, make_problem, seed0_problem, sigmoid

__all__ = ["back_propagation", "forward_propagation", "make_problem", "seed0_problem", "sigmoid"]
