"""Loss landscapes (P1 Figs 1 and 4): planes through trained solutions and their blocked evaluation
(``landscape``, with the compiled fused step ``plane_kernel``), permutation symmetry (``symmetry``), the panel
pipeline and its memory profile (``pipeline``) and the landscape sweep with its rules (``verdict``). Imports
``companion.core`` and ``companion.training``."""
