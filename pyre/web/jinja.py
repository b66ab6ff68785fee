"""The Jinja2 environment of :class:`pyre.web.Templates`: Jinja2's own, with its templates'
output escaped by :class:`pyre.web.escaping.HTMLEscaper`.

Every ``{{ value }}`` of an autoescaping template calls the name ``escape`` of the
template's module, which Jinja2's generated code imports from ``jinja2.runtime``
(MarkupSafe's ``escape``). :class:`Template` rebinds that one name in each template it
compiles, through ``from_code``, which Jinja2's loaders, ``from_string`` and the bytecode
cache all call; filters (``|e``), ``Markup`` operations and ``|safe`` stay MarkupSafe's.
The results are MarkupSafe's, type and text (tests/web/test_escaping.py holds them
equal). Templates loaded from precompiled modules (``jinja2.ModuleLoader``) keep
MarkupSafe's ``escape``.

Importing this module imports Jinja2 (the ``web`` extra).
"""

from __future__ import annotations

from types import CodeType
from typing import Any, Callable, MutableMapping, Optional

import jinja2
import markupsafe

from pyre._accel import HTMLEscaper

__all__ = ["Environment", "Template", "escape"]

escape = HTMLEscaper(markupsafe.Markup, markupsafe.escape)


class Template(jinja2.Template):
    """A Jinja2 template whose output expressions escape through :data:`escape`."""

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


class Environment(jinja2.Environment):
    """``jinja2.Environment`` whose templates are :class:`Template`."""

    template_class = Template
