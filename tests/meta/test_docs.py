"""The docs cannot drift from the code: every option and setting is documented."""

from __future__ import annotations

import inspect
from pathlib import Path

from pyre import Config
from pyre.cli import build_parser
from pyre.settings import SETTINGS, settings_table

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_every_cli_option_is_in_the_cli_reference():
    text = (DOCS / "cli.md").read_text() + (DOCS / "settings.md").read_text()
    for action in build_parser()._actions:
        for option in action.option_strings:
            if option != "-h":
                assert f"`{option}" in text, f"{option} missing from docs/cli.md"


def test_every_config_argument_is_documented():
    text = (DOCS / "embedding.md").read_text() + (DOCS / "cli.md").read_text() + (DOCS / "settings.md").read_text()
    for name in inspect.signature(Config).parameters:
        option = "--" + name.replace("_", "-")
        assert f"`{name}`" in text or f"`{option}" in text or name in ("app",), f"{name} is not documented"


def test_every_config_argument_is_a_setting():
    """CLI, environment and pyproject.toml can set everything Config takes, and nothing else."""
    assert {setting.name for setting in SETTINGS} == set(inspect.signature(Config).parameters)


def test_the_settings_table_is_generated_from_the_code():
    text = (DOCS / "settings.md").read_text()
    start = text.index("<!-- settings-table:start -->\n") + len("<!-- settings-table:start -->\n")
    end = text.index("<!-- settings-table:end -->")
    assert text[start:end] == settings_table(), "run: python -m pyre.settings, paste into docs/settings.md"
