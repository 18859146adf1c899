-- Fee and commission schedules (fillcapture fees, [[fees]]): a row per
-- schedule key, its component, scope and first trade date. A scope left
-- open is '' (NULL cannot take part in a primary key), so the key is the
-- primary key; amount is exact decimal text as given, never a float.
CREATE TABLE fee_schedules (
    component      text        NOT NULL,
    exchange       text        NOT NULL DEFAULT '',
    contract       text        NOT NULL DEFAULT '',
    account        text        NOT NULL DEFAULT '',
    user_name      text        NOT NULL DEFAULT '',
    side           text        NOT NULL DEFAULT '' CHECK (side IN ('', 'BUY', 'SELL')),
    effective_from date        NOT NULL,
    amount         text        NOT NULL,
    currency       text        NOT NULL,
    updated_at     timestamptz NOT NULL,
    PRIMARY KEY (component, exchange, contract, account, user_name, side, effective_from)
);
