"""Companion package: the logic behind the notebooks of the duality-gap book.

The package is laid out in wings, one folder per topic of the papers; notebooks only narrate, call, check
and plot.

- ``core``: what every wing uses — one device type (``devices``), data sets with checksums (``data``),
  local or Dask fan-out (``fanout``), intervals and tests (``stats``), one plot style (``plotting``), figures
  with a slider that moves in the static page (``slider``), atomic writes and cache paths (``files``), one seed
  scheme (``seeds``), small C kernels compiled at first use (``ckernel``);
- ``training``: losses, multi-branch nets, the authors' rate rule, seed-batched SGD, the fast one-hidden-layer
  trainer, the block trainer with per-network hyper-parameters and its fused C kernel (``block``), Table 1's experiment and the multi-branch VGG-9 (P1 §5.2, Table 1, Fig 5);
- ``landscapes``: planes through trained solutions, their evaluation (with a compiled kernel), window-independent
  measures, permutation symmetry, the panel pipeline and the landscape sweep (P1 Figs 1 and 4);
- ``convexity``: tropical (max-plus) algebra, Shapley–Folkman and separable duality gaps (P1 Fig 3, Theorem 1);
- ``duality``: deep linear nets (P1 Theorem 2), parallel linear and ReLU nets (P2), and their optimisers;
- ``book``: the book's machinery (command line, presets, runner, claims, dashboard, cost model).

Import rules (``tests/test_layout.py`` reads every module's imports and holds them):

- ``core`` imports nothing else of the package;
- ``training``, ``convexity`` and ``duality`` import only ``core`` (and themselves);
- ``landscapes`` imports ``core`` and ``training``;
- ``book`` may import anything; no science wing imports ``book``;
- no circle of imports between modules.
"""

__version__ = "0.1.0"
