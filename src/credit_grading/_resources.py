"""Where the built-in configuration files live.

The YAML files in the repository's ``configs/`` folder are the single source. A wheel
carries a copy inside the package (``credit_grading/configs``, added at build time); an
editable install or a source checkout reads the repository folder directly.
"""

from __future__ import annotations

from pathlib import Path

from credit_grading.exceptions import ConfigError

_PACKAGE_DIR = Path(__file__).resolve().parent


def builtin_config_dir() -> Path:
    """The folder that holds ``default.yaml``, ``catalogue.yaml`` and the other defaults."""
    for candidate in (_PACKAGE_DIR / "configs", _PACKAGE_DIR.parent.parent / "configs"):
        if (candidate / "default.yaml").is_file():
            return candidate
    raise ConfigError(
        "the built-in configuration files are missing: neither the installed package nor the "
        "source checkout has configs/default.yaml; reinstall credit_grading"
    )


def builtin_config(name: str) -> Path:
    """Path of one built-in configuration file, e.g. ``builtin_config("catalogue.yaml")``."""
    path = builtin_config_dir() / name
    if not path.is_file():
        raise ConfigError(f"no built-in configuration file named {name!r} in {path.parent}")
    return path
