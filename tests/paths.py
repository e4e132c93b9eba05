"""Where the tests find the checkout's examples and docs, and the package's shipped files."""

from __future__ import annotations

from pathlib import Path

from tinyops.package_data import firmware_dir, profiles_dir

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
DOCS = REPO / "docs"
FIRMWARE = firmware_dir()
PROFILES = profiles_dir()
