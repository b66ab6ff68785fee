"""The docs cannot drift from the code: every option and setting is documented."""

from __future__ import annotations

import inspect
from pathlib import Path

from pyre import Config
from pyre.cli import build_parser

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_every_cli_option_is_in_the_cli_reference():
    text = (DOCS / "cli.md").read_text()
    for action in build_parser()._actions:
        for option in action.option_strings:
            if option != "-h":
                assert f"`{option}" in text, f"{option} missing from docs/cli.md"


def test_every_config_argument_is_documented():
    text = (DOCS / "embedding.md").read_text() + (DOCS / "cli.md").read_text()
    for name in inspect.signature(Config).parameters:
        option = "--" + name.replace("_", "-")
        assert f"`{name}`" in text or f"`{option}" in text or name in ("app",), f"{name} is not documented"
