"""Jinja2 templates: autoescaping on, HTML responses, async environments, a missing Jinja2."""

from __future__ import annotations

import sys

import jinja2
import pytest

from pyre.web.responses import HTML
from pyre.web.templates import Templates
from tests.web.fake_asgi import run

XSS = "<script>alert('x')</script>"
ESCAPED = "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "page.html").write_text("<p>{{ text }}</p>")
    (tmp_path / "feed.xml").write_text("<t>{{ text }}</t>")
    (tmp_path / "note.txt").write_text("{{ text }}")
    (tmp_path / "raw.html").write_text("{% autoescape false %}{{ text }}{% endautoescape %}")
    (tmp_path / "safe.html").write_text("{{ text|safe }}")
    (tmp_path / "status.html").write_text("{{ status }}")
    (tmp_path / "base.html").write_text("<title>{% block title %}{% endblock %}</title>")
    (tmp_path / "child.html").write_text('{% extends "base.html" %}{% block title %}{{ text }}{% endblock %}')
    return tmp_path


@pytest.mark.parametrize("name", ["page.html", "feed.xml", "note.txt", "child.html"])
def test_autoescape_is_on(folder, name):
    body = Templates(folder).render(name, text=XSS).body.decode()
    assert ESCAPED in body and XSS not in body


def test_autoescape_for_string_templates_and_opt_outs(folder):
    templates = Templates(folder)
    assert templates.env.from_string("{{ x }}").render(x=XSS) == ESCAPED
    assert templates.render("raw.html", text=XSS).body.decode() == XSS
    assert templates.render("safe.html", text=XSS).body.decode() == XSS


async def test_render_gives_an_html_response(folder):
    response = Templates([folder]).render("page.html", text="é")
    assert isinstance(response, HTML)
    response.status = 201
    client = await run(response)
    assert client.status == 201
    assert client.headers["content-type"] == "text/html; charset=utf-8"
    assert client.body == "<p>é</p>".encode()


def test_every_context_name_reaches_the_template(folder):
    assert Templates(folder).render("status.html", status="active").body == b"active"


def test_a_missing_template_names_itself(folder):
    with pytest.raises(jinja2.TemplateNotFound, match="nope.html"):
        Templates(folder).render("nope.html")


def test_environment_options_and_a_given_environment(folder):
    templates = Templates(folder, trim_blocks=True, autoescape=False)
    assert templates.env.trim_blocks
    assert templates.render("page.html", text="<b>").body == b"<p><b></p>"  # the caller turned it off
    env = jinja2.Environment(loader=jinja2.DictLoader({"t.html": "{{ v }}"}), autoescape=True)
    own = Templates(env)
    assert own.env is env and own.render("t.html", v="<").body == b"&lt;"
    with pytest.raises(TypeError, match="no environment options"):
        Templates(env, trim_blocks=True)


async def test_an_async_environment(folder):
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(folder), autoescape=True, enable_async=True
    )
    templates = Templates(env)

    async def items():
        for item in ("<a>", "b"):
            yield item

    env.globals["items"] = items
    (folder / "list.html").write_text("{% for i in items() %}[{{ i }}]{% endfor %}")
    response = await templates.render_async("list.html")
    assert response.body == b"[&lt;a&gt;][b]"
    with pytest.raises(RuntimeError, match="render_async"):
        templates.render("list.html")
    plain = await Templates(folder).render_async("page.html", text="<")
    assert plain.body == b"<p>&lt;</p>"


def test_a_missing_jinja2_names_the_extra(monkeypatch, folder):
    monkeypatch.setitem(sys.modules, "jinja2", None)  # import jinja2 now raises ImportError
    with pytest.raises(ImportError, match=r"pip install 'pyre-server\[web\]'"):
        Templates(folder)
