import pytest


@pytest.fixture
def no_user_devices(tmp_path_factory, monkeypatch):
    """No devices file but the one a test gives."""
    monkeypatch.delenv("HWNAS_DEVICES", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("config")))
    yield


@pytest.fixture(autouse=True)
def no_third_visits_by_chance(monkeypatch):
    """The tests' quick devices (3 short rounds) disagree between visits by more than the default
    threshold often, so a third visit would come and go by chance and counts would flicker: here the
    threshold is off unless a test sets it (test_retest.py tests the third visits themselves)."""
    from hwnas.profiling import visits

    monkeypatch.setattr(visits, "DISAGREE", float("inf"))


@pytest.fixture
def export_calls(monkeypatch) -> list[str]:
    """The keys of the subnets the profiler's exporter exports, in order (each export still runs)."""
    from hwnas.pipelines.exporter import Exporter

    calls: list[str] = []
    real = Exporter.export

    def counting(self, cfg, path, **kw):
        calls.append(cfg.key())
        return real(self, cfg, path, **kw)

    monkeypatch.setattr(Exporter, "export", counting)
    return calls
