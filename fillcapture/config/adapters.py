"""Feed adapters as the configuration knows them: ``[feed] adapter`` names one
installed in the ``fillcapture.feeds`` entry-point group, and an adapter of a
third party brings its own section.

Such an adapter's factory declares the model of its section as its
``settings_model`` attribute (a pydantic model); ``[<adapter name>]`` is then
validated with it, with errors named as every other key's
(``echo.count: ...``), and the daemon hands the result to the adapter as
``Settings.adapter_section``. The built-in adapters keep their own sections
(``sim`` and ``t4``: ``[sim]``, ``[t4]``; ``mqtt``: ``[mqtt_feed]``).
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import Any

from pydantic import BaseModel, ValidationError

from fillcapture.config.base import dotted, shown

ADAPTER_GROUP = "fillcapture.feeds"
SETTINGS_ATTRIBUTE = "settings_model"
BUILT_IN = ("sim", "t4", "mqtt")


def installed_adapters() -> list[str]:
    """Every adapter name ``[feed] adapter`` may take, sorted."""
    return sorted({"sim", *(entry.name for entry in entry_points(group=ADAPTER_GROUP))})


def load_factory(name: str) -> Any:
    """The object registered under ``name`` in the group; LookupError if none is."""
    for entry in entry_points(group=ADAPTER_GROUP):
        if entry.name == name:
            return entry.load()
    raise LookupError(name)


def section_model(name: str, reserved: Mapping[str, object]) -> type[BaseModel] | None:
    """The model of adapter ``name``'s own section (None: it has none), or
    ValueError naming ``feed.adapter``: not installed, not loadable, or named
    like one of fillcapture's own sections (``reserved``)."""
    if name in BUILT_IN:
        return None
    try:
        factory = load_factory(name)
    except LookupError:
        raise ValueError(f"feed.adapter: no feed adapter named {name!r} is installed "
                         f"(installed: {', '.join(installed_adapters())})") from None
    except Exception as exc:
        raise ValueError(f"feed.adapter: the adapter {name!r} cannot be loaded: "
                         f"{type(exc).__name__}: {exc}".splitlines()[0]) from None
    if name in reserved:
        raise ValueError(f"feed.adapter: {name!r} is the name of one of fillcapture's own "
                         "sections; an adapter's section must be its own")
    model = getattr(factory, SETTINGS_ATTRIBUTE, None)
    if model is None:
        return None
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise ValueError(f"feed.adapter: the adapter {name!r} declares a {SETTINGS_ATTRIBUTE} "
                         "that is no pydantic model")
    return model


def validate_section(name: str, model: type[BaseModel], raw: object) -> BaseModel:
    """``[name]`` validated with the adapter's model, or ValueError: one line
    naming the key (``name.key: message``)."""
    try:
        return model.model_validate({} if raw is None else raw)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        key = dotted((name, *error["loc"]))
        if error["type"] == "extra_forbidden":
            raise ValueError(f"{key}: unknown key") from None
        message = error["msg"].removeprefix("Value error, ")
        raise ValueError(f"{key}: {message}{shown(error.get('input'), key)}") from None
