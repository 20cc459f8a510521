"""Training: losses, multi-branch nets, the authors' rate rule, seed-batched SGD, the fast one-hidden-layer block
trainer, the block trainer with per-network hyper-parameters and its fused C kernel (``block``), P1's Table 1 experiment (``hitting``) and the multi-branch VGG-9 of Fig 5 (``vgg``). Imports only
``companion.core``."""
