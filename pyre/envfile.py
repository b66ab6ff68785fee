"""``--env-file``: KEY=VALUE lines loaded into the environment before the app is imported.

Existing environment variables win, as with python-dotenv's defaults. Supported:
comments (``#``), blank lines, an optional ``export`` prefix, single- or
double-quoted values (double quotes understand ``\\n``, ``\\t``, ``\\"``, ``\\\\``).
"""

from __future__ import annotations

import os
import re
from typing import Dict

from pyre.errors import ConfigError

__all__ = ["load_env_file", "parse_env"]

_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=\s*(.*?)\s*$")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}


def parse_env(text: str, source: str = "<env>") -> Dict[str, str]:
    values: Dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        match = _LINE.match(line)
        if match is None:
            raise ConfigError(f"--env-file {source}, line {number}: expected KEY=VALUE, got {stripped!r}")
        key, value = match.group(1), match.group(2)
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            quote, value = value[0], value[1:-1]
            if quote == '"':
                value = re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), "\\" + m.group(1)), value)
        else:
            value = re.split(r"\s+#", value, maxsplit=1)[0].strip()
        values[key] = value
    return values


def load_env_file(path: str) -> Dict[str, str]:
    try:
        with open(path, encoding="utf-8") as file:
            text = file.read()
    except FileNotFoundError:
        raise ConfigError(f"--env-file: file not found: {path}") from None
    except OSError as exc:
        raise ConfigError(f"--env-file: cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"--env-file: {path} is not UTF-8 text") from None
    values = parse_env(text, path)
    for key, value in values.items():
        os.environ.setdefault(key, value)
    return values
