"""Host-side tests of ``hookbox._process``: the names a hook sees and
``signal.alarm`` delivered at sleeps, on a fake clock."""

import os
import signal
import socket
import unittest

from hookbox import _process
from wit_world.imports import process


class FakeClock:
    def __init__(self):
        self.now = 100.0
        self.slept = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(round(seconds, 6))
        self.now += seconds


class ProcessTest(unittest.TestCase):
    def setUp(self):
        self.clock = FakeClock()
        saved = (_process._clock, _process._original_sleep, signal.getsignal(signal.SIGALRM))
        _process._clock, _process._original_sleep = self.clock, self.clock.sleep
        _process._alarm_at = None

        def restore():
            _process._clock, _process._original_sleep = saved[0], saved[1]
            _process._alarm_at = None
            signal.signal(signal.SIGALRM, saved[2])

        self.addCleanup(restore)
        _process.install()

    def test_names_are_the_sandboxes_not_the_hosts(self):
        import getpass
        import platform

        self.assertEqual(socket.gethostname(), "hookbox")
        self.assertEqual(os.uname().nodename, "hookbox")
        self.assertEqual(platform.node(), "hookbox")
        for name in ("LOGNAME", "USER", "LNAME", "USERNAME"):
            os.environ.pop(name, None)
        self.assertEqual(getpass.getuser(), "hookbox")
        os.environ["USER"] = "hoop"
        self.addCleanup(os.environ.pop, "USER")
        self.assertEqual(getpass.getuser(), "hoop")

    def test_an_alarm_interrupts_a_sleep_and_the_sleep_goes_on(self):
        fired = []
        signal.signal(signal.SIGALRM, lambda signum, frame: fired.append(self.clock.now))
        self.assertEqual(signal.alarm(3), 0)
        import time

        time.sleep(10)
        self.assertEqual(fired, [103.0])
        self.assertEqual(self.clock.now, 110.0)
        self.assertEqual(self.clock.slept, [3.0, 7.0])

    def test_a_handler_that_raises_ends_the_sleep(self):
        def timed_out(signum, frame):
            raise TimeoutError("too slow")

        signal.signal(signal.SIGALRM, timed_out)
        signal.alarm(2)
        import time

        with self.assertRaises(TimeoutError):
            time.sleep(5)
        self.assertEqual(self.clock.now, 102.0)

    def test_alarm_returns_what_was_left_and_zero_cancels(self):
        signal.alarm(10)
        self.clock.now += 2.5
        self.assertEqual(signal.alarm(0), 8)
        import time

        time.sleep(20)
        self.assertEqual(self.clock.slept, [20.0])

    def test_an_alarm_without_a_handler_ends_the_run_as_the_signal_would(self):
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
        signal.alarm(1)
        import time

        with self.assertRaises(process.Exited):
            time.sleep(2)
        self.assertEqual(process.exits[-1], 128 + 14)

    def test_a_raised_signal_runs_its_handler_or_ends_the_run_as_its_default_would(self):
        saved = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGUSR1, signal.SIGCHLD)}
        self.addCleanup(lambda: [signal.signal(sig, handler) for sig, handler in saved.items()])
        caught = []
        signal.signal(signal.SIGUSR1, lambda signum, frame: caught.append(signum))
        signal.raise_signal(signal.SIGUSR1)
        self.assertEqual(caught, [signal.SIGUSR1])
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.raise_signal(signal.SIGCHLD)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.raise_signal(signal.SIGTERM)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        with self.assertRaises(process.Exited):
            signal.raise_signal(signal.SIGTERM)
        self.assertEqual(process.exits[-1], 128 + 15)
        with self.assertRaises(process.Exited):
            os.abort()
        self.assertEqual(process.exits[-1], 128 + 6)


if __name__ == "__main__":
    unittest.main()
