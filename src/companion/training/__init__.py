"""Training: losses, multi-branch nets, the authors' rate rule, seed-batched SGD, the fast one-hidden-layer block
trainer, P1's Table 1 experiment (``hitting``) and the multi-branch VGG-9 of Fig 5 (``vgg_model``: the networks
and their counts; ``vgg``: training them). Imports only ``companion.core``."""
