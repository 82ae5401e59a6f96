"""One JAX CPU device per core, so that chains (and datasets in ``fit_many``) run in parallel.

JAX exposes a single CPU device unless told otherwise before its backend starts.
When bayescale is imported first, it asks for one host device per available core
through :func:`numpyro.set_host_device_count` (NumPyro's documented way), and the
sampler splits chains across them. Nothing changes when:

- ``XLA_FLAGS`` already sets ``--xla_force_host_platform_device_count`` (yours wins);
- ``BAYESCALE_HOST_DEVICES`` is set: to a positive integer, that many devices; ``1`` keeps JAX's default;
- JAX's backend was started before bayescale was imported (the request then has no effect
  and chains run one after another on the one device).

Results do not depend on the device count; only wall time does.
"""

from __future__ import annotations

import os

from bayescale.errors import ConfigError

__all__ = ["HOST_DEVICES_ENV", "request_host_devices"]

#: Environment variable: how many CPU devices to ask JAX for (default: one per core).
HOST_DEVICES_ENV = "BAYESCALE_HOST_DEVICES"


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def request_host_devices() -> int | None:
    """Ask JAX for one CPU device per core (see module docs); the count asked for, or ``None``."""
    if "xla_force_host_platform_device_count" in os.environ.get("XLA_FLAGS", ""):
        return None
    value = os.environ.get(HOST_DEVICES_ENV, "").strip()
    if value:
        if not value.isdigit() or int(value) < 1:
            raise ConfigError(f"{HOST_DEVICES_ENV}={value!r}: expected a positive integer, e.g. 1 or 4")
        count = int(value)
    else:
        count = _cores()
    if count > 1:
        import numpyro

        numpyro.set_host_device_count(count)
    return count
