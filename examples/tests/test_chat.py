"""The chat room: its page, and its WebSocket with two people in it."""

from __future__ import annotations

import pytest

from pyre.web.testing import WebSocketDenied, WebSocketDisconnect


def test_home_redirects_to_the_lobby(client):
    response = client.get("/", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/chat/lobby"


def test_the_page_names_the_room_and_its_socket(client):
    page = client.get("/chat/lobby")
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert "<h1>Room lobby</h1>" in page.text
    assert 'const socketPath = "/chat/lobby/ws";' in page.text


def test_the_room_name_is_escaped_in_the_page(client):
    page = client.get("/chat/%3Cscript%3E")
    assert "<h1>Room &lt;script&gt;</h1>" in page.text and "<script>alert" not in page.text


def test_two_people_talk(client):
    with client.websocket_connect("/chat/lobby/ws?name=ann") as ann:
        assert ann.receive_json() == {"type": "join", "user": "ann"}
        with client.websocket_connect("/chat/lobby/ws?name=bob") as bob:
            assert ann.receive_json() == {"type": "join", "user": "bob"}
            assert bob.receive_json() == {"type": "join", "user": "bob"}
            ann.send_json({"text": "hi Bob"})
            assert bob.receive_json() == {"type": "message", "user": "ann", "text": "hi Bob"}
            assert ann.receive_json() == {"type": "message", "user": "ann", "text": "hi Bob"}
        assert ann.receive_json() == {"type": "leave", "user": "bob"}


def test_rooms_are_separate(client):
    with client.websocket_connect("/chat/a/ws?name=ann") as ann, client.websocket_connect("/chat/b/ws?name=bob") as bob:
        assert ann.receive_json()["user"] == "ann" and bob.receive_json()["user"] == "bob"
        bob.send_json({"text": "only room b"})
        assert bob.receive_json()["text"] == "only room b"
        ann.send_json({"text": "only room a"})
        assert ann.receive_json() == {"type": "message", "user": "ann", "text": "only room a"}


@pytest.mark.parametrize("message", [{"text": ""}, {"text": 3}, ["text"], {"text": "x" * 2001}])
def test_a_bad_message_is_answered_to_its_sender_only(client, message):
    with client.websocket_connect("/chat/lobby/ws?name=ann") as ann:
        ann.receive_json()
        ann.send_json(message)
        assert ann.receive_json() == {"type": "error", "detail": 'send {"text": "..."}, 1 to 2000 characters'}


def test_invalid_json_closes_with_1007(client):
    with client.websocket_connect("/chat/lobby/ws?name=ann") as ann:
        ann.receive_json()
        ann.send_text("{not json")
        with pytest.raises(WebSocketDisconnect) as closed:
            ann.receive_json()
    assert (closed.value.code, closed.value.reason) == (1007, "invalid JSON")


@pytest.mark.parametrize("query", ["", "?name=", "?name=" + "x" * 33])
def test_a_name_is_required(client, query):
    with pytest.raises(WebSocketDenied) as denied:
        with client.websocket_connect(f"/chat/lobby/ws{query}"):
            pass
    assert denied.value.status == 400
    assert denied.value.json() == {"status": 400, "detail": "give a name of 1 to 32 characters: ?name=..."}
