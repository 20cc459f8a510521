"""Training: losses, multi-branch nets, the authors' rate rule (``schedule``), seed-batched SGD (``train``) with
its hand-written two-layer branch step (``branch_block``, benchmarked by ``branch_bench``), the
fast one-hidden-layer trainer (``onehidden``), the block trainer with per-network hyper-parameters and its fused C
kernel (``block``), P1's Table 1 experiment (``hitting``) and the multi-branch VGG-9 of Fig 5 (``vgg_model``: the
network and its closed-form counts; ``vgg``: its recipe, training and grid). Imports only ``companion.core``."""
