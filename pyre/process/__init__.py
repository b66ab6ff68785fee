"""The process layer: the parent processes that run servers in children.

- :mod:`~pyre.process.spawn`: starting a child (``spawn``: a fresh interpreter), its
  entry point, and signalling it;
- :mod:`~pyre.process.wakeup`: the wake-up socket and the signals caught into it, for
  a parent whose main thread waits in ``select``;
- :mod:`~pyre.process.supervisor`: ``--workers``, and the worker's end of its pipe;
- :mod:`~pyre.process.reloader`: ``--reload``;
- :mod:`~pyre.process.reload_filter` and :mod:`~pyre.process.watchers`: which files
  count, and watching them.

Nothing here knows the server. As uvicorn's ``supervisors/``, a parent receives a
*target*: an importable function that a child calls with the config and the sockets
and whose return value is the child's exit status. :mod:`pyre.launch` wires the
targets to :class:`pyre.Server` (tests/meta/test_layering.py keeps this package from
importing :mod:`pyre.server`).
"""
