"""Loss landscapes (P1 Figs 1 and 4): planes through trained solutions (``plane``), the loss on a grid of a
plane (``evaluate``: the naive reference path and the fast evaluator, with the compiled fused step
``plane_kernel``), the non-convexity score and window-independent measures (``measures``), permutation symmetry
(``symmetry``), the panel pipeline (``pipeline``) and its time and memory profile (``profile``), and the
landscape sweep with its rules (``verdict``). Imports ``companion.core`` and ``companion.training``."""
