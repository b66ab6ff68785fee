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


def test_every_option_named_in_the_uvicorn_migration_page_exists():
    """docs/migrating-from-uvicorn.md: every option in the Pyre column of its tables, and
    every Pyre option its text names, is a real option of the pyre command."""
    import re

    options = {option for action in build_parser()._actions for option in action.option_strings}
    text = (DOCS / "migrating-from-uvicorn.md").read_text()
    named = set()
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")] if line.startswith("|") else []
        if len(cells) >= 2 and cells[0] != "uvicorn":
            named |= set(re.findall(r"`(--[a-z0-9-]+)", cells[1]))  # the Pyre column
    assert len(named) > 40, named
    prose = "\n".join(line for line in text.splitlines() if not line.startswith("|"))
    named |= set(re.findall(r"`(--[a-z0-9-]*[a-z0-9])[` ]", prose))
    missing = sorted(named - options)
    assert not missing, f"options in docs/migrating-from-uvicorn.md that pyre does not have: {missing}"
    # ...and the first column covers uvicorn's command line (uvicorn 0.54 has 56 options).
    uvicorn = {option for line in text.splitlines() if line.startswith("| `--")
               for option in re.findall(r"`(--[a-z0-9-]+)", line.split("|")[1])}
    assert len(uvicorn) >= 50, sorted(uvicorn)


def test_every_module_docs_architecture_names_exists():
    """docs/architecture.md names modules by path (`pyre/transport/h1.py`, a package
    `pyre/protocol/h2/`, an extension `pyre/web/_router_c`): each is in the tree."""
    import re

    root = DOCS.parent
    named = set(re.findall(r"`(pyre/[\w/.]+)`", (DOCS / "architecture.md").read_text()))
    assert len(named) > 40, sorted(named)
    missing = sorted(path for path in named
                     if not (root / path).exists() and not list((root / path).parent.glob((root / path).name + ".*")))
    assert not missing, f"docs/architecture.md names paths that do not exist: {missing}"
