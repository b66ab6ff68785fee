"""HTTP/2 settings of one server connection: what we advertise and how much abuse we take.

``H2Settings`` is immutable and validated on construction (RFC 9113 §6.5.2 ranges),
so a session never has to check it again. A bad value raises ``ValueError`` naming
the field.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

__all__ = ["H2Settings", "MAX_WINDOW_SIZE"]

#: The largest flow-control window RFC 9113 §6.9.1 allows.
MAX_WINDOW_SIZE = 2**31 - 1
_U32 = 2**32 - 1
#: h2 refuses a header block of more than 64 frames itself (HEADERS + 63 CONTINUATION).
_H2_CONTINUATION_BACKLOG = 63

# field name -> (smallest, largest) for the integer settings.
_INT_RANGES = {
    "max_concurrent_streams": (1, MAX_WINDOW_SIZE),
    "initial_window_size": (1, MAX_WINDOW_SIZE),
    # The connection window starts at 65535 and can only be raised (WINDOW_UPDATE).
    "connection_window_size": (65535, MAX_WINDOW_SIZE),
    "max_frame_size": (16384, 16777215),
    "max_header_list_size": (1, _U32),
    "max_rapid_resets": (1, _U32),
    "max_control_frames": (1, _U32),
    "max_header_block_size": (1, _U32),
    "max_continuation_frames": (0, _H2_CONTINUATION_BACKLOG),
    "max_header_table_size": (0, _U32),
}


@dataclass(frozen=True)
class H2Settings:
    """What an HTTP/2 connection advertises and enforces.

    The first six are sent in our SETTINGS frame (the connection window with a
    WINDOW_UPDATE). The rest are defences: ``max_rapid_resets`` streams reset by
    the client (or refused or reset by us for its faults) and ``max_control_frames``
    frames that carry no request data (SETTINGS, PING, PRIORITY, WINDOW_UPDATE,
    RST_STREAM of closed streams, empty DATA, unknown types) are tolerated per
    ``flood_window`` seconds, as a leaky bucket; beyond, GOAWAY ENHANCE_YOUR_CALM.
    One header block may take at most ``max_header_block_size`` bytes and
    ``max_continuation_frames`` CONTINUATION frames.
    """

    max_concurrent_streams: int = 100
    initial_window_size: int = 65535
    connection_window_size: int = 1048576
    max_frame_size: int = 16384
    max_header_list_size: int = 65536
    enable_connect_protocol: bool = False
    max_rapid_resets: int = 200
    max_control_frames: int = 1000
    flood_window: float = 10.0
    max_header_block_size: int = 65536
    max_continuation_frames: int = 32
    max_header_table_size: int = 4096

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in _INT_RANGES:
                low, high = _INT_RANGES[f.name]
                if type(value) is not int:
                    raise ValueError(f"{f.name} must be an int, not {type(value).__name__}")
                if not low <= value <= high:
                    raise ValueError(f"{f.name} must be between {low} and {high}, not {value}")
        if type(self.enable_connect_protocol) is not bool:
            raise ValueError("enable_connect_protocol must be a bool")
        window = self.flood_window
        if type(window) not in (int, float) or not math.isfinite(window) or window <= 0:
            raise ValueError(f"flood_window must be a positive number of seconds, not {window!r}")
