-- The PostgreSQL store's schema: every table of the SQLite engine's final
-- schema, in PostgreSQL types, plus the leases.
--
-- Types: times are timestamptz (microseconds, as SQLite's integer times),
-- trade dates date, flags boolean, prices and lots the exact text T4 sent
-- (never a float; summaries cast to numeric where they compute). Record
-- bytes are bytea.
--
-- Released migrations are never edited: a change is a new NNNN_name.sql.

-- The fill identity less account_id (an order has one account, so the
-- account adds nothing to uniqueness); leg_index -1 stands for an outright
-- fill (NULLs are never equal in a UNIQUE constraint). ON CONFLICT DO
-- NOTHING on this key is the store's idempotence.
--
-- id: the row's identity and its place in commit order (the outbox
-- number): every transaction that inserts fills or busts holds the outbox
-- lock from its start to its commit, so ids are handed out in commit order
-- (see fillcapture/store/_postgres/outbox.py).
CREATE TABLE fills (
    id                bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    firm              text        NOT NULL,
    account_id        text        NOT NULL,
    account           text        NOT NULL,
    order_id          text        NOT NULL,
    trade_key         text        NOT NULL,
    leg_index         integer     NOT NULL DEFAULT -1,
    exchange_trade_id text        NOT NULL,
    sequence_order    bigint      NOT NULL,
    market_id         text        NOT NULL,
    side              text        NULL CHECK (side IN ('BUY', 'SELL')),
    volume            bigint      NOT NULL,
    price             text        NOT NULL,
    exchange_time     timestamptz NOT NULL,
    trade_date        date        NOT NULL,
    busted_at         timestamptz NULL,
    captured_at       timestamptz NOT NULL,
    historical        boolean     NOT NULL DEFAULT false,
    kind              smallint    NOT NULL DEFAULT 0 CHECK (kind >= 0 AND kind <= 2),
    spread_market_id  text        NULL,
    leg_sign          smallint    NULL CHECK (leg_sign = -1 OR leg_sign = 1),
    order_side        text        NULL CHECK (order_side = 'BUY' OR order_side = 'SELL'),
    CONSTRAINT fills_identity UNIQUE (firm, order_id, trade_key, leg_index)
);
CREATE INDEX fills_account_date ON fills (account, trade_date, exchange_time);
CREATE INDEX fills_account_time ON fills (account, exchange_time);
CREATE INDEX fills_leg_pending ON fills (spread_market_id, leg_index)
    WHERE kind = 1 AND leg_sign IS NULL;
CREATE INDEX fills_sideless ON fills (firm, account_id, order_id)
    WHERE side IS NULL AND (kind <> 1 OR order_side IS NULL);

CREATE TABLE users (
    name       text        PRIMARY KEY,
    created_at timestamptz NOT NULL
);

-- firm '' is "any firm" (NULL cannot take part in a primary key).
CREATE TABLE user_accounts (
    firm      text NOT NULL DEFAULT '',
    account   text NOT NULL,
    user_name text NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    PRIMARY KEY (firm, account)
);
CREATE INDEX user_accounts_user ON user_accounts (user_name);

CREATE TABLE busts (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    firm        text        NOT NULL,
    account_id  text        NOT NULL,
    account     text        NOT NULL,
    order_id    text        NOT NULL,
    trade_key   text        NOT NULL,
    leg_index   integer     NOT NULL DEFAULT -1,
    busted_at   timestamptz NOT NULL,
    captured_at timestamptz NOT NULL,
    CONSTRAINT busts_identity UNIQUE (firm, order_id, trade_key, leg_index)
);

CREATE TABLE gaps (
    id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    instance        text        NOT NULL,
    started_at      timestamptz NOT NULL,
    ended_at        timestamptz NULL,
    reason          text        NOT NULL,
    unrecoverable   boolean     NOT NULL DEFAULT false,
    acknowledged_at timestamptz NULL
);

CREATE TABLE sealed_days (
    firm              text        NOT NULL,
    trade_date        date        NOT NULL,
    reconciled_at     timestamptz NULL,
    sealed_at         timestamptz NOT NULL,
    verified          boolean     NULL,
    reconcile_step    text        NULL,
    unverified_reason text        NULL,
    PRIMARY KEY (firm, trade_date)
);

CREATE TABLE seals (
    firm       text   NOT NULL,
    account    text   NOT NULL,
    trade_date date   NOT NULL,
    fills      bigint NOT NULL,
    volume     bigint NOT NULL,
    busted     bigint NOT NULL,
    PRIMARY KEY (firm, account, trade_date)
);

CREATE TABLE amendments (
    id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    firm       text        NOT NULL,
    account    text        NOT NULL,
    trade_date date        NOT NULL,
    kind       text        NOT NULL CHECK (kind IN ('fill', 'bust')),
    order_id   text        NOT NULL,
    trade_key  text        NOT NULL,
    leg_index  integer     NOT NULL,
    at         timestamptz NOT NULL
);

CREATE TABLE daemon_state (
    instance text NOT NULL,
    key      text NOT NULL,
    value    text NOT NULL,
    PRIMARY KEY (instance, key)
);

-- Each publisher's place: the last outbox numbers it delivered. A floor is
-- set when a delete removes rows beyond the newest left (a restore, a
-- purge): the publisher then knows its place may be past the end.
CREATE TABLE outbox (
    name        text        PRIMARY KEY,
    fills       bigint      NOT NULL,
    busts       bigint      NOT NULL,
    fills_floor bigint      NULL,
    busts_floor bigint      NULL,
    saved_at    timestamptz NOT NULL
);

-- Statement-level, over the deleted rows at once: a retention delete of a
-- million rows runs this once, not a million times.
CREATE FUNCTION outbox_floor() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    newest bigint;
    deleted bigint;
BEGIN
    IF TG_TABLE_NAME = 'fills' THEN
        SELECT max(id) INTO deleted FROM gone;
        SELECT coalesce(max(id), 0) INTO newest FROM fills;
        IF deleted > newest THEN
            UPDATE outbox SET fills_floor = newest
            WHERE fills_floor IS NULL OR fills_floor > newest;
        END IF;
    ELSE
        SELECT max(id) INTO deleted FROM gone;
        SELECT coalesce(max(id), 0) INTO newest FROM busts;
        IF deleted > newest THEN
            UPDATE outbox SET busts_floor = newest
            WHERE busts_floor IS NULL OR busts_floor > newest;
        END IF;
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER outbox_fills_floor AFTER DELETE ON fills
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION outbox_floor();
CREATE TRIGGER outbox_busts_floor AFTER DELETE ON busts
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION outbox_floor();

CREATE TABLE api_tokens (
    id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_name  text        NOT NULL,
    token_hash text        NOT NULL UNIQUE,
    admin      boolean     NOT NULL,
    created_at timestamptz NOT NULL
);
-- A user's tokens go with the user; an operator's (admin) token stays.
CREATE FUNCTION api_tokens_user_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM api_tokens t USING gone g WHERE t.user_name = g.name AND NOT t.admin;
    RETURN NULL;
END;
$$;
CREATE TRIGGER api_tokens_user_removed AFTER DELETE ON users
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT
    EXECUTE FUNCTION api_tokens_user_removed();

CREATE TABLE markets (
    market_id   text        PRIMARY KEY,
    exchange_id text        NOT NULL,
    contract_id text        NOT NULL,
    point_value text        NOT NULL,
    updated_at  timestamptz NOT NULL
);

CREATE TABLE position_days (
    firm        text        NOT NULL,
    trade_date  date        NOT NULL,
    recorded_at timestamptz NOT NULL,
    PRIMARY KEY (firm, trade_date)
);

CREATE TABLE positions (
    firm       text NOT NULL,
    trade_date date NOT NULL,
    account    text NOT NULL,
    market_id  text NOT NULL,
    lots       text NOT NULL,
    PRIMARY KEY (firm, trade_date, account, market_id)
);

CREATE TABLE position_invalidations (
    id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    firm       text        NOT NULL,
    trade_date date        NOT NULL,
    at         timestamptz NOT NULL
);

CREATE TABLE summary_rows (
    firm         text   NOT NULL,
    account      text   NOT NULL,
    trade_date   date   NOT NULL,
    market_id    text   NOT NULL,
    buys         bigint NOT NULL,
    buy_volume   bigint NOT NULL,
    buy_vwap     text   NULL,
    sells        bigint NOT NULL,
    sell_volume  bigint NOT NULL,
    sell_vwap    text   NULL,
    pnl_points   text   NOT NULL,
    net_position bigint NOT NULL,
    unknown_side bigint NOT NULL,
    spread_legs  bigint NOT NULL,
    PRIMARY KEY (account, trade_date, firm, market_id)
);

CREATE TABLE summary_coverage (
    firm    text PRIMARY KEY,
    through date NOT NULL
);

CREATE TABLE activity_days (
    account    text        NOT NULL,
    firm       text        NOT NULL,
    trade_date date        NOT NULL,
    fills      bigint      NOT NULL,
    volume     bigint      NOT NULL,
    busted     bigint      NOT NULL,
    first_time timestamptz NULL,
    last_time  timestamptz NULL,
    PRIMARY KEY (account, firm, trade_date)
);

CREATE TABLE quarantine (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    firm        text        NOT NULL,
    account_id  text        NOT NULL,
    account     text        NOT NULL,
    order_id    text        NOT NULL,
    reason      text        NOT NULL,
    detail      text        NOT NULL,
    kind        text        NOT NULL,
    raw         bytea       NOT NULL,
    digest      text        NOT NULL,
    side        text        NULL CHECK (side IN ('BUY', 'SELL')),
    trade_date  date        NULL,
    received_at timestamptz NOT NULL,
    resolved_at timestamptz NULL,
    resolution  text        NULL,
    CONSTRAINT quarantine_record UNIQUE (firm, digest)
);
CREATE INDEX quarantine_open ON quarantine (reason) WHERE resolved_at IS NULL;

CREATE TABLE accounts (
    firm       text        NOT NULL,
    account_id text        NOT NULL,
    number     text        NOT NULL,
    code       text        NOT NULL,
    name       text        NOT NULL,
    seen_at    timestamptz NOT NULL,
    PRIMARY KEY (firm, account_id)
);
CREATE INDEX accounts_code ON accounts (code);
CREATE INDEX accounts_id ON accounts (account_id);
CREATE INDEX accounts_number ON accounts (number);

-- The account numbers each registry entry owns: an entry naming an account
-- by code or id owns the number recorded for it (fillcapture.store.rules).
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
    WHERE a.number <> '' AND a.number <> u.account;

-- fills_mark: the outbox number of the newest fill committed before the
-- snapshot began (fills after it have greater numbers).
CREATE TABLE snapshot_counts (
    firm        text        NOT NULL,
    account     text        NOT NULL,
    trade_date  date        NOT NULL,
    account_id  text        NOT NULL,
    fills       bigint      NOT NULL,
    received_at timestamptz NOT NULL,
    fills_mark  bigint      NOT NULL,
    PRIMARY KEY (firm, account, trade_date)
);

CREATE TABLE certificates (
    firm           text        NOT NULL,
    trade_date     date        NOT NULL,
    account        text        NOT NULL,
    snapshot       bigint      NULL,
    snapshot_at    timestamptz NULL,
    after_snapshot bigint      NOT NULL,
    stored         bigint      NOT NULL,
    recovered      bigint      NOT NULL,
    quarantined    bigint      NOT NULL,
    busted         bigint      NOT NULL,
    PRIMARY KEY (firm, trade_date, account)
);

CREATE TABLE market_legs (
    market_id     text        NOT NULL,
    leg_index     integer     NOT NULL,
    leg_market_id text        NOT NULL,
    ratio         integer     NOT NULL CHECK (ratio > 0),
    direction     smallint    NOT NULL CHECK (direction IN (-1, 1)),
    strategy_type integer     NOT NULL,
    updated_at    timestamptz NOT NULL,
    PRIMARY KEY (market_id, leg_index)
);

-- Who holds each firm instance's lease (the lock itself is a session-level
-- advisory lock; this row only names the holder for the next daemon's error).
CREATE TABLE leases (
    instance text        PRIMARY KEY,
    pid      integer     NOT NULL,
    host     text        NOT NULL,
    since    timestamptz NOT NULL
);
