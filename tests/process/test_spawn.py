"""pyre.process.spawn: a child runs its target and exits with what the target returns."""

from __future__ import annotations

import signal
import sys
import time

import pytest

from pyre.process.spawn import child_main, posix_signal, signal_child, start_child


def exit_with(code):
    """A target (importable: a child imports it by name)."""
    return code


def sleep_until_signalled():
    time.sleep(60)
    return 0


@pytest.mark.parametrize("code, status", [(0, 0), (None, 0), (3, 3)])
def test_child_main_exits_with_the_targets_return_value(code, status):
    with pytest.raises(SystemExit) as info:
        child_main(exit_with, (code,))
    assert info.value.code == status


def test_a_spawned_child_exits_with_its_targets_status():
    process = start_child(exit_with, (7,), "pyre-test-child")
    process.join(60)
    assert process.exitcode == 7 and process.name == "pyre-test-child"


@pytest.mark.posix
def test_signal_child_signals_a_running_child_and_ignores_an_ended_one():
    process = start_child(sleep_until_signalled, (), "pyre-test-child")
    try:
        signal_child(process, signal.SIGTERM)
        process.join(60)
        assert process.exitcode == -signal.SIGTERM
        signal_child(process, signal.SIGTERM)  # ended: nothing to do, no error
    finally:
        if process.is_alive():  # pragma: no cover - only if the signal was lost
            process.kill()
            process.join()


def test_posix_signals_are_none_where_missing(monkeypatch):
    assert posix_signal("SIGHUP") == getattr(signal, "SIGHUP", None)
    monkeypatch.delattr(signal, "SIGHUP", raising=False)
    assert posix_signal("SIGHUP") is None
    assert sys.platform == "win32" or posix_signal("SIGTTIN") == signal.SIGTTIN
