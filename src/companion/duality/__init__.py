"""Duality: deep linear nets with P1's Schatten regulariser (Theorem 2, ``deep_linear``; the chapter's sweeps in
``deep_linear_study``), P2's parallel linear nets (``parallel_linear``; the chapter's tables in ``linear_study``),
three-layer ReLU nets (closed forms ``relu_closed_forms``, batched nets ``relu_nets``, the convex program over
activation patterns ``relu_program``, training ``relu_train``; the chapter's experiments ``relu_study``) and the
optimisers they share (``optim``: per-problem L-BFGS, the augmented Lagrangian). Imports only ``companion.core``."""
