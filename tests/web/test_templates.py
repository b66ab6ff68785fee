"""Jinja2 templates: autoescaping on, HTML responses, async environments, a missing Jinja2."""

from __future__ import annotations

import os
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


# -- reloading: compiled once and kept, unless auto_reload is on ------------------------------


@pytest.fixture
def mtime_checks(monkeypatch):
    """The paths whose modification time was read (Jinja2's loader and its up-to-date check)."""
    seen = []
    getmtime = os.path.getmtime

    def counting(path):
        seen.append(os.path.basename(path))
        return getmtime(path)

    monkeypatch.setattr(os.path, "getmtime", counting)
    return seen


def edit(path, text):
    """Rewrite a template, with a modification time that surely differs from the old one."""
    old = path.stat().st_mtime
    path.write_text(text)
    os.utime(path, (old + 10, old + 10))


def test_by_default_a_template_is_compiled_once_and_its_file_not_checked_again(folder, mtime_checks):
    templates = Templates(folder)
    assert not templates.env.auto_reload
    for _ in range(5):
        assert templates.render("page.html", text="a").body == b"<p>a</p>"
    assert mtime_checks == ["page.html"]  # read once, with the source; no check per render
    edit(folder / "page.html", "<b>{{ text }}</b>")
    assert templates.render("page.html", text="a").body == b"<p>a</p>"  # kept until a restart
    assert Templates(folder).render("page.html", text="a").body == b"<b>a</b>"


async def test_auto_reload_checks_the_file_on_every_render_and_picks_up_an_edit(folder, mtime_checks):
    templates = Templates(folder, auto_reload=True)
    assert templates.env.auto_reload
    for _ in range(3):
        assert templates.render("page.html", text="a").body == b"<p>a</p>"
    assert mtime_checks == ["page.html"] * 3  # the load, then one check per later render
    edit(folder / "page.html", "<b>{{ text }}</b>")
    assert templates.render("page.html", text="a").body == b"<b>a</b>"
    edit(folder / "page.html", "<i>{{ text }}</i>")
    assert (await templates.render_async("page.html", text="a")).body == b"<i>a</i>"


def test_a_given_environment_follows_its_own_auto_reload(folder, mtime_checks):
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(folder), autoescape=True)  # Jinja2: auto_reload on
    templates = Templates(env)
    assert templates.render("page.html", text="a").body == b"<p>a</p>"
    edit(folder / "page.html", "<b>{{ text }}</b>")
    assert templates.render("page.html", text="a").body == b"<b>a</b>"
    env.auto_reload = False  # read at each render
    templates.render("page.html", text="a")
    checks = len(mtime_checks)
    edit(folder / "page.html", "<i>{{ text }}</i>")
    assert templates.render("page.html", text="a").body == b"<b>a</b>"
    assert len(mtime_checks) == checks
    env.auto_reload = True  # and back on: the kept templates are forgotten
    assert templates.render("page.html", text="a").body == b"<i>a</i>"
    with pytest.raises(TypeError, match="no environment options"):
        Templates(env, auto_reload=True)


def loads_counted(names, cache_size):
    """Templates over a loader that makes a template for any name, counting its loads."""
    def load(name):
        names.append(name)
        return ("{{ v }}", None, lambda: True)

    return Templates(jinja2.Environment(loader=jinja2.FunctionLoader(load), auto_reload=False, cache_size=cache_size))


def test_a_template_is_kept_only_as_jinja2s_cache_allows(folder):
    loads = []
    uncached = loads_counted(loads, cache_size=0)  # the user asked for no cache: a load per render
    for _ in range(3):
        assert uncached.render("t", v=1).body == b"1"
    assert loads == ["t"] * 3
    loads.clear()
    small = loads_counted(loads, cache_size=2)  # kept: at most as many as Jinja2's cache holds
    for _ in range(2):
        for name in ("a", "b", "c", "d"):
            small.render(name, v=1)
    assert loads == ["a", "b", "c", "d"]  # a and b kept, c and d in Jinja2's cache
    assert sorted(small._compiled) == ["a", "b"]


def test_autoescaping_is_decided_once_not_per_render(folder):
    templates = Templates(folder)
    assert templates.env.autoescape is True  # no select_autoescape function called on every render
    assert templates.render("note.txt", text=XSS).body.decode() == ESCAPED
