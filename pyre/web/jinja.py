"""The Jinja2 environment of :class:`pyre.web.Templates`: Jinja2's own, with its templates'
output escaped by :class:`pyre.web.escaping.HTMLEscaper` and their render context built
without the Python-level reads of a ``ChainMap``.

Every ``{{ value }}`` of an autoescaping template calls the name ``escape`` of the
template's module, which Jinja2's generated code imports from ``jinja2.runtime``
(MarkupSafe's ``escape``). :class:`Template` rebinds that one name in each template it
compiles, through ``from_code``, which Jinja2's loaders, ``from_string`` and the bytecode
cache all call; filters (``|e``), ``Markup`` operations and ``|safe`` stay MarkupSafe's.
The results are MarkupSafe's, type and text (tests/web/test_jinja.py holds them
equal). Templates loaded from precompiled modules (``jinja2.ModuleLoader``) keep
MarkupSafe's ``escape``.

A render starts with ``Template.new_context``, which merges the template's globals (a
``ChainMap`` of its own and the environment's) with the render's variables. Read as a
mapping, a ``ChainMap`` runs Python code for its iteration and for each key, twice per
render: a third of the fortunes page's render (4.9 of 14 µs on the machine of
docs/performance.md). When the globals are Jinja2's ``ChainMap`` of plain dicts (what
``Environment.globals`` and ``get_template(name, globals=...)`` make), and the context
class is Jinja2's, :meth:`Template.new_context` merges the dicts with ``dict.update``
instead. The context is the one Jinja2 builds: the same keys, values, precedence and
order, and the same ``TypeError`` for a variable name that is not a string. Any other
case (a mapping of another type among the globals, a shared or local context, a
``Context`` subclass) takes Jinja2's own path.

Importing this module imports Jinja2 (the ``web`` extra).
"""

from __future__ import annotations

from collections import ChainMap
from types import CodeType
from typing import Any, Callable, Dict, Mapping, MutableMapping, Optional

import jinja2
import markupsafe

from pyre._accel import HTMLEscaper

__all__ = ["Environment", "Template", "escape"]

escape = HTMLEscaper(markupsafe.Markup, markupsafe.escape)


class Template(jinja2.Template):
    """A Jinja2 template whose output expressions escape through :data:`escape`, and whose
    render context merges the globals as dicts (see the module's docs)."""

    @classmethod
    def from_code(
        cls,
        environment: jinja2.Environment,
        code: CodeType,
        globals: MutableMapping[str, Any],
        uptodate: Optional[Callable[[], bool]] = None,
    ) -> jinja2.Template:
        template = super().from_code(environment, code, globals, uptodate)
        module = template.root_render_func.__globals__  # the namespace the code ran in
        if module.get("escape") is markupsafe.escape:
            module["escape"] = escape
        return template

    def new_context(
        self,
        vars: Optional[Dict[str, Any]] = None,
        shared: bool = False,
        locals: Optional[Mapping[str, Any]] = None,
    ) -> jinja2.runtime.Context:
        """Jinja2's ``new_context``: with the globals' ``ChainMap`` merged as dicts."""
        maps = self.globals.maps if type(self.globals) is ChainMap else None
        context_class = self.environment.context_class
        if shared or locals or maps is None or context_class is not jinja2.runtime.Context:
            # What Jinja2 does itself: a shared or local context, template globals that are
            # not its ChainMap, or a Context subclass that may keep the globals it is given.
            return super().new_context(vars, shared, locals)
        globals: Dict[str, Any] = {}
        for mapping in reversed(maps):  # the first map wins, as in a ChainMap lookup
            if type(mapping) is not dict:
                # A dict subclass or another mapping may define __getitem__, __missing__
                # or __iter__, which a ChainMap read calls and dict.update does not.
                return super().new_context(vars, shared, locals)
            globals.update(mapping)
        parent = dict(globals) if vars is None else dict(globals, **vars)
        return context_class(self.environment, parent, self.name, self.blocks, globals=globals)


class Environment(jinja2.Environment):
    """``jinja2.Environment`` whose templates are :class:`Template` (the same arguments)."""

    template_class = Template
