"""bayescale: Bayesian scaling laws with JIT-compiled NUTS and honest uncertainty.

Importing bayescale changes two pieces of global state, both documented and both
optional: it asks JAX for one CPU device per core (:mod:`bayescale.inference.devices`;
``BAYESCALE_HOST_DEVICES=1`` leaves JAX alone, and a :class:`~bayescale.errors.DeviceWarning`
says when JAX was started first) and turns on JAX's persistent compilation cache
(:mod:`bayescale.inference.compile_cache`; ``BAYESCALE_NO_COMPILE_CACHE=1`` leaves it off).
The public API is :mod:`bayescale.api`, re-exported here; each name is imported on first use.

>>> import bayescale as bs
>>> data = bs.datasets.example()
>>> fit = bs.fit(data, seed=0, num_warmup=500, num_samples=500)
>>> fit.frontier(C=1e21).shape[0]
1
"""

from bayescale.inference import devices as _devices

_devices.request_host_devices()  # before anything starts JAX's backend
from bayescale import api as _api  # noqa: E402
from bayescale.api import __all__, __version__  # noqa: E402,F401
from bayescale.inference import compile_cache as _compile_cache  # noqa: E402

_compile_cache.DEFAULT_AT_IMPORT = _compile_cache._enable_on_import()


def __getattr__(name: str):
    """The public API's names, imported on first use (:mod:`bayescale.api`)."""
    value = getattr(_api, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
