"""The TechEmpower-style suite (bench/tfb): the schema, every app on Pyre against the verifier,
and the verifier itself, on canned replies and on an app that breaks the rules."""

from __future__ import annotations

import html
import json
import re
from typing import Dict, List

import pytest

from bench.tfb import frameworks
from bench.tfb.rules import ADDITIONAL_FORTUNE, FORTUNES, expected_fortunes, queries_count
from bench.tfb.verify import (
    Reply,
    check_date_changes,
    check_db,
    check_fortunes,
    check_headers,
    check_json,
    check_plaintext,
    check_reply,
    check_worlds,
    verify_server,
)

DATE = "Sun, 06 Nov 1994 08:49:37 GMT"
LATER = "Sun, 06 Nov 1994 08:49:38 GMT"


# --------------------------------------------------------------------------------------------
# The database
# --------------------------------------------------------------------------------------------


def test_database_holds_the_tfb_schema(tfb_database):
    assert tfb_database.query("SELECT count(*), min(id), max(id), min(randomnumber) >= 1, "
                              "max(randomnumber) <= 10000 FROM world") == [["10000", "1", "10000", "t", "t"]]
    rows = tfb_database.query("SELECT id, message FROM fortune ORDER BY id")
    assert [(int(i), m) for i, m in rows] == list(FORTUNES)
    assert tfb_database.query("SELECT count(*) FROM pg_extension WHERE extname = 'pg_stat_statements'") == [["1"]]
    assert "/pyre-tfb-pg-" in tfb_database.dsn and tfb_database.dsn.startswith("postgresql://benchmarkdbuser:")


# --------------------------------------------------------------------------------------------
# Every app on Pyre
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("framework", frameworks.available(), ids=lambda f: f.name)
def test_app_follows_the_tfb_rules_on_pyre(framework, serve_tfb, tfb_database):
    why = framework.missing()
    if why:
        assert not framework.ci_verified, why
        pytest.skip(why)
    module, why = framework.load()
    assert module is not None, why
    server = serve_tfb(framework.app())
    try:
        problems = verify_server(server.port, tfb_database)
    finally:
        server.stop()
    assert problems == []


def test_verifier_reports_every_broken_rule(serve_tfb, tfb_database):
    server = serve_tfb("tests.bench.broken_tfb_app:app", "--no-date-header")
    try:
        problems = verify_server(server.port, tfb_database)
    finally:
        server.stop()
    text = "\n".join(problems)
    # Not persisted: (almost) every row differs from PostgreSQL; one may hit its stored number by chance.
    assert re.search(r"^/updates\?queries=20: (19|20) of 20 rows differ from PostgreSQL", text, re.M), text
    for expected in [
        "/json: body is {'message': 'Hello, world!'}, expected exactly {'message': 'Hello, World!'}",
        "Date did not change between requests",
        "/queries?queries=20: expected 20 queries reading one World row each, PostgreSQL counted 1 quer(ies)",
        "/queries?queries=501: 501 World objects, expected 500",
        "/updates?queries=20: PostgreSQL counted 0 World row(s) updated, expected 20",
        "/fortunes: the <script> fortune is not HTML-escaped",
        "/fortunes: the fortune added at request time is missing",
    ]:
        assert expected in text, text
    # What the app does right is not reported.
    assert not [p for p in problems if p.startswith(("/plaintext", "/db", "/queries?queries=1:", "/json: Content"))]


# --------------------------------------------------------------------------------------------
# The verifier on canned replies
# --------------------------------------------------------------------------------------------


def reply(target: str, body: bytes, content_type: str = "application/json", **headers: str) -> Reply:
    base: Dict[str, str] = {"server": "test", "date": DATE, "content-type": content_type,
                            "content-length": str(len(body))}
    base.update({k.replace("_", "-"): v for k, v in headers.items()})
    return Reply(target, 200, {k: v for k, v in base.items() if v}, body)


def fortunes_page(rows: List[tuple], escape: bool = True) -> bytes:
    cells = "".join(f"<tr><td>{i}</td><td>{html.escape(m) if escape else m}</td></tr>" for i, m in rows)
    return ("<!DOCTYPE html><html><head><title>Fortunes</title></head><body><table>"
            f"<tr><th>id</th><th>message</th></tr>{cells}</table></body></html>").encode()


def test_queries_parameter_is_clamped():
    assert [queries_count(v) for v in (None, "", "foo", "0", "-1", "1", "20", "500", "501", b"7", "2.5")] == \
        [1, 1, 1, 1, 1, 1, 20, 500, 500, 7, 1]


def test_headers_are_checked():
    assert check_headers(reply("/json", b"{}"), "json") == []
    assert check_headers(reply("/json", b"{}", "application/json; charset=utf-8"), "json") == []
    problems = check_headers(reply("/json", b"{}", "text/json", server="", date="yesterday", content_length=""),
                             "json")
    assert problems == [
        "/json: no Server header",
        "/json: Date 'yesterday' is not an IMF-fixdate (e.g. 'Sun, 06 Nov 1994 08:49:37 GMT')",
        "/json: Content-Type 'text/json' does not match '^application/json(; ?charset=(UTF|utf)-8)?$'",
        "/json: neither Content-Length nor chunked Transfer-Encoding",
    ]
    assert check_headers(reply("/x", b"", "text/plain", date="", transfer_encoding="chunked"), "plaintext") == \
        ["/x: no Date header"]
    assert check_headers(Reply("/x", 500, {"server": "s", "date": DATE, "content-type": "text/plain",
                                           "content-length": "0"}, b""), "plaintext") == \
        ["/x: status 500, expected 200 (body b'')"]


def test_date_must_change():
    first, second = reply("/plaintext", b""), reply("/plaintext", b"")
    assert check_date_changes(first, second)[0].startswith("Date did not change between requests")
    problems = check_date_changes(first, reply("/plaintext", b"", date=LATER))
    assert len(problems) == 1 and "away from this machine's clock" in problems[0]


def test_json_and_plaintext_bodies():
    assert check_json(reply("/json", b'{"message": "Hello, World!"}')) == []
    assert check_json(reply("/json", b'{"message":"Hello, World!","x":1}')) == [
        "/json: body is {'message': 'Hello, World!', 'x': 1}, expected exactly {'message': 'Hello, World!'}"]
    assert check_json(reply("/json", b"Hello"))[0].startswith("/json: body is not JSON")
    assert check_plaintext(reply("/plaintext", b"Hello, World!", "text/plain")) == []
    assert check_plaintext(reply("/plaintext", b"Hello, World!\n", "text/plain")) == [
        "/plaintext: body is b'Hello, World!\\n', expected b'Hello, World!'"]


def test_world_rows_shape_and_ranges():
    assert check_db(reply("/db", b'{"id": 1, "randomNumber": 10000}')) == ([], [{"id": 1, "randomNumber": 10000}])
    assert check_db(reply("/db", b'[{"id": 1, "randomNumber": 2}]'))[0] == [
        "/db: expected a World object, got [{'id': 1, 'randomNumber': 2}]"]
    assert check_db(reply("/db", b'{"id": 0, "randomnumber": 2}'))[0] == [
        "/db: World object has keys ['id', 'randomnumber'], expected ['id', 'randomNumber']"]
    assert check_db(reply("/db", b'{"id": 10001, "randomNumber": "2"}'))[0] == [
        "/db: id 10001 is outside 1..10000", "/db: randomNumber is '2', not an integer"]
    worlds = json.dumps([{"id": i, "randomNumber": i} for i in range(1, 4)]).encode()
    assert check_worlds(reply("/queries?queries=3", worlds), 3)[0] == []
    assert check_worlds(reply("/queries", worlds), 1)[0] == ["/queries: 3 World objects, expected 1"]
    assert check_worlds(reply("/queries", b'{"id": 1, "randomNumber": 1}'), 1)[0] == [
        "/queries: expected a JSON array of World objects, got {'id': 1, 'randomNumber': 1}"]


def test_fortunes_page_rules():
    assert check_fortunes(reply("/fortunes", fortunes_page(expected_fortunes()), "text/html; charset=utf-8")) == []
    unescaped = check_fortunes(reply("/fortunes", fortunes_page(expected_fortunes(), escape=False),
                                     "text/html; charset=utf-8"))
    assert unescaped[0] == "/fortunes: the <script> fortune is not HTML-escaped"
    by_id = sorted(expected_fortunes())
    assert check_fortunes(reply("/fortunes", fortunes_page(by_id), "text/html; charset=utf-8"))[0].startswith(
        "/fortunes: rows are not sorted by message")
    without_added = [row for row in expected_fortunes() if row != ADDITIONAL_FORTUNE]
    assert check_fortunes(reply("/fortunes", fortunes_page(without_added), "text/html; charset=utf-8"))[0] == \
        "/fortunes: the fortune added at request time is missing"
    mangled = [(i, m.encode("utf-8").decode("latin-1")) for i, m in expected_fortunes()]
    problems = check_fortunes(reply("/fortunes", fortunes_page(mangled), "text/html; charset=utf-8"))
    assert "/fortunes: the Japanese fortune is missing or altered" in problems
    assert check_fortunes(reply("/fortunes", fortunes_page(expected_fortunes()), "text/html")) == [
        "/fortunes: Content-Type 'text/html' does not match '^text/html; ?charset=(UTF|utf)-8$'"]


def test_check_reply_picks_the_rules_by_target():
    worlds = json.dumps([{"id": 1, "randomNumber": 1}] * 500).encode()
    assert check_reply(reply("/updates?queries=501", worlds)) == []
    assert check_reply(reply("/queries?queries=foo", worlds)) == ["/queries?queries=foo: 500 World objects, expected 1"]
    with pytest.raises(ValueError, match="no TechEmpower test type is served at '/nope'"):
        check_reply(reply("/nope", b""))
