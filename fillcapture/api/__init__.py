"""The HTTP API of ``fillcapture serve``: each user's own fills, daily summary and accounts.

It runs in a process of its own and opens the store read-only, so no query,
however heavy, can hold up capture. ``app`` answers the requests, ``params``
reads their query strings, ``errors`` is the one error body, ``tokens`` makes
and checks bearer tokens, ``openapi`` is the published OpenAPI document and
``server`` runs it all.
"""
