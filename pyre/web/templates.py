"""Jinja2 templates, autoescaping on: ``templates.render("page.html", items=items)`` -> :class:`HTML`.

``Templates("templates")`` builds an environment loading from that directory (or list of
directories) with autoescaping on for ``.html``, ``.htm`` and ``.xml`` templates, for
templates made from strings and, by default, for every other name too (``.txt`` included:
turn it off per block with ``{% autoescape false %}``). ``Templates(env)`` uses your own
:class:`jinja2.Environment` as it is (its autoescape and ``auto_reload`` settings included).

Reloading: as Flask does outside debug mode, a template is compiled once, on its first
render, and kept: a render looks it up in a dict, with no file system access (Jinja2's own
default, ``auto_reload=True``, checks the file's modification time on every render, as
Starlette's ``Jinja2Templates`` does). An edit on disk shows after a restart (``pyre
--reload --reload-include '*.html'`` restarts on it). ``Templates(folder, auto_reload=True)``
checks the file on every render instead, so an edit shows at once: Flask's debug-mode
behaviour, e.g. ``Templates(folder, auto_reload=app.debug)``. ``Templates(env)`` follows
``env.auto_reload``, read at each render (set it to ``False`` on your environment for the
fast path); an environment without a cache (``cache_size=0``) loads on every render.

Rendering: the environment ``Templates(folder)`` builds is a :class:`pyre.web.jinja.Environment`,
whose templates escape each ``{{ value }}`` with Pyre's compiled twin of MarkupSafe's
``escape`` (the same results, at less than half the cost for ``str`` and ``int``:
see :mod:`pyre.web.escaping`) and build each render's context without the Python-level
reads of Jinja2's globals ``ChainMap`` (the same context). ``Templates(env)`` keeps your
environment's own behaviour.

An environment with ``enable_async=True`` renders with ``await templates.render_async(...)``
(which also works on a plain environment); ``render()`` on it raises :class:`RuntimeError`.
Every context name reaches the template (``status`` too): set the response's status,
headers or background on the returned :class:`HTML` (``page.status = 201``).
Jinja2 is in the ``web`` extra: without it, ``Templates(...)`` raises :class:`ImportError`
saying ``pip install 'pyre-server[web]'``.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Dict, Optional, Sequence, Tuple, Union

from pyre.web.responses import HTML

if TYPE_CHECKING:  # pragma: no cover
    import jinja2

__all__ = ["Templates"]

_EXTRA = "pip install 'pyre-server[web]'"
PathArg = Union[str, "os.PathLike[str]"]


def _jinja() -> Tuple[Any, Any]:
    """Jinja2, and :mod:`pyre.web.jinja` (Pyre's environment on it)."""
    try:
        import jinja2
    except ImportError:
        raise ImportError(f"pyre.web.Templates needs Jinja2: {_EXTRA}") from None
    from pyre.web import jinja

    return jinja2, jinja


class Templates:
    """Render Jinja2 templates into :class:`HTML` responses (compiled once and kept, unless
    ``auto_reload`` is on: see the module's docs)."""

    __slots__ = ("env", "_compiled", "_capacity")

    env: "jinja2.Environment"
    # The compiled templates by name, while the environment does not auto-reload: a render
    # then skips Jinja2's lookup (its LRU cache's lock, the loader's up-to-date check).
    _compiled: Dict[str, "jinja2.Template"]
    _capacity: float

    def __init__(
        self,
        directory: Union[PathArg, Sequence[PathArg], "jinja2.Environment"],
        *,
        auto_reload: Optional[bool] = None,
        **env_options: Any,
    ) -> None:
        jinja2, jinja = _jinja()
        self._compiled = {}
        if isinstance(directory, jinja2.Environment):
            if env_options or auto_reload is not None:
                raise TypeError("Templates(env) takes no environment options: configure the env itself")
            self.env = directory
        else:
            # On for every name and for strings: what select_autoescape(("html", "htm", "xml"),
            # default_for_string=True, default=True) decides, without its call on every render.
            env_options.setdefault("autoescape", True)
            self.env = jinja.Environment(
                loader=jinja2.FileSystemLoader(directory), auto_reload=bool(auto_reload), **env_options
            )
        # As many as Jinja2's own cache holds (400 by default; none for cache_size=0; all for -1).
        cache = self.env.cache
        self._capacity = 0 if cache is None else getattr(cache, "capacity", float("inf"))

    def get_template(self, name: str) -> "jinja2.Template":
        """The compiled template; ``jinja2.TemplateNotFound`` if there is none."""
        template = self._compiled.get(name)
        if template is not None and not self.env.auto_reload:
            return template
        return self._load(name)

    def _load(self, name: str) -> "jinja2.Template":
        """Through Jinja2 (its cache, and with ``auto_reload`` the file's up-to-date check)."""
        env = self.env
        template: "jinja2.Template" = env.get_template(name)
        compiled = self._compiled
        if env.auto_reload:
            compiled.clear()  # turned on after some renders: forget what was kept
        elif len(compiled) < self._capacity:
            compiled[name] = template
        return template

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
            return HTML(await template.render_async(context))
        return HTML(template.render(context))
