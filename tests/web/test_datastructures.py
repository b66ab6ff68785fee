"""The parsed pieces of a request: headers, query parameters, URLs, uploads, cookies."""

from __future__ import annotations

import re
from http.cookies import SimpleCookie
from urllib.parse import parse_qsl

import pytest
from hypothesis import given, strategies as st

from pyre import _accel
from pyre.web import datastructures
from pyre.web.datastructures import URL, Address, FormData, ImmutableMultiDict, MutableHeaders, QueryParams, UploadFile

from .conftest import twins

RAW = [
    (b"host", b"example.com"),
    (b"accept", b"text/html"),
    (b"x-caf\xe9", b"caf\xe9"),
    (b"accept", b"application/json"),
]


def test_datastructures_exports_the_chosen_twins():
    assert datastructures.Headers is _accel.Headers
    assert datastructures.ContentType is _accel.ContentType
    assert datastructures.parse_query is _accel.parse_query
    assert issubclass(MutableHeaders, _accel.Headers)


# -- Headers ------------------------------------------------------------------------------


def test_headers_get_the_first_value_and_getlist_every_value(parsing):
    headers = parsing.Headers(RAW)
    assert headers.get("accept") == "text/html"
    assert headers["accept"] == "text/html"
    assert headers.getlist("accept") == ["text/html", "application/json"]
    assert headers.get("missing") is None
    assert headers.get("missing", "x") == "x"
    assert headers.getlist("missing") == []
    with pytest.raises(KeyError):
        headers["missing"]


def test_headers_lookups_ignore_the_case_of_the_asked_name(parsing):
    headers = parsing.Headers(RAW)
    assert headers.get("ACCEPT") == "text/html"
    assert "Host" in headers
    assert headers.getlist("Accept") == ["text/html", "application/json"]


def test_headers_from_a_server_keeping_mixed_case_names_are_matched_case_insensitively(parsing):
    headers = parsing.Headers([(b"Content-Type", b"a"), (b"content-type", b"b"), (b"CONTENT-TYPE", b"c"), (b"X", b"1")])
    assert headers.get("content-type") == "a"
    assert headers.getlist("Content-type") == ["a", "b", "c"]
    assert "x" in headers and "X" in headers
    assert headers.keys() == ["content-type", "content-type", "content-type", "x"]


def test_headers_decode_names_and_values_as_latin_1(parsing):
    headers = parsing.Headers(RAW)
    assert headers.get("x-café") == "café"
    assert headers.get("x-€") is None  # no latin-1 name can match
    assert "x-€" not in headers
    assert headers.getlist("x-€") == []


def test_headers_views_count_every_line_in_order(parsing):
    headers = parsing.Headers(RAW)
    assert len(headers) == 4
    assert headers.keys() == ["host", "accept", "x-café", "accept"]
    assert list(headers) == headers.keys()
    assert headers.values() == ["example.com", "text/html", "café", "application/json"]
    assert headers.items()[3] == ("accept", "application/json")
    assert 3 not in headers


def test_headers_are_a_view_without_a_copy(parsing):
    raw = list(RAW)
    headers = parsing.Headers(raw)
    assert headers.raw is raw
    raw.append((b"late", b"1"))
    assert headers.get("late") == "1"
    assert len(parsing.Headers()) == 0


def test_headers_equality_ignores_the_order_of_different_names_only(parsing):
    a = parsing.Headers([(b"a", b"1"), (b"b", b"2"), (b"b", b"3")])
    assert a == parsing.Headers([(b"b", b"2"), (b"A", b"1"), (b"b", b"3")])
    assert a != parsing.Headers([(b"a", b"1"), (b"b", b"3"), (b"b", b"2")])
    assert a != "a"
    assert "Headers(" in repr(a)


def test_mutable_headers_set_replaces_every_value_in_place_of_the_first():
    headers = MutableHeaders([(b"a", b"1"), (b"b", b"2"), (b"A", b"3"), (b"c", b"4")])
    headers["A"] = "x"
    assert headers.raw == [(b"a", b"x"), (b"b", b"2"), (b"c", b"4")]
    headers["d"] = "5"
    assert headers.raw[-1] == (b"d", b"5")


def test_mutable_headers_append_delete_setdefault_update():
    raw: list = []
    headers = MutableHeaders(raw)
    assert headers.raw is raw
    headers.append("Set-Cookie", "a=1")
    headers.append("set-cookie", "b=2")
    assert headers.getlist("set-cookie") == ["a=1", "b=2"]
    assert raw == [(b"set-cookie", b"a=1"), (b"set-cookie", b"b=2")]
    del headers["SET-COOKIE"]
    assert raw == []
    del headers["absent"]  # no error
    del headers["x-€"]
    assert headers.setdefault("vary", "accept") == "accept"
    assert headers.setdefault("vary", "origin") == "accept"
    headers.update({"vary": "origin", "x-a": "1"})
    headers.update([("x-b", "2")])
    assert headers.items() == [("vary", "origin"), ("x-a", "1"), ("x-b", "2")]
    assert MutableHeaders().raw == []


@pytest.mark.parametrize("value", ["a\r\nInjected: 1", "a\nb", "a\rb", "a\0b"])
def test_mutable_headers_refuse_values_that_would_split_the_head(value):
    headers = MutableHeaders()
    with pytest.raises(ValueError, match="CR, LF or NUL"):
        headers["x"] = value
    with pytest.raises(ValueError):
        headers.append("x", value)
    assert headers.raw == []


@pytest.mark.parametrize("name", ["x\r\ny", "a b", "a:b", "", "é", "x\0"])
def test_mutable_headers_refuse_names_that_are_not_tokens(name):
    headers = MutableHeaders()
    with pytest.raises(ValueError, match="not an HTTP token"):
        headers[name] = "1"
    with pytest.raises(ValueError):
        headers.append(name, "1")
    assert headers.raw == []


# -- multi-dicts and query parameters -----------------------------------------------------------


def test_query_params_are_multi_valued_and_give_the_last_value():
    query = QueryParams(b"a=1&b=2&a=3&c")
    assert query["a"] == "3"
    assert query.get("a") == "3"
    assert query.getlist("a") == ["1", "3"]
    assert query["c"] == ""
    assert query.get("z") is None and query.get("z", "d") == "d"
    assert query.getlist("z") == []
    assert "b" in query and "z" not in query
    assert len(query) == 3
    assert query.keys() == list(query) == ["a", "b", "c"]
    assert query.values() == ["3", "2", ""]
    assert query.items() == [("a", "3"), ("b", "2"), ("c", "")]
    assert query.multi_items() == [("a", "1"), ("b", "2"), ("a", "3"), ("c", "")]
    with pytest.raises(KeyError):
        query["z"]


def test_query_params_decoding():
    query = QueryParams(b"q=hello+world&e=%C3%A9t%C3%A9&bad=%FF%ZZ&%3D=%26&&raw=\xc3\xa9&plus=%2B")
    assert query["q"] == "hello world"
    assert query["e"] == "été"
    assert query["bad"] == "\ufffd%ZZ"
    assert query["="] == "&"
    assert query["raw"] == "é"
    assert query["plus"] == "+"


def test_query_params_from_other_sources_and_back_to_a_string():
    assert QueryParams("a=é&b=1") == QueryParams(b"a=%C3%A9&b=1")
    assert QueryParams({"a": "1"}).multi_items() == [("a", "1")]
    assert QueryParams([("a", "1"), ("a", "2")]).getlist("a") == ["1", "2"]
    assert QueryParams(QueryParams(b"x=1")).multi_items() == [("x", "1")]
    assert QueryParams().multi_items() == []
    assert str(QueryParams([("a b", "é&=")])) == "a+b=%C3%A9%26%3D"
    assert QueryParams(b"a=1&b=2") == QueryParams(b"b=2&a=1")
    assert QueryParams(b"a=1") != ImmutableMultiDict([("a", "2")])
    assert QueryParams(b"a=1") != {"a": "1"}
    assert repr(QueryParams(b"a=1")) == "QueryParams([('a', '1')])"


def test_a_pair_list_given_to_a_multi_dict_is_copied():
    pairs = [("a", "1")]
    query = QueryParams(pairs)
    pairs.append(("a", "2"))
    assert query.getlist("a") == ["1"]


ascii_queries = st.text(alphabet="ab=&+%0123456789ABCDEFZ;/ \x00\x7f", max_size=40)


@given(ascii_queries)
def test_parse_query_matches_parse_qsl_on_ascii(text):
    expected = parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="replace")
    for module in twins("parsing").values():
        assert module.parse_query(text.encode("ascii")) == expected


def _escape_non_ascii(raw: bytes) -> str:
    return re.sub(rb"[\x80-\xff]", lambda m: b"%%%02X" % m[0][0], raw).decode("ascii")


@given(st.binary(max_size=40) | st.lists(st.sampled_from([b"a", b"=", b"&", b"+", b"%", b"C3", b"\xc3", b"\xa9", b"%A9"])).map(b"".join))
def test_parse_query_decodes_raw_bytes_like_their_escapes(raw):
    expected = parse_qsl(_escape_non_ascii(raw), keep_blank_values=True, encoding="utf-8", errors="replace")
    for module in twins("parsing").values():
        assert module.parse_query(raw) == expected


@given(st.lists(st.tuples(st.text(max_size=8), st.text(max_size=8)), max_size=6))
def test_query_params_round_trip_through_their_string(pairs):
    assert QueryParams(str(QueryParams(pairs)).encode("ascii")).multi_items() == pairs


# -- URL ------------------------------------------------------------------------------------------


def test_url_pieces_are_split_on_first_read():
    url = URL("https://user:pw@Example.com:8443/a%20b/c?x=1&y=2#frag")
    assert url._split is None
    assert url.scheme == "https"
    assert url._split is not None
    assert url.netloc == "user:pw@Example.com:8443"
    assert url.hostname == "example.com"
    assert url.port == 8443
    assert url.username == "user" and url.password == "pw"
    assert url.path == "/a%20b/c"
    assert url.query == "x=1&y=2"
    assert url.fragment == "frag"
    assert url.is_secure
    assert str(url) == "https://user:pw@Example.com:8443/a%20b/c?x=1&y=2#frag"
    assert not URL("http://h/").is_secure and URL("http://h/").port is None


def test_url_replace_and_query_helpers():
    url = URL("http://example.com/p?a=1&b=2&a=3")
    assert str(url.replace(scheme="https", path="/q")) == "https://example.com/q?a=1&b=2&a=3"
    assert str(url.replace(port=8080)) == "http://example.com:8080/p?a=1&b=2&a=3"
    assert str(url.replace(hostname="::1")) == "http://[::1]/p?a=1&b=2&a=3"
    assert str(url.replace(username="u", password="p")) == "http://u:p@example.com/p?a=1&b=2&a=3"
    assert str(url.replace(username="u")) == "http://u@example.com/p?a=1&b=2&a=3"
    assert str(url.include_query_params(a="x y", c=3)) == "http://example.com/p?b=2&a=x+y&c=3"
    assert str(url.remove_query_params("a")) == "http://example.com/p?b=2"
    assert URL("http://[::1]:9/").hostname == "::1"


def test_url_equality_hash_and_repr():
    assert URL("http://a/") == "http://a/"
    assert URL("http://a/") == URL("http://a/")
    assert URL("http://a/") != URL("http://b/")
    assert URL("http://a/") != 3
    assert hash(URL("http://a/")) == hash(URL("http://a/"))
    assert repr(URL("http://a/")) == "URL('http://a/')"
    assert str(URL()) == ""


def test_address_is_a_named_pair():
    address = Address("10.0.0.1", 5000)
    assert address.host == "10.0.0.1" and address.port == 5000
    host, port = address
    assert (host, port) == ("10.0.0.1", 5000)


# -- header values ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, expected",
    [
        ("", ("", {})),
        ("Text/HTML", ("text/html", {})),
        ("text/html; Charset=UTF-8", ("text/html", {"charset": "UTF-8"})),
        ('multipart/form-data; boundary="a;b=c"', ("multipart/form-data", {"boundary": "a;b=c"})),
        ('form-data; name="f"; filename="a \\"q\\" \\\\ b.txt"', ("form-data", {"name": "f", "filename": 'a "q" \\ b.txt'})),
        ('form-data; filename="C:\\dir\\x.txt"', ("form-data", {"filename": "C:\\dir\\x.txt"})),
        ("a; flag; x=1;;", ("a", {"flag": "", "x": "1"})),
        ('a; flag; x="1"; y = "2" ;', ("a", {"flag": "", "x": "1", "y": "2"})),
        ('a; x="unterminated', ("a", {"x": '"unterminated'})),
        ("a; x=1; x=2", ("a", {"x": "2"})),
        ('a; x=""', ("a", {"x": ""})),
    ],
)
def test_parse_options_header(parsing, value, expected):
    assert parsing.parse_options_header(value) == expected
    assert isinstance(parsing.parse_options_header(value), parsing.ContentType)


# -- cookies --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header, expected",
    [
        ("", {}),
        ("a=1", {"a": "1"}),
        ("a=1; b=2;c=3", {"a": "1", "b": "2", "c": "3"}),
        (" a = 1 ;\tb=2\t", {"a": "1", "b": "2"}),
        ("a=1; a=2", {"a": "1"}),  # the most specific path comes first
        ("token", {"": "token"}),  # a crumb without "=" is a value with an empty name
        ("a=b=c", {"a": "b=c"}),
        ("a=", {"a": ""}),
        (";;a=1;;", {"a": "1"}),
        ('a="quoted value"', {"a": "quoted value"}),
        ('a="\\"x\\"\\054y\\\\"', {"a": '"x",y\\'}),
        ('a="', {"a": '"'}),
        ("a=caf\xe9 x,y", {"a": "caf\xe9 x,y"}),
        ("a=\xa01\xa0", {"a": "\xa01\xa0"}),  # only spaces and tabs are trimmed
    ],
)
def test_parse_cookies(parsing, header, expected):
    assert parsing.parse_cookies(header) == expected


RESERVED = {"expires", "path", "comment", "domain", "max-age", "secure", "httponly", "version", "samesite", "partitioned"}
cookie_names = st.text(alphabet="abcXYZ019_-.!#%&'*+^`|~", min_size=1, max_size=8).filter(
    lambda name: name.lower() not in RESERVED
)
plain_values = st.text(alphabet="abcXYZ019!#%&'~_`><@:/$*+-.^|)(?}{=[]", max_size=10)


@given(st.dictionaries(cookie_names, plain_values, max_size=5))
def test_parse_cookies_matches_simple_cookie_on_plain_values(cookies):
    header = "; ".join(f"{name}={value}" for name, value in cookies.items())
    reference = SimpleCookie()
    reference.load(header)
    for module in twins("parsing").values():
        assert module.parse_cookies(header) == {name: morsel.value for name, morsel in reference.items()}


@given(st.dictionaries(cookie_names, st.text(alphabet=st.characters(max_codepoint=255), max_size=10), max_size=5))
def test_parse_cookies_undoes_the_quoting_of_http_cookies(cookies):
    writer = SimpleCookie()
    for name, value in cookies.items():
        writer[name] = value
    header = "; ".join(f"{name}={writer[name].coded_value}" for name in cookies)
    for module in twins("parsing").values():
        assert module.parse_cookies(header) == cookies


# -- uploads and forms -----------------------------------------------------------------------------


async def test_upload_file_in_memory_then_spooled_to_disk():
    upload = UploadFile(filename="a.txt", content_type="text/plain", spool_threshold=10)
    assert upload.in_memory
    assert await upload.write(b"12345") == 5
    assert upload.in_memory and upload.size == 5
    await upload.write(b"6789012345")
    assert not upload.in_memory and upload.size == 15
    assert await upload.seek(0) == 0
    assert await upload.read(3) == b"123"
    assert await upload.read() == b"456789012345"
    await upload.seek(2)
    assert await upload.read(1) == b"3"
    await upload.close()
    assert upload.file.closed
    assert repr(upload) == "UploadFile(filename='a.txt', content_type='text/plain', size=15)"
    assert len(UploadFile().headers) == 0


async def test_form_data_close_closes_every_file():
    first, second = UploadFile(), UploadFile(spool_threshold=1)
    await second.write(b"on disk")
    form = FormData([("a", "1"), ("f", first), ("f", second)])
    assert form.getlist("f") == [first, second]
    await form.close()
    assert first.file.closed and second.file.closed
