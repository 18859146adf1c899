"""The PostgreSQL engine, private: reach it through :func:`fillcapture.store.open_store`."""

from fillcapture.store._postgres.engine import PostgresStore

__all__ = ["PostgresStore"]
