"""Reading server-sent events in the tests."""

from __future__ import annotations

import json
from typing import Any, AsyncIterator, Dict


async def read_events(lines: AsyncIterator[str]) -> AsyncIterator[Dict[str, Any]]:
    """Each event of a stream's lines as a dict of its fields (``data`` decoded from JSON)."""
    event: Dict[str, Any] = {}
    async for line in lines:
        if not line:
            if event:
                yield event
                event = {}
            continue
        name, _, value = line.partition(": ")
        event[name] = json.loads(value) if name == "data" else value
