"""The TechEmpower test types' published rules, as data shared by the apps and the verifier.

The fortune rows are TechEmpower's own (``create-postgres.sql``), including the
``<script>`` row that must come out escaped and the Japanese row that must come out intact.
"""

from __future__ import annotations

from typing import Optional, Tuple, Union

HELLO = "Hello, World!"
JSON_MESSAGE = {"message": HELLO}
PLAINTEXT_BODY = HELLO.encode()
PIPELINE_DEPTH = 16  # the plaintext test is loaded with HTTP/1.1 pipelining, 16 requests deep

WORLD_ROWS = 10_000  # World ids and randomNumber values are both in 1..WORLD_ROWS
MIN_QUERIES = 1
MAX_QUERIES = 500

FORTUNES: Tuple[Tuple[int, str], ...] = (
    (1, "fortune: No such file or directory"),
    (2, "A computer scientist is someone who fixes things that aren't broken."),
    (3, "After enough decimal places, nobody gives a damn."),
    (4, "A bad random number generator: 1, 1, 1, 1, 1, 4.33e+67, 1, 1, 1"),
    (5, "A computer program does what you tell it to do, not what you want it to do."),
    (6, "Emacs is a nice operating system, but I prefer UNIX. — Tom Christaensen"),
    (7, "Any program that runs right is obsolete."),
    (8, "A list is only as strong as its weakest link. — Donald Knuth"),
    (9, "Feature: A bug with seniority."),
    (10, "Computers make very fast, very accurate mistakes."),
    (11, '<script>alert("This should not be displayed in a browser alert box.");</script>'),
    (12, "フレームワークのベンチマーク"),
)
ADDITIONAL_FORTUNE: Tuple[int, str] = (0, "Additional fortune added at request time.")

# Content-Type values the TechEmpower verifier accepts, per response kind.
CONTENT_TYPES = {
    "json": r"^application/json(; ?charset=(UTF|utf)-8)?$",
    "plaintext": r"^text/plain(; ?charset=(UTF|utf)-8)?$",
    "html": r"^text/html; ?charset=(UTF|utf)-8$",
}


def queries_count(value: Optional[Union[str, bytes]]) -> int:
    """The ``queries`` parameter: clamped to 1..500; missing or not an integer counts as 1."""
    try:
        count = int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return MIN_QUERIES
    return MIN_QUERIES if count < MIN_QUERIES else MAX_QUERIES if count > MAX_QUERIES else count


def expected_fortunes() -> list:
    """The rows a fortunes page must show, in order: the table plus the added one, by message."""
    return sorted([*FORTUNES, ADDITIONAL_FORTUNE], key=lambda row: row[1])
