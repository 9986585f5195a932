"""What the SDK and the shims tell a hook, on the host's CPython with a fake
host: URLs through the host's one masking function, body caps named, bad
methods refused with a reason."""

import unittest

from wit_world.imports import egress, outgoing_handler, types

from hookbox import _curl, _httpclient, http


class MessagesTest(unittest.TestCase):
    def setUp(self):
        egress.calls.clear()
        egress.denial = "no egress rule allows http://127.0.0.1:9"
        outgoing_handler.error = types.ErrorCode_HttpRequestDenied()

    def test_a_denial_shows_the_url_as_the_host_shows_it(self):
        with self.assertRaises(http.EgressDenied) as caught:
            http.post("http://u:pw@127.0.0.1:9/x?token=s3cret", data=b"{}")
        message = str(caught.exception)
        self.assertIn("<shown http://u:pw@127.0.0.1:9/x?token=s3cret>", message)
        self.assertIn("no egress rule allows", message)
        self.assertEqual(caught.exception.url, "http://u:pw@127.0.0.1:9/x?token=s3cret")

    def test_the_curl_shim_shows_urls_as_the_host_does(self):
        code, _out, err = _curl.run(["curl", "http://127.0.0.1:9/x?token=s3cret"])
        self.assertEqual(code, 7)
        self.assertIn(b"<shown http://127.0.0.1:9/x?token=s3cret>", err)
        self.assertIn(("shown_url", "http://127.0.0.1:9/x?token=s3cret"), egress.calls)

    def test_a_body_over_the_cap_names_it(self):
        outgoing_handler.error = types.ErrorCode_HttpRequestBodySize(1048576)
        with self.assertRaises(http.HTTPError) as caught:
            http.post("http://127.0.0.1:9/", data=b"x")
        self.assertIn("1048576-byte cap (--max-http-body)", str(caught.exception))
        self.assertEqual(caught.exception.code, "HttpRequestBodySize")

    def test_a_method_http_cannot_carry_is_refused_with_the_reason(self):
        code, _out, err = _curl.run(["curl", "-X", "GET\r\nX-Evil: 1", "http://127.0.0.1:9/"])
        self.assertEqual(code, 2)
        self.assertIn(b"is not an HTTP method", err)

    def test_every_request_says_whether_it_is_to_be_verified(self):
        for url, verify, asked in [
            ("https://siem.example.com/", True, True),
            ("https://siem.example.com/", False, False),
            ("http://siem.example.com/", False, True),
        ]:
            egress.calls.clear()
            with self.assertRaises(http.EgressDenied):
                http.get(url, verify=verify)
            self.assertIn(("verify_next_request", asked), egress.calls, url)

    def test_each_kind_of_failure_means_one_thing_to_every_shim(self):
        import socket

        from hookbox import _ssl as ssl  # the `ssl` hooks see

        for code, exit_code, stdlib in [
            ("ConnectionRefused", 7, ConnectionRefusedError),
            ("DnsError", 6, socket.gaierror),
            ("ConnectionReadTimeout", 28, TimeoutError),
            ("HttpResponseTimeout", 28, TimeoutError),
            ("TlsCertificateError", 60, ssl.SSLCertVerificationError),
            ("TlsProtocolError", 35, ssl.SSLError),
            ("HttpResponseBodySize", 63, http.HTTPError),
            ("InternalError", 56, http.HTTPError),
        ]:
            outgoing_handler.error = getattr(types, f"ErrorCode_{code}")()
            got, _out, _err = _curl.run(["curl", "http://127.0.0.1:9/"])
            self.assertEqual(got, exit_code, code)
            error = _httpclient._as_stdlib_error(http.HTTPError("failed", code))
            self.assertIsInstance(error, stdlib, code)


if __name__ == "__main__":
    unittest.main()
