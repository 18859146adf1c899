"""The SQLite engine's tokens role: API tokens by hash.
"""

from __future__ import annotations

from datetime import UTC, datetime

from fillcapture.store._sqlite.plumbing import Plumbing
from fillcapture.store._sqlite.rows import (
    utc_micros,
)
from fillcapture.store.records import (
    StoreError,
    TokenHolder,
)
from fillcapture.store.rules import check_names


class TokensRole(Plumbing):
    """API tokens."""

    async def issue_token(self, name: str, token_hash: str, *, admin: bool) -> None:
        """Record a token by its hash, replacing ``name``'s previous token of the
        same kind: issuing again is how a lost or leaked token is revoked."""
        check_names(name, [])
        async with self._writing() as conn:
            if not admin and not list(await conn.execute_fetchall(
                    "SELECT 1 FROM users WHERE name = ?", (name,))):
                raise StoreError(f"no user named {name!r}")
            await conn.execute(
                "DELETE FROM api_tokens WHERE user_name = ? AND admin = ?", (name, int(admin)))
            await conn.execute(
                "INSERT INTO api_tokens (user_name, token_hash, admin, created_at) "
                "VALUES (?, ?, ?, ?)",
                (name, token_hash, int(admin), utc_micros(datetime.now(UTC))))

    async def revoke_tokens(self, name: str) -> int:
        async with self._writing() as conn:
            cursor = await conn.execute("DELETE FROM api_tokens WHERE user_name = ?", (name,))
            return int(cursor.rowcount)

    async def token_holder(self, token_hash: str) -> TokenHolder | None:
        rows = await self._all(
            "SELECT user_name, admin FROM api_tokens WHERE token_hash = ?", (token_hash,))
        return TokenHolder(rows[0][0], bool(rows[0][1])) if rows else None
