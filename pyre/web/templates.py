"""Jinja2 templates, autoescaping on: ``templates.render("page.html", items=items)`` -> :class:`HTML`.

``Templates("templates")`` builds an environment loading from that directory (or list of
directories) with autoescaping on for ``.html``, ``.htm`` and ``.xml`` templates, for
templates made from strings and, by default, for every other name too (``.txt`` included:
turn it off per block with ``{% autoescape false %}``). ``Templates(env)`` uses your own
:class:`jinja2.Environment` as it is (its autoescape setting included).

An environment with ``enable_async=True`` renders with ``await templates.render_async(...)``
(which also works on a plain environment); ``render()`` on it raises :class:`RuntimeError`.
Every context name reaches the template (``status`` too): set the response's status,
headers or background on the returned :class:`HTML` (``page.status = 201``).
Jinja2 is in the ``web`` extra: without it, ``Templates(...)`` raises :class:`ImportError`
saying ``pip install 'pyre-server[web]'``.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Sequence, Union

from pyre.web.responses import HTML

if TYPE_CHECKING:  # pragma: no cover
    import jinja2

__all__ = ["Templates"]

_EXTRA = "pip install 'pyre-server[web]'"
PathArg = Union[str, "os.PathLike[str]"]


def _jinja2() -> Any:
    try:
        import jinja2
    except ImportError:
        raise ImportError(f"pyre.web.Templates needs Jinja2: {_EXTRA}") from None
    return jinja2


class Templates:
    """Render Jinja2 templates into :class:`HTML` responses."""

    __slots__ = ("env",)

    env: "jinja2.Environment"

    def __init__(
        self,
        directory: Union[PathArg, Sequence[PathArg], "jinja2.Environment"],
        **env_options: Any,
    ) -> None:
        jinja2 = _jinja2()
        if isinstance(directory, jinja2.Environment):
            if env_options:
                raise TypeError("Templates(env) takes no environment options: configure the env itself")
            self.env = directory
            return
        env_options.setdefault(
            "autoescape",
            jinja2.select_autoescape(("html", "htm", "xml"), default_for_string=True, default=True),
        )
        self.env = jinja2.Environment(loader=jinja2.FileSystemLoader(directory), **env_options)

    def get_template(self, name: str) -> "jinja2.Template":
        """The compiled template (cached by Jinja2); ``jinja2.TemplateNotFound`` if there is none."""
        return self.env.get_template(name)

    def render(
        self,
        name: str,
        /,
        **context: Any,
    ) -> HTML:
        """Render ``name`` with ``context`` into an :class:`HTML` response."""
        if self.env.is_async:
            raise RuntimeError(f"the environment of these Templates is async: use await templates.render_async({name!r}, ...)")
        return HTML(self.get_template(name).render(context))

    async def render_async(
        self,
        name: str,
        /,
        **context: Any,
    ) -> HTML:
        """Render ``name`` with ``context``; awaits the template when the environment is async."""
        template = self.get_template(name)
        if self.env.is_async:
            text = await template.render_async(context)
        else:
            text = template.render(context)
        return HTML(text)
