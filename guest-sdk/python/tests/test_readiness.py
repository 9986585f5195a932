"""Host-side tests of ``hookbox._readiness``: a zero-timeout check reads what
is there and the next read hands it out; nothing is lost or reordered."""

import select
import socket
import unittest

from hookbox import _readiness


class ReadinessTest(unittest.TestCase):
    def setUp(self):
        _readiness.install()
        self.a, self.b = socket.socketpair()
        self.addCleanup(self.a.close)
        self.addCleanup(self.b.close)

    def test_an_empty_socket_is_not_readable(self):
        poll = select.poll()
        poll.register(self.b, select.POLLIN)
        self.assertEqual(poll.poll(0), [])
        self.assertEqual(select.select([self.b], [], [], 0)[0], [])

    def test_what_a_check_read_comes_first_and_whole(self):
        self.a.sendall(b"hello world")
        poll = select.poll()
        poll.register(self.b, select.POLLIN)
        self.assertEqual(poll.poll(0), [(self.b.fileno(), select.POLLIN)])
        # Kept bytes make the socket readable at once, whatever the timeout.
        self.assertEqual(poll.poll(5000), [(self.b.fileno(), select.POLLIN)])
        self.assertEqual(select.select([self.b], [], [], 5)[0], [self.b])
        self.assertEqual(self.b.recv(5), b"hello")
        buffer = bytearray(16)
        self.assertEqual(self.b.recv_into(buffer), 6)
        self.assertEqual(bytes(buffer[:6]), b" world")
        self.a.sendall(b"!")
        self.assertEqual(self.b.recv(10), b"!")

    def test_a_descriptor_number_is_checked_as_its_socket(self):
        self.a.sendall(b"one")
        self.assertEqual(self.b.recv(3), b"one")
        poll = select.poll()
        poll.register(self.b.fileno(), select.POLLIN)
        self.assertEqual(poll.poll(0), [])
        self.a.sendall(b"two")
        self.assertEqual(select.select([self.b.fileno()], [], [], 0)[0], [self.b.fileno()])
        self.assertEqual(self.b.recv(10), b"two")

    def test_a_peek_leaves_what_a_check_read(self):
        self.a.sendall(b"abc")
        self.assertEqual(select.select([self.b], [], [], 0)[0], [self.b])
        self.assertEqual(self.b.recv(2, socket.MSG_PEEK), b"ab")
        self.assertEqual(self.b.recvfrom(10), (b"abc", None))

    def test_a_socket_that_takes_over_the_connection_gets_what_was_read(self):
        self.a.sendall(b"220 ready")
        select.select([self.b], [], [], 0)
        other = socket.socket(fileno=self.b.detach())
        self.addCleanup(other.close)
        _readiness.hand_over(self.b, other)
        self.assertEqual(other.recv(100), b"220 ready")

    def test_a_closed_connection_stays_readable_and_reads_empty(self):
        self.a.close()
        self.assertEqual(select.select([self.b], [], [], 0)[0], [self.b])
        self.assertEqual(self.b.recv(10), b"")

    def test_the_sockets_timeout_is_kept(self):
        self.b.settimeout(2.5)
        select.select([self.b], [], [], 0)
        self.assertEqual(self.b.gettimeout(), 2.5)


if __name__ == "__main__":
    unittest.main()
