"""The compiled and the pure twins of pyre.web.parsing and pyre.web.request agree on
every generated input: same values, same exceptions."""

from __future__ import annotations

import asyncio

from hypothesis import given, settings, strategies as st

from pyre._accel import load_twins

PARSING = load_twins("parsing")
REQUEST = load_twins("request")

def test_twins_are_built():
    assert PARSING["c"] is not None, "the compiled pyre.web.parsing is not built"
    assert REQUEST["c"] is not None, "the compiled pyre.web.request is not built"


def outcome(function, *args):
    """What a call gives: ("ok", value) or ("error", exception type and message)."""
    try:
        return ("ok", function(*args))
    except Exception as exc:  # noqa: BLE001 - compared between the twins
        return ("error", type(exc), str(exc))


def both(name, *args):
    results = [outcome(getattr(PARSING[kind], name), *args) for kind in ("c", "py")]
    assert results[0] == results[1], (name, args, results)
    return results[0]


header_names = st.sampled_from([b"host", b"Host", b"cookie", b"Cookie", b"content-type", b"Content-Length", b"x-a", b"X-A", b"\xe9", b""])
header_values = st.binary(max_size=20) | st.sampled_from([b"a=1; b=2", b'a="x\\"y"', b"text/html; charset=utf-8", b"12", b" 7 "])
raw_headers = st.lists(st.tuples(header_names, header_values), max_size=8)
lookups = st.sampled_from(["host", "HOST", "cookie", "content-type", "content-length", "x-a", "é", "€", "", "missing"])
texts = st.text(max_size=30) | st.sampled_from(['form-data; name="a;b"; filename="c\\"d"', 'a; x="unterminated', "a=1; a=2; b"])


@given(st.binary(max_size=40) | st.text(max_size=20), texts)
def test_parsers_agree(raw, text):
    both("parse_query", raw)
    both("parse_options_header", text)
    both("parse_cookies", text)
    both("parse_cookies", raw)  # a wrong type fails alike


@given(raw_headers, lookups)
def test_headers_agree(raw, name):
    views = [PARSING[kind].Headers(raw) for kind in ("c", "py")]
    for method in ("get", "getlist", "__getitem__", "__contains__", "keys", "values", "items", "__len__", "__repr__"):
        args = () if method in ("keys", "values", "items", "__len__", "__repr__") else (name,)
        results = [outcome(getattr(view, method), *args) for view in views]
        assert results[0] == results[1], (method, raw, name, results)
    assert (views[0] == PARSING["c"].Headers(list(reversed(raw)))) == (views[1] == PARSING["py"].Headers(list(reversed(raw))))


scopes = st.fixed_dictionaries(
    {
        "type": st.just("http"),
        "method": st.sampled_from(["GET", "POST"]),
        "path": st.text(max_size=10).map(lambda p: "/" + p),
        "query_string": st.binary(max_size=30),
        "headers": raw_headers,
    },
    optional={
        "raw_path": st.binary(max_size=12).map(lambda p: b"/" + p),
        "root_path": st.sampled_from(["", "/api", "/é"]),
        "scheme": st.sampled_from(["http", "https"]),
        "server": st.sampled_from([None, ("127.0.0.1", 80), ("::1", 8443), ("/sock", None)]),
        "client": st.sampled_from([None, ("10.0.0.1", 5000)]),
        "http_version": st.sampled_from(["1.0", "1.1", "2"]),
    },
)

PROPERTIES = ("method", "path", "raw_path", "scheme", "http_version", "client", "content_type", "content_length", "cookies")


def observe(Request, scope, chunks, limit):
    async def receive_from(messages):
        return messages.pop(0)

    messages = [{"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1} for i, chunk in enumerate(chunks)]
    request = Request(scope, lambda: receive_from(messages))
    request.max_body_size = limit
    seen = {name: outcome(getattr, request, name) for name in PROPERTIES}
    seen["headers"] = outcome(lambda: request.headers.items())
    seen["query"] = outcome(lambda: request.query.multi_items())
    seen["url"] = outcome(lambda: str(request.url))
    seen["base_url"] = outcome(lambda: str(request.base_url))
    seen["json"] = outcome(lambda: asyncio.run(request.json()))
    seen["body"] = outcome(lambda: asyncio.run(request.body()))
    return seen


@settings(max_examples=150, deadline=None)
@given(scopes, st.lists(st.binary(max_size=8) | st.sampled_from([b"{", b'"a"', b"}", b"1"]), min_size=1, max_size=4), st.none() | st.integers(0, 20))
def test_requests_agree(scope, chunks, limit):
    def canonical(seen):
        # HTTPError has no __eq__: compare the exception type and message only.
        return {key: value if value[0] == "ok" else value[:3] for key, value in seen.items()}

    results = [canonical(observe(REQUEST[kind].Request, dict(scope, headers=list(scope["headers"])), chunks, limit)) for kind in ("c", "py")]
    assert results[0] == results[1]
