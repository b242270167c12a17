"""The token codec on its own: the checked-token cache must never accept what the full
check would refuse."""

from __future__ import annotations

import math
import time
import uuid
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from gophermart.models.types import utcnow
from gophermart.services.auth import TokenCodec
from gophermart.services.errors import Unauthenticated
from gophermart.services.records import Principal

SECRET = "token-test-secret-0123456789abcdef-0123"
PRINCIPAL = Principal(user_id=uuid.uuid4(), account_id=uuid.uuid4())


def test_a_cached_token_expires_on_time() -> None:
    ttl = timedelta(minutes=5)
    codec = TokenCodec(secret=SECRET, ttl=ttl)
    # Issued so that it expires at the next whole second but one (exp is whole seconds).
    expires = math.floor(time.time()) + 2
    issued = datetime.fromtimestamp(expires, UTC) - ttl
    token = codec.issue(PRINCIPAL, now=issued).token
    assert codec.decode(token) == PRINCIPAL
    assert codec.decode(token) == PRINCIPAL  # from the cache

    time.sleep(max(0.0, expires - time.time()) + 0.05)
    with pytest.raises(Unauthenticated):
        codec.decode(token)
    with pytest.raises(Unauthenticated):  # and not cached as valid by the failed check
        codec.decode(token)


def test_a_tampered_copy_of_a_cached_token_is_refused() -> None:
    codec = TokenCodec(secret=SECRET, ttl=timedelta(minutes=5))
    token = codec.issue(PRINCIPAL).token
    assert codec.decode(token) == PRINCIPAL
    header, payload, signature = token.split(".")
    forged_claims = {"sub": str(uuid.uuid4()), "acc": str(uuid.uuid4()), "iat": 1, "exp": 2**40}
    forged = jwt.encode(forged_claims, "another-secret-0123456789abcdef-0123456", "HS256")
    flipped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
    for candidate in (forged, f"{header}.{payload}.{flipped}", f"{header}.{payload}."):
        with pytest.raises(Unauthenticated):
            codec.decode(candidate)
    assert codec.decode(token) == PRINCIPAL


def test_a_token_of_another_secret_is_refused_even_after_the_same_claims_were_cached() -> None:
    ours = TokenCodec(secret=SECRET, ttl=timedelta(minutes=5))
    theirs = TokenCodec(secret=SECRET[::-1], ttl=timedelta(minutes=5))
    now = utcnow()
    assert ours.decode(ours.issue(PRINCIPAL, now=now).token) == PRINCIPAL
    with pytest.raises(Unauthenticated):
        ours.decode(theirs.issue(PRINCIPAL, now=now).token)


def test_the_cache_stays_bounded() -> None:
    codec = TokenCodec(secret=SECRET, ttl=timedelta(minutes=5), cache_size=3)
    tokens = [
        codec.issue(Principal(user_id=uuid.uuid4(), account_id=uuid.uuid4())).token
        for _ in range(10)
    ]
    for token in tokens:
        codec.decode(token)
        assert len(codec._checked) <= 3
    assert codec.decode(tokens[0]).user_id  # evicted tokens are still valid, checked anew
