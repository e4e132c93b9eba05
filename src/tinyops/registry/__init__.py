"""tinyops.registry: one module per noun; plain dataclasses out, SQL stays inside."""

from tinyops._fast_import import import_without_pandas

import_without_pandas("sqlite_utils")  # before any registry module imports it
