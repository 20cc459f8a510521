"""Duality: deep linear nets with P1's Schatten regulariser (Theorem 2, ``deep_linear``), P2's parallel linear
nets (``parallel_linear``), three-layer ReLU nets and their convex program (``relu_duality``, ``relu_study``)
and the optimisers they share (``optim``). Imports only ``companion.core``."""
