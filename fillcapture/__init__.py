"""fillcapture: capture T4 fills for a vendor's end users and keep them."""

from importlib.metadata import PackageNotFoundError, version

try:
    # One source of truth, pyproject.toml's version, as installed.
    __version__ = version("fillcapture")
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"
