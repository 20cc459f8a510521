"""Duality: deep linear nets with P1's Schatten regulariser (Theorem 2: ``deep_linear``, ``deep_linear_study``),
P2's parallel linear nets (``parallel_linear``, ``linear_study``), three-layer ReLU nets — closed forms
(``relu_closed_forms``), activation patterns and the convex program (``relu_program``), the nets
(``relu_nets``), their training (``relu_train``) and the chapter's experiments (``relu_study``) — and the
optimisers they share (``optim``: L-BFGS per problem, augmented Lagrangian). Imports only ``companion.core``."""
