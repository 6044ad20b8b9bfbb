import pytest


@pytest.fixture(autouse=True)
def no_user_devices(tmp_path_factory, monkeypatch):
    """Each test starts without user devices: no $HWNAS_DEVICES, an empty config folder."""
    monkeypatch.delenv("HWNAS_DEVICES", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("config")))
    yield
