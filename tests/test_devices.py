"""One JAX CPU device per core: what bayescale asks for, and when it leaves JAX alone."""

import jax
import pytest

from bayescale.errors import ConfigError, DeviceWarning
from bayescale.inference import devices as _devices


@pytest.fixture
def asked(monkeypatch):
    calls = []
    update = jax.config.update
    monkeypatch.setattr(jax.config, "update", lambda name, value: calls.append(value) if name == "jax_num_cpu_devices"
                        else update(name, value))
    monkeypatch.delenv("XLA_FLAGS", raising=False)
    monkeypatch.delenv(_devices.HOST_DEVICES_ENV, raising=False)
    monkeypatch.setattr(_devices, "_backend_started", lambda: False)  # as in a fresh process
    return calls


def test_one_device_per_core_by_default(asked, monkeypatch):
    monkeypatch.setattr(_devices, "_cores", lambda: 6)
    assert _devices.request_host_devices() == 6 and asked == [6]


def test_env_sets_the_count_and_one_leaves_jax_alone(asked, monkeypatch):
    monkeypatch.setenv(_devices.HOST_DEVICES_ENV, "3")
    assert _devices.request_host_devices() == 3 and asked == [3]
    monkeypatch.setenv(_devices.HOST_DEVICES_ENV, "1")
    assert _devices.request_host_devices() == 1 and asked == [3]


def test_users_xla_flags_win(asked, monkeypatch):
    monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=5")
    assert _devices.request_host_devices() is None and asked == []


@pytest.mark.parametrize("bad", ["0", "two", "-1", "1.5"])
def test_bad_env_value_names_it(asked, monkeypatch, bad):
    monkeypatch.setenv(_devices.HOST_DEVICES_ENV, bad)
    with pytest.raises(ConfigError, match=_devices.HOST_DEVICES_ENV):
        _devices.request_host_devices()
    assert asked == []


def test_jax_started_first_is_said_not_silently_ignored(asked, monkeypatch):
    """Once JAX's backend runs, the request cannot take effect: a DeviceWarning names the fix (failed
    before: the request was silently dropped)."""
    import jax

    jax.devices()  # the backend is started in this process
    monkeypatch.setattr(_devices, "_backend_started", lambda: True)
    monkeypatch.setattr(_devices, "_cores", lambda: len(jax.devices("cpu")) + 4)
    with pytest.warns(DeviceWarning, match="xla_force_host_platform_device_count"):
        assert _devices.request_host_devices() is None
    assert asked == []


def test_jax_started_with_enough_devices_is_quiet(asked, monkeypatch, recwarn):
    import jax

    monkeypatch.setattr(_devices, "_backend_started", lambda: True)
    monkeypatch.setattr(_devices, "_cores", lambda: len(jax.devices("cpu")))
    assert _devices.request_host_devices() is None
    assert not [w for w in recwarn if issubclass(w.category, DeviceWarning)]
