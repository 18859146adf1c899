"""The PostgreSQL engine's tokens role: API tokens by hash.
"""

from __future__ import annotations

from fillcapture.store._postgres.plumbing import Plumbing
from fillcapture.store._postgres.shared import count
from fillcapture.store.records import StoreError, TokenHolder
from fillcapture.store.rules import check_names


class TokensRole(Plumbing):
    """API tokens."""

    async def issue_token(self, name: str, token_hash: str, *, admin: bool) -> None:
        """Record a token by its hash, replacing ``name``'s previous token of the
        same kind: issuing again is how a lost or leaked token is revoked."""
        check_names(name, [])
        async with self.transaction() as conn:
            if not admin and not await conn.fetchval(
                    "SELECT EXISTS (SELECT 1 FROM users WHERE name = $1)", name):
                raise StoreError(f"no user named {name!r}")
            await conn.execute(
                "DELETE FROM api_tokens WHERE user_name = $1 AND admin = $2", name, admin)
            await conn.execute(
                "INSERT INTO api_tokens (user_name, token_hash, admin, created_at) "
                "VALUES ($1, $2, $3, now())", name, token_hash, admin)

    async def revoke_tokens(self, name: str) -> int:
        """Remove every token of ``name`` (user and operator); return how many."""
        async with self.transaction() as conn:
            return count(await conn.execute("DELETE FROM api_tokens WHERE user_name = $1", name))

    async def token_holder(self, token_hash: str) -> TokenHolder | None:
        """Whose token has this hash; ``None`` if none has."""
        rows = await self._all(
            "SELECT user_name, admin FROM api_tokens WHERE token_hash = $1", token_hash)
        return TokenHolder(rows[0][0], bool(rows[0][1])) if rows else None
