"""Loss landscapes (P1 Figs 1 and 4): planes through trained solutions (``plane``), their blocked evaluation
(``evaluate``, with the compiled fused step ``plane_kernel``), window-independent measures (``measures``),
permutation symmetry (``symmetry``), the panel pipeline (``pipeline``) and its memory profile (``profile``), the
landscape sweep with its rules (``verdict``) and the chapters' figures (``figures``). Imports ``companion.core``
and ``companion.training``."""
