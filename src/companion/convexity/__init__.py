"""Convexity (P1 §2 and Fig 3): tropical (max-plus) algebra, the Shapley–Folkman lemma in numbers and separable
duality gaps (Theorem 1). Imports only ``companion.core``."""
