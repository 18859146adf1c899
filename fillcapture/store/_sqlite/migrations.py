"""The SQLite schema as ordered migrations, and the code that brings a file up to date.

The version lives in ``PRAGMA user_version``; each migration runs in its own transaction.
Over 400 lines because it is the schema's history: every migration's SQL, in
order, in one place, never edited once released.
"""

from __future__ import annotations

from dataclasses import dataclass

import aiosqlite

from fillcapture.store._sqlite.connection import transaction
from fillcapture.store.records import StoreError


@dataclass(frozen=True, slots=True)
class Migration:
    """Statements that take the schema from ``version - 1`` to ``version``."""

    version: int
    name: str
    statements: tuple[str, ...]


# Append only: a released migration is never edited, a change is a new migration.
MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "fills and ownership registry",
        (
            # The fill identity (T4_API_V1 §8) less account_id: an order's
            # unique_id is a GUID and an order has one account, so the account
            # adds nothing to uniqueness, yet its 36 bytes per index entry cost
            # a quarter of the insert rate with T4's random order ids.
            # leg_index -1 stands for "outright fill": NULLs are never equal
            # in a UNIQUE constraint, so NULL would let duplicates through.
            # Times are integer microseconds since the Unix epoch, UTC:
            # a quarter of the bytes of ISO text in rows and indexes, and four
            # times cheaper to produce per fill. Trade dates are 'YYYY-MM-DD'.
            # Prices are exact decimal text, never REAL.
            """
            CREATE TABLE fills (
                id                INTEGER PRIMARY KEY,
                firm              TEXT    NOT NULL,
                account_id        TEXT    NOT NULL,
                account           TEXT    NOT NULL,
                order_id          TEXT    NOT NULL,
                trade_key         TEXT    NOT NULL,
                leg_index         INTEGER NOT NULL DEFAULT -1,
                exchange_trade_id TEXT    NOT NULL,
                sequence_order    INTEGER NOT NULL,
                market_id         TEXT    NOT NULL,
                side              TEXT    NULL CHECK (side IN ('BUY', 'SELL')),
                volume            INTEGER NOT NULL,
                price             TEXT    NOT NULL,
                exchange_time     INTEGER NOT NULL,
                trade_date        TEXT    NOT NULL,
                busted_at         INTEGER NULL,
                captured_at       INTEGER NOT NULL,
                historical        INTEGER NOT NULL DEFAULT 0,
                UNIQUE (firm, order_id, trade_key, leg_index)
            )
            """,
            # Led by account, not firm: a firm-less registry entry selects an
            # account number at every firm, and this index serves both kinds.
            # Queries read one account's trade dates in time order from it;
            # one index rather than two keeps the insert rate up.
            "CREATE INDEX fills_account_date ON fills (account, trade_date, exchange_time)",
            # Side-less fills are few and short-lived; a partial index keeps
            # resolve_sides and sideless_orders cheap without taxing every insert.
            """
            CREATE INDEX fills_sideless ON fills (firm, account_id, order_id)
                WHERE side IS NULL
            """,
            "CREATE TABLE users (name TEXT PRIMARY KEY, created_at TEXT NOT NULL)",
            # firm '' is "any firm" (NULL cannot take part in a primary key).
            # user_name, not user: USER is reserved in PostgreSQL, whose engine
            # shares this schema.
            """
            CREATE TABLE user_accounts (
                firm      TEXT NOT NULL DEFAULT '',
                account   TEXT NOT NULL,
                user_name TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
                PRIMARY KEY (firm, account)
            )
            """,
            "CREATE INDEX user_accounts_user ON user_accounts (user_name)",
        ),
    ),
    Migration(
        2,
        "busts",
        (
            # A bust is its own record; the busted fill stays, with
            # fills.busted_at set. Keyed like the fill it busts: a bust
            # delivered twice (snapshot, replay) is one record.
            """
            CREATE TABLE busts (
                id          INTEGER PRIMARY KEY,
                firm        TEXT    NOT NULL,
                account_id  TEXT    NOT NULL,
                account     TEXT    NOT NULL,
                order_id    TEXT    NOT NULL,
                trade_key   TEXT    NOT NULL,
                leg_index   INTEGER NOT NULL DEFAULT -1,
                busted_at   INTEGER NOT NULL,
                captured_at INTEGER NOT NULL,
                UNIQUE (firm, order_id, trade_key, leg_index)
            )
            """,
        ),
    ),
    Migration(
        3,
        "operations: gaps, seals, amendments, daemon state",
        (
            # One row per time the daemon did not hear T4: a disconnect, or the
            # daemon itself not running. Open while ended_at is NULL.
            # ``instance`` names the daemon (its firm); times are µs UTC.
            """
            CREATE TABLE gaps (
                id              INTEGER PRIMARY KEY,
                instance        TEXT    NOT NULL,
                started_at      INTEGER NOT NULL,
                ended_at        INTEGER NULL,
                reason          TEXT    NOT NULL,
                unrecoverable   INTEGER NOT NULL DEFAULT 0,
                acknowledged_at INTEGER NULL
            )
            """,
            # A trade date sealed after its roll, and per account what it held then.
            """
            CREATE TABLE sealed_days (
                firm          TEXT    NOT NULL,
                trade_date    TEXT    NOT NULL,
                reconciled_at INTEGER NULL,
                sealed_at     INTEGER NOT NULL,
                PRIMARY KEY (firm, trade_date)
            )
            """,
            """
            CREATE TABLE seals (
                firm       TEXT    NOT NULL,
                account    TEXT    NOT NULL,
                trade_date TEXT    NOT NULL,
                fills      INTEGER NOT NULL,
                volume     INTEGER NOT NULL,
                busted     INTEGER NOT NULL,
                PRIMARY KEY (firm, account, trade_date)
            )
            """,
            # Each change to a sealed day: a fill or a bust stored after the seal.
            """
            CREATE TABLE amendments (
                id         INTEGER PRIMARY KEY,
                firm       TEXT    NOT NULL,
                account    TEXT    NOT NULL,
                trade_date TEXT    NOT NULL,
                kind       TEXT    NOT NULL CHECK (kind IN ('fill', 'bust')),
                order_id   TEXT    NOT NULL,
                trade_key  TEXT    NOT NULL,
                leg_index  INTEGER NOT NULL,
                at         INTEGER NOT NULL
            )
            """,
            # What a running daemon last said about itself (for 'fillcapture status').
            """
            CREATE TABLE daemon_state (
                instance TEXT NOT NULL,
                key      TEXT NOT NULL,
                value    TEXT NOT NULL,
                PRIMARY KEY (instance, key)
            )
            """,
        ),
    ),
    Migration(
        4,
        "outbox: how far each publisher has published",
        (
            # One row per publisher (named by its MQTT client id): the last
            # fills.id and busts.id it has delivered. Row ids follow commit
            # order, so the store itself is the outbox and a publisher's place
            # in it is two integers. The floors are set by the triggers below.
            """
            CREATE TABLE outbox (
                name        TEXT    PRIMARY KEY,
                fills       INTEGER NOT NULL,
                busts       INTEGER NOT NULL,
                fills_floor INTEGER NULL,
                busts_floor INTEGER NULL,
                saved_at    INTEGER NOT NULL
            )
            """,
            # Deleting a table's newest row (retention pruning an old trade
            # date that a late fill made newest) lets SQLite give its id to the
            # next insert: a publisher already past that id would skip the new
            # row. The floor records how low the newest row went, so that the
            # publisher goes back there. Only the newest row's delete fires this.
            """
            CREATE TRIGGER outbox_fills_floor AFTER DELETE ON fills
            WHEN old.id > coalesce((SELECT max(id) FROM fills), 0)
            BEGIN
                UPDATE outbox SET fills_floor = coalesce((SELECT max(id) FROM fills), 0)
                WHERE fills_floor IS NULL
                   OR fills_floor > coalesce((SELECT max(id) FROM fills), 0);
            END
            """,
            """
            CREATE TRIGGER outbox_busts_floor AFTER DELETE ON busts
            WHEN old.id > coalesce((SELECT max(id) FROM busts), 0)
            BEGIN
                UPDATE outbox SET busts_floor = coalesce((SELECT max(id) FROM busts), 0)
                WHERE busts_floor IS NULL
                   OR busts_floor > coalesce((SELECT max(id) FROM busts), 0);
            END
            """,
        ),
    ),
    Migration(
        5,
        "API tokens",
        (
            # Bearer tokens of the HTTP API (fillcapture serve), by their
            # SHA-256 (hex): the token itself is shown once and never stored.
            # ``user_name`` is the user a token reads for, or with ``admin``
            # the operator's own name, which need not be a registered user;
            # so no foreign key, and the trigger below does the cascading.
            """
            CREATE TABLE api_tokens (
                id         INTEGER PRIMARY KEY,
                user_name  TEXT    NOT NULL,
                token_hash TEXT    NOT NULL UNIQUE,
                admin      INTEGER NOT NULL CHECK (admin IN (0, 1)),
                created_at INTEGER NOT NULL
            )
            """,
            # A removed user's tokens go with it, so that a user added again
            # later under the same name does not inherit them.
            """
            CREATE TRIGGER api_tokens_user_removed AFTER DELETE ON users
            BEGIN
                DELETE FROM api_tokens WHERE user_name = old.name AND admin = 0;
            END
            """,
        ),
    ),
    Migration(
        6,
        "markets",
        (
            # T4's market details, one row per market id (T4's ids name the
            # exchange and contract, so they are unique across exchanges).
            # point_value is exact decimal text; updated_at microseconds UTC.
            """
            CREATE TABLE markets (
                market_id   TEXT PRIMARY KEY,
                exchange_id TEXT NOT NULL,
                contract_id TEXT NOT NULL,
                point_value TEXT NOT NULL,
                updated_at  INTEGER NOT NULL
            )
            """,
        ),
    ),
    Migration(
        7,
        "positions",
        (
            # Checkpoints of the daily summary's FIFO books, recorded after a
            # day is sealed: a summary from a date reads the positions of the
            # latest recorded day before it and the fills after, not the
            # account's whole history. lots is 'price:signed_volume' items,
            # oldest first, separated by spaces; flat books have no row.
            """
            CREATE TABLE position_days (
                firm        TEXT    NOT NULL,
                trade_date  TEXT    NOT NULL,
                recorded_at INTEGER NOT NULL,
                PRIMARY KEY (firm, trade_date)
            ) WITHOUT ROWID
            """,
            """
            CREATE TABLE positions (
                firm       TEXT NOT NULL,
                trade_date TEXT NOT NULL,
                account    TEXT NOT NULL,
                market_id  TEXT NOT NULL,
                lots       TEXT NOT NULL,
                PRIMARY KEY (firm, trade_date, account, market_id)
            ) WITHOUT ROWID
            """,
            # One row per change that deleted recorded positions: a
            # computation that began before it must not record its result.
            """
            CREATE TABLE position_invalidations (
                id         INTEGER PRIMARY KEY,
                firm       TEXT    NOT NULL,
                trade_date TEXT    NOT NULL,
                at         INTEGER NOT NULL
            )
            """,
        ),
    ),
    Migration(
        8,
        "fills: an account's fills in time order",
        (
            # Reads give fills in (exchange_time, id) order, a page at a time.
            # This index holds an account's fills in exactly that order (the
            # row id follows the indexed columns), so a page of a busy
            # account reads its rows and stops, where fills_account_date made
            # SQLite fetch and sort every fill of the trade dates asked for.
            # fills_account_date stays: it finds a trade date's fills, and
            # where a page of trade dates starts (see _conditions in sqlite.py).
            "CREATE INDEX fills_account_time ON fills (account, exchange_time)",
        ),
    ),
    Migration(
        9,
        "daily summary rows",
        (
            # The daily summary's rows of recorded (sealed) days, written with
            # the positions: a summary of those days reads its rows here
            # instead of computing them from fills. Decimals are exact text;
            # pnl_currency is not kept (point values may change).
            # summary_coverage.through: every row of the firm's trade dates up
            # to it is here. Led by account: a user's rows are read by account.
            """
            CREATE TABLE summary_rows (
                firm          TEXT    NOT NULL,
                account       TEXT    NOT NULL,
                trade_date    TEXT    NOT NULL,
                market_id     TEXT    NOT NULL,
                buys          INTEGER NOT NULL,
                buy_volume    INTEGER NOT NULL,
                buy_vwap      TEXT    NULL,
                sells         INTEGER NOT NULL,
                sell_volume   INTEGER NOT NULL,
                sell_vwap     TEXT    NULL,
                pnl_points    TEXT    NOT NULL,
                net_position  INTEGER NOT NULL,
                unknown_side  INTEGER NOT NULL,
                spread_legs   INTEGER NOT NULL,
                PRIMARY KEY (account, trade_date, firm, market_id)
            ) WITHOUT ROWID
            """,
            """
            CREATE TABLE summary_coverage (
                firm    TEXT PRIMARY KEY,
                through TEXT NOT NULL
            ) WITHOUT ROWID
            """,
        ),
    ),
    Migration(
        10,
        "account activity by day",
        (
            # Per (firm, account, trade date) of recorded days: live fills,
            # their volume, busted fills, first and last live fill time
            # (microseconds UTC), for /v1/accounts without reading every fill.
            # Recorded with the summary rows and under the same coverage.
            """
            CREATE TABLE activity_days (
                account    TEXT    NOT NULL,
                firm       TEXT    NOT NULL,
                trade_date TEXT    NOT NULL,
                fills      INTEGER NOT NULL,
                volume     INTEGER NOT NULL,
                busted     INTEGER NOT NULL,
                first_time INTEGER NULL,
                last_time  INTEGER NULL,
                PRIMARY KEY (account, firm, trade_date)
            ) WITHOUT ROWID
            """,
            # Rows recorded before there was activity are recorded again,
            # with it, at the next seal.
            "DELETE FROM summary_coverage",
        ),
    ),
    Migration(
        11,
        "quarantine and known accounts",
        (
            # Records T4 sent that could not be stored correctly, kept whole
            # (raw: a serialized ServerMessage) so that none is silently lost
            # and a later version can store them. digest (SHA-256 of raw) keeps
            # a record that every snapshot repeats from piling up; resolved_at
            # (microseconds UTC) is set once its fills are stored or it is
            # found unowned, with the outcome in resolution.
            """
            CREATE TABLE quarantine (
                id          INTEGER PRIMARY KEY,
                firm        TEXT    NOT NULL,
                account_id  TEXT    NOT NULL,
                account     TEXT    NOT NULL,
                order_id    TEXT    NOT NULL,
                reason      TEXT    NOT NULL,
                detail      TEXT    NOT NULL,
                kind        TEXT    NOT NULL,
                raw         BLOB    NOT NULL,
                digest      TEXT    NOT NULL,
                side        TEXT    NULL CHECK (side IN ('BUY', 'SELL')),
                trade_date  TEXT    NULL,
                received_at INTEGER NOT NULL,
                resolved_at INTEGER NULL,
                resolution  TEXT    NULL,
                UNIQUE (firm, digest)
            )
            """,
            "CREATE INDEX quarantine_open ON quarantine (reason) WHERE resolved_at IS NULL",
            # Every account the fill user has seen, by T4's id: its number
            # (which fills are stored under), code and name. A quarantined
            # record retried by another process is attributed from here.
            """
            CREATE TABLE accounts (
                firm       TEXT    NOT NULL,
                account_id TEXT    NOT NULL,
                number     TEXT    NOT NULL,
                code       TEXT    NOT NULL,
                name       TEXT    NOT NULL,
                seen_at    INTEGER NOT NULL,
                PRIMARY KEY (firm, account_id)
            ) WITHOUT ROWID
            """,
            "CREATE INDEX accounts_code ON accounts (code)",
            "CREATE INDEX accounts_id ON accounts (account_id)",
            "CREATE INDEX accounts_number ON accounts (number)",
            # The registry in account numbers: an entry may name an account by
            # its number, its code (onboarding creates accounts by code) or
            # T4's id; fills are stored under the number, so the read side
            # matches this view, never user_accounts directly. An entry by code
            # or id stands as written until the account has been seen, then as
            # the account's number.
            """
            CREATE VIEW owned_numbers AS
                SELECT u.firm, u.account, u.user_name FROM user_accounts u
                WHERE NOT EXISTS (
                    SELECT 1 FROM accounts a
                    WHERE (a.code = u.account OR a.account_id = lower(u.account))
                        AND (u.firm = '' OR u.firm = a.firm)
                        AND a.number <> '' AND a.number <> u.account)
                UNION ALL
                SELECT u.firm, a.number, u.user_name FROM user_accounts u
                JOIN accounts a ON (a.code = u.account OR a.account_id = lower(u.account))
                    AND (u.firm = '' OR u.firm = a.firm)
                WHERE a.number <> '' AND a.number <> u.account
            """,
        ),
    ),
    Migration(
        12,
        "reconcile certificates",
        (
            # How the day's pre-roll reconcile ended: verified 1 (a fresh
            # snapshot of every subscribed owned account came, through
            # reconcile_step), 0 (not: unverified_reason says why), NULL for
            # days sealed before there were certificates.
            "ALTER TABLE sealed_days ADD COLUMN verified INTEGER NULL",
            "ALTER TABLE sealed_days ADD COLUMN reconcile_step TEXT NULL",
            "ALTER TABLE sealed_days ADD COLUMN unverified_reason TEXT NULL",
            # Per (firm, account number, trade date): fills (busted ones
            # included) in T4's latest snapshot of the account that held the
            # date, when it began (µs UTC), and the newest fills.id committed
            # before it: live fills above that mark came after it.
            """
            CREATE TABLE snapshot_counts (
                firm        TEXT    NOT NULL,
                account     TEXT    NOT NULL,
                trade_date  TEXT    NOT NULL,
                account_id  TEXT    NOT NULL,
                fills       INTEGER NOT NULL,
                received_at INTEGER NOT NULL,
                fills_mark  INTEGER NOT NULL,
                PRIMARY KEY (firm, account, trade_date)
            ) WITHOUT ROWID
            """,
            # What the seal found per (firm, account, trade date): T4's last
            # snapshot (NULL: none seen) and when it came, the live fills
            # stored after it, the fills stored (busted included), recovered
            # by the reconcile, quarantined, and busted.
            """
            CREATE TABLE certificates (
                firm           TEXT    NOT NULL,
                trade_date     TEXT    NOT NULL,
                account        TEXT    NOT NULL,
                snapshot       INTEGER NULL,
                snapshot_at    INTEGER NULL,
                after_snapshot INTEGER NOT NULL,
                stored         INTEGER NOT NULL,
                recovered      INTEGER NOT NULL,
                quarantined    INTEGER NOT NULL,
                busted         INTEGER NOT NULL,
                PRIMARY KEY (firm, trade_date, account)
            ) WITHOUT ROWID
            """,
        ),
    ),
    Migration(
        13,
        "spread legs on their own contracts",
        (
            # kind: 0 an outright fill, 1 a spread leg fill (leg_index set),
            # 2 the spread-level trade of an order whose legs are its
            # position-bearing fills (kept, never counted in positions). A
            # leg's market_id and side are its own contract's and side once its
            # spread's definition placed it (leg_sign +1: on the spread order's
            # side, -1: against it); while leg_sign is NULL it is pending:
            # market_id is the spread's and side NULL. spread_market_id and
            # order_side are a leg's spread market and spread order side.
            # Outright fills leave the three NULL (no bytes in the row).
            # The checks are comparisons, not IN lists: SQLite evaluates an IN
            # list in a CHECK at a few thousand instructions a row, which a
            # multi-row insert of outright fills would pay three times over.
            "ALTER TABLE fills ADD COLUMN kind INTEGER NOT NULL DEFAULT 0 "
            "CHECK (kind >= 0 AND kind <= 2)",
            "ALTER TABLE fills ADD COLUMN spread_market_id TEXT NULL",
            "ALTER TABLE fills ADD COLUMN leg_sign INTEGER NULL "
            "CHECK (leg_sign = -1 OR leg_sign = 1)",
            "ALTER TABLE fills ADD COLUMN order_side TEXT NULL "
            "CHECK (order_side = 'BUY' OR order_side = 'SELL')",
            # Legs stored before carry the spread's market and side: pending,
            # placed when the spread's definition arrives.
            "UPDATE fills SET kind = 1, spread_market_id = market_id, order_side = side, "
            "side = NULL WHERE leg_index <> -1",
            # Pending legs are few and wait for one spread's definition.
            """
            CREATE INDEX fills_leg_pending ON fills (spread_market_id, leg_index)
                WHERE kind = 1 AND leg_sign IS NULL
            """,
            # The spread-level trades of orders with legs were counted twice.
            "UPDATE fills SET kind = 2 WHERE id IN (SELECT s.id FROM fills l "
            "JOIN fills s ON s.firm = l.firm AND s.order_id = l.order_id AND s.leg_index = -1 "
            "WHERE l.kind = 1 AND l.leg_sign IS NULL)",
            # Side-less now means the order's side is unknown: a pending leg
            # whose order side is known waits for its definition, not its order.
            "DROP INDEX fills_sideless",
            """
            CREATE INDEX fills_sideless ON fills (firm, account_id, order_id)
                WHERE side IS NULL AND (kind <> 1 OR order_side IS NULL)
            """,
            # Each spread market's legs in leg_index order: the leg's contract,
            # its ratio and direction (+1 on the spread order's side, -1
            # against it), and T4's StrategyType of the spread.
            """
            CREATE TABLE market_legs (
                market_id     TEXT    NOT NULL,
                leg_index     INTEGER NOT NULL,
                leg_market_id TEXT    NOT NULL,
                ratio         INTEGER NOT NULL CHECK (ratio > 0),
                direction     INTEGER NOT NULL CHECK (direction IN (-1, 1)),
                strategy_type INTEGER NOT NULL,
                updated_at    INTEGER NOT NULL,
                PRIMARY KEY (market_id, leg_index)
            ) WITHOUT ROWID
            """,
            # Positions and rows recorded left legs out and counted spread
            # trades: recorded again, with legs on their contracts, at the
            # next seal.
            "DELETE FROM summary_coverage",
            "DELETE FROM summary_rows",
            "DELETE FROM activity_days",
            "DELETE FROM position_days",
            "DELETE FROM positions",
        ),
    ),
    Migration(
        14,
        "fee schedules",
        (
            # Fee and commission schedules (fillcapture fees, [[fees]]): a row
            # per schedule key, its component, scope and first trade date. A
            # scope left open is '' (NULL cannot take part in a primary key),
            # so the key is the primary key. amount is exact decimal text as
            # given; updated_at microseconds UTC.
            """
            CREATE TABLE fee_schedules (
                component      TEXT    NOT NULL,
                exchange       TEXT    NOT NULL DEFAULT '',
                contract       TEXT    NOT NULL DEFAULT '',
                account        TEXT    NOT NULL DEFAULT '',
                user_name      TEXT    NOT NULL DEFAULT '',
                side           TEXT    NOT NULL DEFAULT ''
                    CHECK (side = '' OR side = 'BUY' OR side = 'SELL'),
                effective_from TEXT    NOT NULL,
                amount         TEXT    NOT NULL,
                currency       TEXT    NOT NULL,
                updated_at     INTEGER NOT NULL,
                PRIMARY KEY (component, exchange, contract, account, user_name, side,
                             effective_from)
            ) WITHOUT ROWID
            """,
        ),
    ),
)

LATEST = MIGRATIONS[-1].version


async def schema_version(conn: aiosqlite.Connection) -> int:
    async with conn.execute("PRAGMA user_version") as cursor:
        row = await cursor.fetchone()
    return int(row[0]) if row else 0


def check_not_newer(version: int, path: object) -> None:
    if version > LATEST:
        raise StoreError(
            f"{path}: store schema is version {version}, newer than this fillcapture "
            f"understands (up to {LATEST}); upgrade fillcapture", permanent=True
        )


async def migrate(conn: aiosqlite.Connection, path: object) -> int:
    """Apply every pending migration; return the version reached.

    The version is read again under the write lock so that two processes
    opening a fresh file at once apply each migration exactly once.
    """
    version = await schema_version(conn)
    check_not_newer(version, path)
    for migration in MIGRATIONS:
        if version >= migration.version:
            continue
        async with transaction(conn):
            version = await schema_version(conn)
            check_not_newer(version, path)
            if version >= migration.version:
                continue
            # Under the write lock: read outside it, another process's first
            # migration committing in between would look like a foreign file.
            if version == 0 and await _has_tables(conn):
                raise StoreError(f"{path}: an SQLite database, but not a fillcapture store",
                                 permanent=True)
            for statement in migration.statements:
                await conn.execute(statement)
            # user_version lives in the database header, so it commits or
            # rolls back together with the migration's statements.
            await conn.execute(f"PRAGMA user_version = {migration.version:d}")
            version = migration.version
    return version


async def _has_tables(conn: aiosqlite.Connection) -> bool:
    async with conn.execute("SELECT 1 FROM sqlite_master LIMIT 1") as cursor:
        return await cursor.fetchone() is not None


async def require_current(conn: aiosqlite.Connection, path: object) -> None:
    """For a read-only store, which must not migrate: the schema must be current."""
    version = await schema_version(conn)
    check_not_newer(version, path)
    if version == 0:
        raise StoreError(f"{path}: not a fillcapture store (no schema); open it read-write first")
    if version < LATEST:
        raise StoreError(
            f"{path}: store schema is version {version}, this fillcapture needs {LATEST}; "
            "open it read-write once (e.g. start the daemon) to migrate"
        )
