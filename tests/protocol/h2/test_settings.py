"""H2Settings validation."""

from __future__ import annotations

import pytest

from pyre.protocol.h2 import H2Settings


@pytest.mark.parametrize(
    "field, value",
    [
        ("max_concurrent_streams", 0),
        ("initial_window_size", 2**31),
        ("initial_window_size", 0),
        ("connection_window_size", 1000),
        ("connection_window_size", 2**31),
        ("max_frame_size", 16383),
        ("max_frame_size", 16777216),
        ("max_header_list_size", 0),
        ("max_rapid_resets", 0),
        ("max_control_frames", -1),
        ("flood_window", 0),
        ("flood_window", float("inf")),
        ("max_header_block_size", 0),
        ("max_continuation_frames", 64),
        ("max_header_table_size", -1),
        ("max_header_table_size", 2**32),
        ("max_concurrent_streams", True),
        ("max_frame_size", 16384.0),
        ("enable_connect_protocol", 1),
    ],
)
def test_invalid_values_name_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        H2Settings(**{field: value})


def test_defaults_and_bounds_are_valid():
    H2Settings()
    H2Settings(initial_window_size=2**31 - 1, connection_window_size=65535, max_frame_size=16777215, max_continuation_frames=0, flood_window=1)


def test_frozen():
    with pytest.raises(Exception):
        H2Settings().max_frame_size = 20000  # type: ignore[misc]
