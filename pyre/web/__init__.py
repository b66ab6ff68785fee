"""``pyre.web``: Pyre's web framework.

Object-oriented (resources and controllers are classes), event-driven (lifecycle and
user events that cost nothing when nobody listens), lazily evaluated (nothing about a
request is parsed until it is read, and nothing twice), on a compiled backbone. An
:class:`App` is a plain ASGI 3 application: it runs under any ASGI server, and takes a
faster native path when Pyre serves it.
"""
