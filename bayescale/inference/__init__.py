"""How a model is sampled: settings, starting points, the compiled NUTS driver, devices, compile cache.

Knows no scaling law: it takes any NumPyro model and its arguments.
"""
