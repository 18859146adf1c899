"""The one error every part may raise for a setting that cannot work.

:class:`ConfigError` lives here, apart from :mod:`fillcapture.config`, so that
parts the configuration itself uses (the store reads its own URL) can raise
it without importing the configuration back.
"""

from __future__ import annotations


class ConfigError(Exception):
    """An invalid configuration. ``str()`` is one line naming the key; the
    command line exits 2 for it, since a restart cannot fix it."""
