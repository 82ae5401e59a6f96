"""What is fitted: laws, likelihoods, priors, pooling, and the ScalingModel spec that joins them.

Knows no sampler. Imports only ``bayescale.data`` and ``bayescale.errors`` from outside this layer.
"""
