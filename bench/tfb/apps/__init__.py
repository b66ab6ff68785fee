"""One module per framework, each the TFB test types in that framework's documented fast style.

Every module defines:

- ``app``: the ASGI app serving ``/json``, ``/plaintext``, ``/db``, ``/queries``,
  ``/fortunes`` and ``/updates``, creating its asyncpg pool at startup (lifespan) from
  ``$TFB_DATABASE_URL``;
- ``routing_app()`` (frameworks with a router): a factory for the routing benchmark,
  ``$TFB_ROUTES`` routes with ``/json`` registered last;
- ``events_app()`` (frameworks with events, i.e. pyre.web): a factory for the events
  benchmark, the ``/json`` app with 20 listener methods for user events that the request
  does not emit.

The runner's table of frameworks is ``bench/tfb/frameworks.py``.
"""
