"""pyre.web's Jinja2 environment: ``HTMLEscaper`` (both twins) gives exactly what
``markupsafe.escape`` gives; the templates of ``Templates(folder)`` escape through it and
build their render context without ChainMap reads, with the same output and context as
Jinja2's own environment."""

from __future__ import annotations

import jinja2
import markupsafe
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyre.web import jinja
from pyre.web.templates import Templates
from tests.web.conftest import twins

SPECIALS = "&<>'\""


class HasHTML:
    def __html__(self) -> str:
        return "<b>already safe</b>"


class Text(str):
    pass


class Number(int):
    def __str__(self) -> str:
        return "<seven>"


def same(escaper, value):
    got, expected = escaper(value), markupsafe.escape(value)
    assert type(got) is type(expected) is markupsafe.Markup
    assert str.__str__(got) == str.__str__(expected)


# Text of every kind (ASCII, Latin-1, BMP, astral) with the five characters mixed in.
texts = st.text(st.one_of(st.sampled_from(SPECIALS), st.characters(codec=None, exclude_categories=())), max_size=60)


def escaper(mode):
    return twins("escaping")[mode].HTMLEscaper(markupsafe.Markup, markupsafe.escape)


@pytest.mark.parametrize("mode", ["c", "py"])
@settings(max_examples=400)
@given(text=texts)
def test_text_is_escaped_as_markupsafe_escapes_it(mode, text):
    same(escaper(mode), text)


@pytest.mark.parametrize("mode", ["c", "py"])
@given(number=st.integers())
def test_integers(mode, number):
    same(escaper(mode), number)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "plain",
        SPECIALS * 3,
        "<script>alert('x')</script>",
        "フレームワークのベンチマーク",
        "\U0001f600 & \x00",
        markupsafe.Markup("<i>kept</i>"),
        HasHTML(),
        Text("<sub>class</sub>"),
        Number(7),
        True,
        1.5,
        None,
        b"<bytes>",
        ["<list>"],
    ],
)
def test_other_values_and_edges(escaping, value):
    same(escaping.HTMLEscaper(markupsafe.Markup, markupsafe.escape), value)


def test_the_result_type_must_be_a_str_subclass(escaping):
    with pytest.raises(TypeError, match="str subclass"):
        escaping.HTMLEscaper(bytes, markupsafe.escape)


# -- templates ------------------------------------------------------------------------------

SOURCES = {
    "page.html": "<p>{{ value }}</p><a title=\"{{ value }}\">{{ value|e }}</a>{{ value|safe }}",
    "rows.html": "{% for row in rows %}<td>{{ row[0] }}</td><td>{{ row.1 }}</td>{% endfor %}",
    "blocks.html": '{% extends "base.html" %}{% block body %}{{ value }}{{ super() }}{% endblock %}',
    "base.html": "<body>{% block body %}[{{ value }}]{% endblock %}</body>{% include 'part.html' %}",
    "part.html": "<i>{{ value }}</i>",
    "macros.html": "{% macro cell(v) %}<td>{{ v }}</td>{% endmacro %}{{ cell(value) }}"
                   "{% macro wrap() %}<div>{{ caller() }}</div>{% endmacro %}{% call wrap() %}{{ value }}{% endcall %}",
    "optout.html": "{% autoescape false %}{{ value }}{% endautoescape %}|{% autoescape flag %}{{ value }}{% endautoescape %}",
    "concat.html": "{{ value ~ '<' }}{{ '%s'|format(value) }}{% set joined %}{{ value }}{% endset %}{{ joined }}",
}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    path = tmp_path_factory.mktemp("escaping")
    for name, source in SOURCES.items():
        (path / name).write_text(source)
    return path


def stock(folder):
    """Jinja2's own environment, as Starlette's Jinja2Templates builds it."""
    return jinja2.Environment(loader=jinja2.FileSystemLoader(folder), autoescape=True)


def test_templates_escape_through_pyre(folder):
    templates = Templates(folder)
    assert isinstance(templates.env, jinja.Environment)
    for name in SOURCES:
        template = templates.get_template(name)
        assert isinstance(template, jinja.Template)
        assert template.root_render_func.__globals__["escape"] is jinja.escape
    assert templates.env.from_string("{{ x }}").root_render_func.__globals__["escape"] is jinja.escape
    assert markupsafe.escape is jinja2.runtime.escape  # nothing global was replaced


def test_a_given_environment_is_left_as_it_is(folder):
    env = stock(folder)
    template = Templates(env).get_template("page.html")
    assert template.root_render_func.__globals__["escape"] is markupsafe.escape


@settings(max_examples=60)
@given(
    value=st.one_of(texts, st.integers(), st.none(), st.builds(markupsafe.Markup, texts)),
    flag=st.booleans(),
)
def test_every_template_renders_as_jinja2s_own(folder, value, flag):
    ours, theirs = Templates(folder).env, stock(folder)
    rows = [(value, value), (1, "<&>")]
    for name in SOURCES:
        context = {"value": value, "rows": rows, "flag": flag}
        assert ours.get_template(name).render(context) == theirs.get_template(name).render(context), name


async def test_an_async_render_escapes_the_same(folder):
    ours = jinja.Environment(loader=jinja2.FileSystemLoader(folder), autoescape=True, enable_async=True)
    template = ours.get_template("rows.html")
    assert template.root_render_func.__globals__["escape"] is jinja.escape
    rows = [("<a>", "'b'")]
    assert await template.render_async(rows=rows) == stock(folder).get_template("rows.html").render(rows=rows)


# -- the render context ---------------------------------------------------------------------


def context_facts(context):
    return list(context.parent.items()), context.globals_keys, context.vars, context.name, context.blocks


def both_environments(**options):
    sources = {"t.html": "{% block b %}{{ x }}{% endblock %}", "u.html": "{{ range }}"}
    made = []
    for cls in (jinja.Environment, jinja2.Environment):
        env = cls(loader=jinja2.DictLoader(sources), autoescape=True, **options)
        env.globals.update(site="<pyre>", x="global")  # before any template is loaded
        made.append(env)
    return made


@pytest.mark.parametrize(
    "template_globals, variables",
    [
        (None, None),
        (None, {}),
        (None, {"x": "<var>", "y": 2}),
        ({"x": "template", "extra": 1}, {"y": 3}),
        ({"site": "own"}, None),
    ],
)
def test_a_new_context_is_jinja2s_own(template_globals, variables):
    ours, theirs = both_environments()
    mine = ours.get_template("t.html", globals=template_globals)
    stock = theirs.get_template("t.html", globals=template_globals)
    assert isinstance(mine, jinja.Template) and type(stock) is jinja2.Template
    got, expected = mine.new_context(variables), stock.new_context(variables)
    assert context_facts(got)[:4] == context_facts(expected)[:4]  # items in order, global keys
    assert got.blocks.keys() == expected.blocks.keys()
    assert mine.render(variables or {}) == stock.render(variables or {})


def test_shared_and_local_contexts_are_jinja2s_own():
    ours, theirs = both_environments()
    for shared, local in ((True, None), (False, {"z": 1}), (True, {"z": 2})):
        got = ours.get_template("t.html").new_context({"x": 1}, shared, local)
        expected = theirs.get_template("t.html").new_context({"x": 1}, shared, local)
        assert list(got.parent.items()) == list(expected.parent.items()) and got.globals_keys == expected.globals_keys


def test_a_context_subclass_gets_the_globals_as_jinja2_gives_them():
    seen = []

    class Recording(jinja2.runtime.Context):
        def __init__(self, environment, parent, name, blocks, globals=None):
            seen.append(globals)
            super().__init__(environment, parent, name, blocks, globals=globals)

    ours, _ = both_environments()
    ours.context_class = Recording
    template = ours.get_template("t.html", globals={"x": "template"})
    assert template.render() == "template"
    assert len(seen) == 1 and seen[0] is template.globals  # its own ChainMap, as Jinja2 passes it


def test_a_variable_name_that_is_not_a_string_fails_as_in_jinja2():
    for env in both_environments():
        with pytest.raises(TypeError, match="keywords must be strings"):
            env.get_template("t.html").new_context({1: "one"})


def test_the_globals_are_merged_as_dicts_not_through_chainmap(monkeypatch):
    """What makes the context cheap: no ChainMap method (Python code) runs per render."""
    ours, _ = both_environments()
    template = ours.get_template("t.html", globals={"x": "template"})
    from collections import ChainMap

    def refuse(*args):
        raise AssertionError("ChainMap read per render")

    for name in ("__iter__", "__getitem__", "__bool__", "__len__", "keys"):
        monkeypatch.setattr(ChainMap, name, refuse)
    assert template.render() == "template"


class Lazy(dict):
    def __getitem__(self, key):
        return "<lazy>"


class Reversed(dict):
    def __iter__(self):
        return reversed(list(dict.__iter__(self)))


def test_globals_of_other_mapping_types_are_read_as_jinja2_reads_them():
    """A defaultdict's __missing__, a dict subclass's __getitem__ or __iter__: a ChainMap read
    calls them, dict.update would not; Jinja2's own path runs for them."""
    from collections import defaultdict

    cases = [
        ("{{ range }}|{{ k }}", lambda: defaultdict(lambda: "?", k="<k>")),
        ("{{ k }}", lambda: Lazy(k="x")),
        ("{{ k }}", lambda: Reversed(a=1, k=2)),
    ]
    for source, make in cases:
        results = []
        for env in both_environments():
            template = env.from_string(source, globals=make())
            results.append((template.render(), list(template.new_context().get_all())))
        assert results[0] == results[1], source
    ours, theirs = both_environments()  # the environment's own globals too
    ours.globals, theirs.globals = Lazy(ours.globals), Lazy(theirs.globals)
    assert ours.from_string("{{ site }}").render() == theirs.from_string("{{ site }}").render() == "&lt;lazy&gt;"


@pytest.mark.parametrize("variables", [[], (), 0, ""])
def test_variables_that_are_not_a_mapping_fail_as_in_jinja2(variables):
    errors = []
    for env in both_environments():
        with pytest.raises(TypeError) as caught:
            env.get_template("t.html").new_context(variables)
        errors.append(str(caught.value))
    assert errors[0] == errors[1]


def test_the_escaper_takes_its_value_by_position_only():
    for mode in ("c", "py"):
        with pytest.raises(TypeError):
            escaper(mode)(value="x")
