"""HTML escaping for templates: :class:`HTMLEscaper`, MarkupSafe's ``escape`` at a fraction of its cost.

``markupsafe.escape`` (3.x) is a Python function that builds its result through
``Markup.__new__``, another Python function: about 0.4 µs a value, half of a Jinja2
render that prints a table (every ``{{ value }}`` of an autoescaping template calls it).
An escaper gives the same results, type and text, without either Python call for the
values templates print most, ``str`` and ``int``, and hands anything else (a ``Markup``,
an object with ``__html__``, a ``str`` subclass, ``None``) to MarkupSafe itself. The
entities are MarkupSafe's: ``&amp; &lt; &gt; &#39; &#34;``.

MarkupSafe comes with Jinja2 (the ``web`` extra), so this module does not import it:
``HTMLEscaper(markupsafe.Markup, markupsafe.escape)`` is built by :mod:`pyre.web.jinja`.

Compiled in pure mode (``pyre.web._escaping_c``, typed by ``_escaping_c.pxd``): there the
scan for the five characters is a C loop over the string; ``pyre._accel`` chooses the
twin.
"""

from __future__ import annotations

from typing import Any, Callable

try:
    import cython  # type: ignore[import-untyped,import-not-found,unused-ignore]

    COMPILED: bool = cython.compiled
except ImportError:  # Cython is needed to build, never to run
    COMPILED = False

__all__ = ["HTMLEscaper"]

# str.__new__(Markup, text) is what Markup(text) ends in for a plain str (Markup.__new__
# only adds the __html__ check and the encoding branch).
_new_str = str.__new__


def _escape_text(text: str) -> str:
    """``text`` with ``& < > ' "`` replaced by MarkupSafe's entities (``text`` itself when
    none occurs, the common case, found by one pass in the compiled twin)."""
    if COMPILED:  # a C loop there (ch is a Py_UCS4); in Python, replace() scans in C already
        for ch in text:
            if ch == "&" or ch == "<" or ch == ">" or ch == "'" or ch == '"':
                break
        else:
            return text
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("'", "&#39;").replace('"', "&#34;")
    )


class HTMLEscaper:
    """``HTMLEscaper(markupsafe.Markup, markupsafe.escape)(value)`` is
    ``markupsafe.escape(value)``: the same ``Markup`` with the same text, built without a
    Python-level call for ``str`` and ``int``; every other value is passed to ``fallback``."""

    __slots__ = ("markup", "fallback")

    def __init__(self, markup: type, fallback: Callable[[object], Any]) -> None:
        if not issubclass(markup, str):
            raise TypeError(f"HTMLEscaper needs a str subclass (markupsafe.Markup), got {markup!r}")
        self.markup = markup
        self.fallback = fallback

    def __call__(self, value: object, /) -> Any:
        kind = type(value)
        if kind is str:
            return _new_str(self.markup, _escape_text(value))  # type: ignore[arg-type]
        if kind is int:
            return _new_str(self.markup, str(value))  # digits and a sign: nothing to escape
        return self.fallback(value)
