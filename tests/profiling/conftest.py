import pytest


@pytest.fixture
def no_user_devices(tmp_path_factory, monkeypatch):
    """No devices file but the one a test gives (and none left behind for other tests)."""
    from hwnas import devices

    monkeypatch.delenv("HWNAS_DEVICES", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("config")))
    devices.use_file(None)
    yield
    devices.use_file(None)
