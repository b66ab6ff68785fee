"""The frameworks the TFB suite compares, and the servers each runs on.

One entry per framework: its app module (``bench/tfb/apps/``), the distributions whose
versions the report names, and the servers it runs on (``pyre.web`` on Pyre only: the
native path is what it is measured for).
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from types import ModuleType
from typing import Dict, List, Optional, Tuple

from bench.run import SERVERS, Server

# The servers a framework can run on: bench/run.py's definitions (one worker, uvloop,
# access log off; uvicorn with httptools, as `uvicorn app:app` picks with them installed).
RUNNERS: Dict[str, Server] = {"pyre": SERVERS["pyre"], "uvicorn": SERVERS["uvicorn"]}


@dataclass(frozen=True)
class Framework:
    name: str
    module: str  # the app module: ``app``, optionally ``routing_app()`` and ``events_app()``
    packages: Tuple[str, ...]  # distributions whose versions the report names
    requires: Tuple[str, ...] = ()  # modules that must be installed for it to run at all
    servers: Tuple[str, ...] = ("uvicorn", "pyre")
    ci_verified: bool = True  # CI must verify it: the tests never skip it (all do: the test extra has them)

    def missing(self) -> Optional[str]:
        """Why it cannot run here (a module not installed), or None."""
        for name in self.requires:
            if importlib.util.find_spec(name) is None:
                return f"{name} is not installed (pip install -e '.[bench]')"
        return None

    def load(self) -> Tuple[Optional[ModuleType], Optional[str]]:
        """(the app module, None), or (None, why it cannot be imported)."""
        try:
            return importlib.import_module(self.module), None
        except ImportError as exc:
            return None, f"{self.module} cannot be imported: {exc}"

    def app(self, attribute: str = "app") -> str:
        return f"{self.module}:{attribute}"

    def server_name(self, runner: str) -> str:
        return f"{self.name}/{runner}"


FRAMEWORKS: Tuple[Framework, ...] = (
    Framework("pyre.web", "bench.tfb.apps.pyre_web_app", ("pyre-server",), servers=("pyre",), ci_verified=True),
    Framework("asgi", "bench.tfb.apps.bare", ("msgspec",), ci_verified=True),
    Framework("starlette", "bench.tfb.apps.starlette_app", ("starlette",), ("starlette",)),
    Framework("fastapi", "bench.tfb.apps.fastapi_app", ("fastapi", "starlette", "pydantic"), ("fastapi",)),
    Framework("litestar", "bench.tfb.apps.litestar_app", ("litestar", "msgspec"), ("litestar",)),
    Framework("blacksheep", "bench.tfb.apps.blacksheep_app", ("blacksheep",), ("blacksheep",)),
    Framework("falcon", "bench.tfb.apps.falcon_app", ("falcon",), ("falcon",)),
)
PEERS = ("starlette", "fastapi", "litestar", "blacksheep", "falcon")  # the "best peer" of the goals


def available() -> List[Framework]:
    """Every entry (installed or not: ``missing()`` and ``load()`` tell that)."""
    return list(FRAMEWORKS)


def style(module: ModuleType) -> str:
    """The app module's first docstring paragraph: which documented style it follows."""
    doc = (module.__doc__ or "").strip().split("\n\n")[0]
    return " ".join(doc.split())
