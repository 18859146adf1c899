"""The PostgreSQL engine, private: reach it through :func:`fillcapture.store.open_store`.

Its modules are imported only for a ``postgresql:`` store (see
:mod:`fillcapture.store.url`), so a SQLite deployment never loads the driver.
"""
