"""Malformed and hostile HTTP/1.1 requests with the status Pyre must answer.

Case ids follow ../shared/reference/hostile-inputs.md (H1-xx). Used by the parser
tests (both twins, every byte split) and by the over-the-wire tests.
"""

from __future__ import annotations

H = b"Host: a\r\n"
SMUGGLED = b"GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n"


def post(headers: bytes, body: bytes = b"") -> bytes:
    return b"POST / HTTP/1.1\r\n" + H + headers + b"\r\n" + body


def chunked(body: bytes) -> bytes:
    return post(b"Transfer-Encoding: chunked\r\n", body)


CASES = [
    # H1-01 CL + TE, both orders
    ("H1-01 CL then TE", post(b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", b"0\r\n\r\n"), 400),
    ("H1-01 TE then CL", post(b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", b"0\r\n\r\n"), 400),
    # H1-02/03 duplicate Content-Length
    ("H1-02 different CLs", post(b"Content-Length: 1\r\nContent-Length: 0\r\n", b"Z"), 400),
    ("H1-03 same CL twice", post(b"Content-Length: 3\r\nContent-Length: 3\r\n", b"abc"), 400),
    ("H1-03 CL list same", post(b"Content-Length: 3, 3\r\n", b"abc"), 400),
    ("H1-03 CL list different", post(b"Content-Length: 3, 4\r\n", b"abc"), 400),
    # H1-04 Content-Length syntax
    *[(f"H1-04 CL {v!r}", post(b"Content-Length: " + v + b"\r\n", b"abc"), 400)
      for v in (b"+3", b"-1", b"0x3", b"1_0", b"1 2", b"", b"3Z", b"3.0", b"\xd9\xa3", b"1" * 30, b"9" * 5000)],
    # H1-05 body over the limit
    ("H1-05 CL over limit", post(b"Content-Length: 10737418240\r\n", b"x"), 413),
    ("H1-05 chunked over limit", chunked(b"400\r\n" + b"x" * 1024 + b"\r\n400\r\n" + b"x" * 1024 + b"\r\n0\r\n\r\n"), 413),
    # H1-06/07/08 Transfer-Encoding
    ("H1-06 gzip", post(b"Transfer-Encoding: gzip\r\n"), 501),
    ("H1-06 chunked, gzip", post(b"Transfer-Encoding: chunked, gzip\r\n"), 400),
    ("H1-06 gzip, chunked", post(b"Transfer-Encoding: gzip, chunked\r\n", b"0\r\n\r\n"), 501),
    ("H1-06 identity", post(b"Transfer-Encoding: identity\r\n"), 501),
    ("H1-06 nbsp chunked", post(b"Transfer-Encoding: \xa0chunked\xa0\r\n"), 400),
    ("H1-06 chunked with params", post(b"Transfer-Encoding: chunked;q=1\r\n"), 400),
    ("H1-06 empty TE", post(b"Transfer-Encoding: \r\n"), 400),
    ("H1-08 chunked twice, one line", post(b"Transfer-Encoding: chunked, chunked\r\n", b"0\r\n\r\n"), 400),
    ("H1-08 chunked twice, two lines", post(b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", b"0\r\n\r\n"), 400),
    ("H1-08 TE split over lines", post(b"Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n", b"0\r\n\r\n"), 501),
    ("H1-10 TE on HTTP/1.0", b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    # H1-12/13 chunk size
    *[(f"H1-12 chunk size {v!r}", chunked(v + b"\r\nabc\r\n0\r\n\r\n"), 400)
      for v in (b"0x3", b"+3", b"-0", b"0_2e", b" 3", b"", b"3\x00", b"g", b"3 ;", b";a")],
    ("H1-13 chunk size overflow", chunked(b"10000000000000000000003\r\nabc\r\n0\r\n\r\n"), 400),
    ("H1-13 chunk size 2^64-1", chunked(b"ffffffffffffffff\r\nabc\r\n0\r\n\r\n"), 400),
    # H1-14 chunk line terminators
    ("H1-14 bare LF after size", chunked(b"3\nabc\r\n0\r\n\r\n"), 400),
    ("H1-14 bare CR after size", chunked(b"5\r\r;ABCD\r\n34\r\nE\r\n0\r\n\r\n"), 400),
    ("H1-14 LF in chunk-ext", chunked(b"3;a\nxx\r\nabc\r\n0\r\n\r\n"), 400),
    ("H1-14 CR in chunk-ext", chunked(b"3;a\rxx\r\nabc\r\n0\r\n\r\n"), 400),
    ("H1-14 NUL in chunk-ext", chunked(b"3;a\x00\r\nabc\r\n0\r\n\r\n"), 400),
    ("H1-14 bare LF after last chunk", chunked(b"3\r\nabc\r\n0\n\r\n"), 400),
    # H1-15 chunk data not followed by CRLF
    ("H1-15 no CRLF after data", chunked(b"3\r\nabcXX0\r\n\r\n"), 400),
    ("H1-15 LF only after data", chunked(b"3\r\nabc\n0\r\n\r\n"), 400),
    ("H1-15 CR only after data", chunked(b"3\r\nabc\r0\r\n\r\n"), 400),
    # H1-16 chunk-extension abuse
    ("H1-16 long chunk-ext", chunked(b"1;" + b"a" * 5000 + b"\r\nx\r\n0\r\n\r\n"), 400),
    ("H1-16 many chunk-exts", chunked(b"".join(b"1;" + b"e" * 1000 + b"\r\nx\r\n" for _ in range(5)) + b"0\r\n\r\n"), 400),
    # H1-18 trailers
    ("H1-18 trailer without colon", chunked(b"0\r\nNoColon\r\n\r\n"), 400),
    ("H1-18 trailer with bare LF", chunked(b"0\r\nX: a\nY: b\r\n\r\n"), 400),
    ("H1-18 trailer obs-fold", chunked(b"0\r\nX: a\r\n b\r\n\r\n"), 400),
    ("H1-18 trailer too large", chunked(b"0\r\n" + b"".join(b"X-%d: %s\r\n" % (i, b"v" * 1000) for i in range(80)) + b"\r\n"), 431),
    # H1-19 invalid chunk followed by a request
    ("H1-19 invalid chunk then request", chunked(b"INVALID!!!\r\n") + SMUGGLED, 400),
    # H1-20 method
    *[(f"H1-20 method {m!r}", m + b" / HTTP/1.1\r\n" + H + b"\r\n", 400)
      for m in (b"G(T", b"\x00", b'G=":<>(e),[T];?"', b"GET\x7f", b"G\xc3\xa9T", b"GE T")],
    # H1-21 whitespace in the request line
    ("H1-21 double space", b"GET  / HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("H1-21 double space before version", b"GET /  HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("H1-21 tab separator", b"GET\t/ HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("H1-21 LF separator", b"GET /\nHTTP/1.1\r\n" + H + b"\r\n", 400),
    ("H1-21 trailing space", b"GET / HTTP/1.1 \r\n" + H + b"\r\n", 400),
    ("H1-21 leading space", b" GET / HTTP/1.1\r\n" + H + b"\r\n", 400),
    # H1-22/23 versions
    ("H1-22 HTTP/2.0", b"GET / HTTP/2.0\r\n" + H + b"\r\n", 505),
    ("H1-22 HTTP/3.0", b"GET / HTTP/3.0\r\n" + H + b"\r\n", 505),
    ("H1-22 HTTP/0.9 line", b"GET / HTTP/0.9\r\n" + H + b"\r\n", 505),
    ("H1-22 HTTP/1.32", b"GET / HTTP/1.32\r\n" + H + b"\r\n", 400),
    ("H1-22 lowercase", b"GET / http/1.1\r\n" + H + b"\r\n", 400),
    ("H1-22 huge version", b"GET / HTTP/4294967295.255\r\n" + H + b"\r\n", 400),
    ("H1-22 HTTP/1.1x", b"GET / HTTP/1.1x\r\n" + H + b"\r\n", 400),
    ("H1-22 HTTP/1", b"GET / HTTP/1\r\n" + H + b"\r\n", 400),
    ("H1-23 HTTP/0.9 simple request", b"GET /\r\n\r\n", 400),
    ("H1-24 preface not first", None, 505),  # see test_h2_preface_only_first_message
    # H1-25 target forms and characters
    ("H1-25 GET *", b"GET * HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("H1-25 CONNECT", b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", 501),
    ("H1-25 authority-form on GET", b"GET a:443 HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("H1-25 relative target", b"GET index.html HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("H1-25 NUL in target", b"GET /a\x00b HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("H1-25 DEL in target", b"GET /a\x7fb HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("H1-25 CTL in target", b"GET /a\x01b HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("H1-25 raw UTF-8 in target", b"GET /caf\xc3\xa9 HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("H1-25 userinfo in absolute-form", b"GET http://u@b/x HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("H1-25 empty authority", b"GET http:///x HTTP/1.1\r\n" + H + b"\r\n", 400),
    # H1-26 request line length (default limit 8 KiB)
    ("H1-26 64 KiB target", b"GET /" + b"a" * 65536 + b" HTTP/1.1\r\n" + H + b"\r\n", 414),
    ("H1-26 target without end", b"GET /" + b"a" * 70000, 414),
    # H1-28..35 header fields
    ("H1-28 space before colon", post(b"Content-Length : 3\r\n", b"abc"), 400),
    ("H1-28 tab before colon", b"GET / HTTP/1.1\r\n" + H + b"X\t: y\r\n\r\n", 400),
    ("H1-29 whitespace before first header", b"GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400),
    ("H1-29 tab before first header", b"GET / HTTP/1.1\r\n\tContent-Length: 1\r\n" + H + b"\r\nx", 400),
    ("H1-30 obs-fold", b"GET / HTTP/1.1\r\n" + H + b"X-Foo: a\r\n b\r\n\r\n", 400),
    ("H1-30 obs-fold on TE", post(b"Transfer-Encoding:\r\n chunked\r\n", b"0\r\n\r\n"), 400),
    ("H1-31 bare LF endings", b"GET / HTTP/1.1\nHost: a\n\n", 400),
    ("H1-31 mixed endings", b"GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n", 400),
    ("H1-31 bare LF before request", b"\nGET / HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("H1-32 bare CR in value", b"GET / HTTP/1.1\r\n" + H + b"X: a\rb\r\n\r\n", 400),
    ("H1-32 bare CR as separator", b"GET / HTTP/1.1\r\n" + H + b"Visible: x\rSmuggled: y\r\n\r\n", 400),
    ("H1-32 bare CR in request line", b"GET /\r HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("H1-33 NUL in value", b"GET / HTTP/1.1\r\n" + H + b"X: a\x00b\r\n\r\n", 400),
    ("H1-33 \\x01 in value", b"GET / HTTP/1.1\r\n" + H + b"X: a\x01b\r\n\r\n", 400),
    ("H1-33 DEL in value", b"GET / HTTP/1.1\r\n" + H + b"X: a\x7f\r\n\r\n", 400),
    ("H1-33 ESC in value", b"GET / HTTP/1.1\r\n" + H + b"X: \x1b[31m\r\n\r\n", 400),
    ("H1-35 empty name", b"GET / HTTP/1.1\r\n" + H + b": x\r\n\r\n", 400),
    ("H1-35 colon only", b"GET / HTTP/1.1\r\n" + H + b":\r\n\r\n", 400),
    ("H1-35 paren in name", b"GET / HTTP/1.1\r\n" + H + b"X(a): b\r\n\r\n", 400),
    ("H1-35 non-ASCII name", b"GET / HTTP/1.1\r\n" + H + b"\xefoo: bar\r\n\r\n", 400),
    ("H1-35 no colon", b"GET / HTTP/1.1\r\n" + H + b"Content-Length 10\r\n\r\n", 400),
    ("H1-35 name continued", b"GET / HTTP/1.1\r\n" + H + b"Transfer-\r\nEncoding: chunked\r\n\r\n", 400),
    ("H1-35 NUL in name", b"GET / HTTP/1.1\r\n" + H + b"X\x00Y: b\r\n\r\n", 400),
    # H1-36 Host
    ("H1-36 missing Host", b"GET / HTTP/1.1\r\n\r\n", 400),
    ("H1-36 two Host lines", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    ("H1-36 two Host on 1.0", b"GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    ("H1-36 Host with space", b"GET / HTTP/1.1\r\nHost: a b/c\r\n\r\n", 400),
    ("H1-36 Host with userinfo", b"GET / HTTP/1.1\r\nHost: a@b\r\n\r\n", 400),
    ("H1-36 Host with slash", b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400),
    # H1-37 header limits (defaults: 64 KiB section, 100 fields)
    ("H1-37 100 KB header", b"GET / HTTP/1.1\r\n" + H + b"X: " + b"v" * 100_000 + b"\r\n\r\n", 431),
    ("H1-37 1 MB header", b"GET / HTTP/1.1\r\n" + H + b"X: " + b"v" * 1_000_000 + b"\r\n\r\n", 431),
    ("H1-37 101 fields", b"GET / HTTP/1.1\r\n" + H + b"".join(b"X-%d: v\r\n" % i for i in range(100)) + b"\r\n", 431),
    ("H1-37 5000 fields", b"GET / HTTP/1.1\r\n" + H + b"".join(b"X-%d: v\r\n" % i for i in range(5000)) + b"\r\n", 431),
    ("H1-37 header never ends", b"GET / HTTP/1.1\r\n" + H + b"X: " + b"v" * 70_000, 431),
]
