"""Store URLs: each engine reads its own, and a bad one is one line, secrets masked."""

from __future__ import annotations

import pytest

from fillcapture.store import locate


@pytest.mark.parametrize(("url", "cause"), [
    ("postgresql://ops:s3cret@db.internal/fills", "unsupported scheme 'postgresql'"),
    ("sqlite:///", "must look like sqlite:///"),
    ("fills.db", "unsupported scheme 'fills.db'"),
])
def test_a_url_no_engine_reads_is_one_line_naming_it_without_its_secret(
        url: str, cause: str) -> None:
    with pytest.raises(ValueError, match="store url") as raised:
        locate(url)
    message = str(raised.value)
    assert cause in message
    assert "\n" not in message
    assert "s3cret" not in message
