"""pyre.launch: the one place where a failure becomes an exit status (pyre.exit_codes)."""

from __future__ import annotations

import pytest

from pyre import Config, launch
from pyre.errors import AppLoadError, ConfigError, StartupError
from pyre.exit_codes import ExitCode


class Ran:
    """A server that ran (``started``: whether it ever served)."""

    def __init__(self, started: bool) -> None:
        self.started = started


def raising(exc: BaseException):
    def serve():
        raise exc
    return serve


def test_the_numbers_are_uvicorns_and_gunicorns():
    assert (ExitCode.OK, ExitCode.ERROR, ExitCode.STARTUP_FAILURE) == (0, 1, 3)
    assert ExitCode.WORKER_BOOT_ERROR is ExitCode.STARTUP_FAILURE  # gunicorn's 3
    assert ExitCode.APP_LOAD_ERROR == 4  # gunicorn's


@pytest.mark.parametrize("started, status", [(True, ExitCode.OK), (False, ExitCode.STARTUP_FAILURE)])
def test_a_server_that_ran(started, status):
    reported = []
    assert launch.run_server(lambda: Ran(started), app="m:app", report=reported.append) == status
    assert reported == []  # a startup failure was logged by the server itself


@pytest.mark.parametrize("gunicorn, status", [(False, ExitCode.ERROR), (True, ExitCode.APP_LOAD_ERROR)])
def test_an_app_that_cannot_be_loaded(gunicorn, status):
    reported = []
    failure = AppLoadError('Could not import module "nosuch".')
    code = launch.run_server(raising(failure), app="nosuch:app", report=reported.append, gunicorn=gunicorn)
    assert code == status
    assert reported == ['Error loading ASGI app. Could not import module "nosuch".']


@pytest.mark.parametrize("gunicorn, status", [(False, ExitCode.ERROR), (True, ExitCode.WORKER_BOOT_ERROR)])
def test_another_pyre_error(gunicorn, status):
    reported = []
    failure = ConfigError("loop: uvloop is not installed")
    code = launch.run_server(raising(failure), app="m:app", report=reported.append, gunicorn=gunicorn)
    assert code == status and reported == ["loop: uvloop is not installed"]


def test_an_unexpected_error_is_not_swallowed():
    with pytest.raises(ZeroDivisionError):
        launch.run_server(raising(ZeroDivisionError()), app="m:app")


def test_a_missing_extra_stops_before_anything_runs(monkeypatch, caplog):
    def missing(config, import_them=False):
        raise StartupError("--metrics-port needs prometheus-client")

    monkeypatch.setattr(launch, "check_extras", missing)
    monkeypatch.setattr(launch, "run_server", lambda *args, **kwargs: pytest.fail("a server was started"))
    assert launch.launch(Config("tests.apps:hello", metrics_port=0)) == ExitCode.STARTUP_FAILURE
    assert "--metrics-port needs prometheus-client" in caplog.text


@pytest.mark.parametrize("settings, runner", [
    ({}, "run_server"),
    ({"workers": 2}, "run_workers"),
    ({"limit_max_requests": 10}, "run_workers"),  # one worker, replaced at its limit
    ({"reload": True}, "run_reloader"),
    ({"reload": True, "workers": 2}, "run_reloader"),
])
def test_launch_chooses_how_to_run(monkeypatch, settings, runner):
    chosen = []
    for name in ("run_server", "run_workers", "run_reloader"):
        monkeypatch.setattr(launch, name, lambda *args, _name=name, **kwargs: chosen.append(_name) or 0)
    assert launch.launch(Config("tests.apps:hello", **settings)) == 0
    assert chosen == [runner]


@pytest.mark.parametrize("given, frozen", [(None, True), (True, True), (False, False)])
def test_launch_turns_gc_freeze_on_unless_told_otherwise(monkeypatch, given, frozen):
    """``pyre`` and ``pyre.run`` serve through launch(): there the process is the
    server's, so gc_freeze's default (None) becomes on; an explicit value stands."""
    served = []

    class Recording:
        def __init__(self, config) -> None:
            served.append(config)

    monkeypatch.setattr(launch, "Server", Recording)
    monkeypatch.setattr(launch, "run_server", lambda serve, **kwargs: ExitCode.OK)
    config = Config(lambda scope, receive, send: None, gc_freeze=given)
    assert launch.launch(config) == ExitCode.OK
    assert [c.gc_freeze for c in served] == [frozen]
    assert config.gc_freeze is given  # the caller's Config is not changed
