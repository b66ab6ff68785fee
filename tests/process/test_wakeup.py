"""pyre.process.wakeup: a signal taken by another thread still wakes the main thread's wait."""

import signal
import socket
import threading
from multiprocessing.connection import wait

import pytest

from pyre.process.wakeup import Wakeup, catch_signals


@pytest.fixture
def wakeup_pair():
    r, w = socket.socketpair()
    r.setblocking(False)
    yield r, w
    r.close()
    w.close()


def test_a_signal_delivered_to_another_thread_wakes_the_main_thread(wakeup_pair):
    r, w = wakeup_pair
    caught = []
    restore = catch_signals((signal.SIGUSR1,), lambda sig, frame: caught.append(sig), w)
    try:
        # pthread_kill aims the signal at the helper thread, as the kernel may aim a
        # process-directed one: the main thread's select is not interrupted by it.
        helper = threading.Thread(target=lambda: signal.pthread_kill(threading.get_ident(), signal.SIGUSR1))
        helper.start()
        helper.join()
        ready = wait([r], timeout=30)
        assert ready == [r], "the main thread slept through the signal"
        assert r.recv(64) == bytes([signal.SIGUSR1])
        assert caught == [signal.SIGUSR1]
    finally:
        restore()


def test_restore_puts_back_the_handlers_and_the_wakeup_fd(wakeup_pair):
    r, w = wakeup_pair
    before = signal.getsignal(signal.SIGUSR2)
    restore = catch_signals((signal.SIGUSR2,), lambda sig, frame: None, w)
    assert signal.getsignal(signal.SIGUSR2) is not before
    restore()
    assert signal.getsignal(signal.SIGUSR2) is before
    assert signal.set_wakeup_fd(-1) == -1  # nothing left pointing at our socket


def test_outside_the_main_thread_nothing_is_installed(wakeup_pair):
    r, w = wakeup_pair
    before = signal.getsignal(signal.SIGUSR2)
    results = []
    thread = threading.Thread(target=lambda: results.append(catch_signals((signal.SIGUSR2,), print, w)))
    thread.start()
    thread.join()
    assert signal.getsignal(signal.SIGUSR2) is before
    results[0]()  # restoring is a no-op


# -- the Wakeup of a parent process ------------------------------------------------------------------


@pytest.fixture
def wakeup():
    made = Wakeup()
    yield made
    made.close()


def test_signals_are_queued_in_order_and_wake_the_reader(wakeup):
    assert wait([wakeup.reader], timeout=0) == []
    wakeup.on_signal(signal.SIGTERM)
    wakeup.on_signal(signal.SIGINT)
    assert wait([wakeup.reader], timeout=5) == [wakeup.reader]
    wakeup.drain()
    assert wait([wakeup.reader], timeout=0) == []  # drained; the signals stay queued
    assert wakeup.take_signals() == [signal.SIGTERM, signal.SIGINT]
    assert wakeup.take_signals() == []


def test_wake_from_another_thread_without_a_signal(wakeup):
    threading.Thread(target=wakeup.wake).start()
    assert wait([wakeup.reader], timeout=30) == [wakeup.reader]
    wakeup.drain()
    assert wakeup.take_signals() == []


def test_a_real_signal_is_queued_and_close_restores_the_handler():
    before = signal.getsignal(signal.SIGUSR1)
    wakeup = Wakeup()
    wakeup.catch([signal.SIGUSR1])
    try:
        signal.raise_signal(signal.SIGUSR1)
        assert wait([wakeup.reader], timeout=30) == [wakeup.reader]
        assert wakeup.take_signals() == [signal.SIGUSR1]
    finally:
        wakeup.close()
    assert signal.getsignal(signal.SIGUSR1) is before
    assert signal.set_wakeup_fd(-1) == -1
