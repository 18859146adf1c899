"""The simulated T4 backend: a WebSocket server speaking T4 API v1 with a seeded
fill generator, a top-day book served as snapshots, and a ground-truth ledger.

Run it with ``async with SimServer(SimConfig(...)) as sim`` (tests, embedded
use) or ``await serve_forever(config)`` (the ``fillcapture sim`` command).
"""

from fillcapture.sim.config import SimConfig
from fillcapture.sim.ledger import LedgerFill, read_ledger
from fillcapture.sim.server import SimServer, serve_forever

__all__ = ["LedgerFill", "SimConfig", "SimServer", "read_ledger", "serve_forever"]
