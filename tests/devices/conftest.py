import pytest

from hwnas import devices


@pytest.fixture(autouse=True)
def no_user_devices(tmp_path_factory, monkeypatch):
    """Each test starts without user devices: no $HWNAS_DEVICES, an empty config folder, no --devices."""
    monkeypatch.delenv("HWNAS_DEVICES", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("config")))
    devices.use_file(None)
    yield
    devices.use_file(None)
