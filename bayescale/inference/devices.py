"""One JAX CPU device per core, so that chains (and datasets in ``fit_many``) run in parallel.

This is the one piece of global state ``import bayescale`` changes (besides the
compile cache, :mod:`bayescale.inference.compile_cache`). JAX exposes a single CPU
device unless told otherwise before its backend starts. ``import bayescale`` calls
:func:`request_host_devices`, which asks for one host device per available core
through JAX's ``jax_num_cpu_devices`` setting (NumPyro's ``set_host_device_count`` sets
``XLA_FLAGS`` for the same, but importing NumPyro there cost a third of ``import bayescale``); the sampler
splits chains across them (measured 1.26x faster warm fits on 2 cores, 1.68x for
``fit_many``). The ``bayescale`` command calls it explicitly before anything else. Nothing
changes when:

- ``XLA_FLAGS`` already sets ``--xla_force_host_platform_device_count`` (yours wins);
- ``BAYESCALE_HOST_DEVICES`` is set: to a positive integer, that many devices; ``1`` keeps JAX's default.

When JAX's backend was already started (JAX used before bayescale was imported) the
request cannot take effect: :func:`request_host_devices` then says so with a
:class:`~bayescale.errors.DeviceWarning` naming the fix, and chains run one after
another on the devices there are. The posterior does not depend on the device count; the
draws can (XLA compiles a different per-device program, whose float32 rounding differs), and the
wall time does.
"""

from __future__ import annotations

import os

import warnings

from bayescale.errors import ConfigError, DeviceWarning

__all__ = ["HOST_DEVICES_ENV", "request_host_devices"]

#: Environment variable: how many CPU devices to ask JAX for (default: one per core).
HOST_DEVICES_ENV = "BAYESCALE_HOST_DEVICES"


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def _backend_started() -> bool:
    try:
        from jax._src import xla_bridge
    except ImportError:  # pragma: no cover - private module moved: assume not started
        return False
    started = getattr(xla_bridge, "backends_are_initialized", None)
    return bool(started()) if callable(started) else False


def request_host_devices() -> int | None:
    """Ask JAX for one CPU device per core (see module docs); the count asked for, or ``None``.

    Warns (:class:`~bayescale.errors.DeviceWarning`) when JAX's backend already started with
    fewer CPU devices than asked for, since the request cannot take effect then.
    """
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
        if _backend_started():
            import jax

            have = len(jax.devices("cpu"))
            if have < count:
                warnings.warn(
                    f"JAX was started before bayescale asked for {count} CPU devices (one per core), so it has "
                    f"{have}: chains run one after another instead of in parallel (same draws, more wall time). "
                    f"Import bayescale before using JAX, or set XLA_FLAGS=--xla_force_host_platform_device_count="
                    f"{count} (or {HOST_DEVICES_ENV}=1 to silence this) before starting Python",
                    DeviceWarning,
                    stacklevel=2,
                )
            return None
        import jax

        jax.config.update("jax_num_cpu_devices", count)
    return count
