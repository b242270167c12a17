"""Registration, sign-in and tokens.

Passwords: argon2id through passlib, hashed in worker threads (never on the event loop) and at
most one hash per core at a time, since each one takes ~19 MiB and a core for ~40 ms.
Tokens: HS256 JWTs naming the user and their loyalty account, so that a request needs no
lookup to know who is asking.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import anyio
import anyio.to_thread
import jwt
from passlib.context import CryptContext

from gophermart.models.types import utcnow
from gophermart.services.errors import (
    InvalidCredentials,
    LoginTaken,
    Unauthenticated,
    ValidationError,
)
from gophermart.services.records import AuthSession, IssuedToken, Principal
from gophermart.store import settings as settings_store
from gophermart.store import users
from gophermart.store.database import Database

LOGIN_LENGTH = (3, 64)
PASSWORD_LENGTH = (8, 1024)
TOKEN_ALGORITHM = "HS256"  # noqa: S105 - an algorithm name, not a secret
MIN_SECRET_LENGTH = 32
SECRET_SETTING_KEY = "token_secret"  # noqa: S105 - the name of a setting, not a secret


@dataclass(frozen=True, slots=True)
class Argon2Parameters:
    """Defaults: OWASP's minimum for argon2id (19 MiB, 2 passes, 1 lane)."""

    memory_kib: int = 19_456
    time_cost: int = 2
    parallelism: int = 1


class PasswordHasher:
    def __init__(self, parameters: Argon2Parameters | None = None) -> None:
        p = parameters or Argon2Parameters()
        self._context = CryptContext(
            schemes=["argon2"],
            argon2__type="ID",
            argon2__memory_cost=p.memory_kib,
            argon2__time_cost=p.time_cost,
            argon2__parallelism=p.parallelism,
        )
        self._limiter = anyio.CapacityLimiter(os.cpu_count() or 1)
        self._dummy_hash: str | None = None

    async def hash(self, password: str) -> str:
        return await anyio.to_thread.run_sync(self._context.hash, password, limiter=self._limiter)

    async def verify(self, password: str, password_hash: str | None) -> tuple[bool, str | None]:
        """(matches, a fresh hash when the stored one uses outdated parameters).

        With no stored hash (unknown login) the password is checked against a dummy hash,
        so an unknown login costs the same time as a wrong password.
        """
        if password_hash is None:
            if self._dummy_hash is None:
                self._dummy_hash = await self.hash(os.urandom(16).hex())
            await anyio.to_thread.run_sync(
                self._context.verify, password, self._dummy_hash, limiter=self._limiter
            )
            return False, None
        ok, new_hash = await anyio.to_thread.run_sync(
            self._context.verify_and_update, password, password_hash, limiter=self._limiter
        )
        return bool(ok), new_hash


class TokenCodec:
    """Issues and checks signed tokens (HS256 JWTs).

    A token whose signature checked out is remembered with its expiry (up to
    ``cache_size`` of them), so that a client's next requests cost a dictionary lookup and
    a clock read instead of a base64 + JSON + HMAC pass. Only byte-identical strings hit the
    cache, so a tampered token always goes through the full check; an expired one is
    refused from the cache as it would be by the check.
    """

    def __init__(
        self,
        *,
        secret: str,
        ttl: timedelta,
        cache_size: int = 10_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if len(secret) < MIN_SECRET_LENGTH:
            raise ValueError(f"the token secret must be at least {MIN_SECRET_LENGTH} characters")
        self._secret = secret
        self._ttl = ttl
        self._clock = clock
        self._cache_size = cache_size
        self._checked: dict[str, tuple[Principal, float]] = {}

    def issue(self, principal: Principal, *, now: datetime | None = None) -> IssuedToken:
        issued_at = now or utcnow()
        expires_at = issued_at + self._ttl
        claims = {
            "sub": str(principal.user_id),
            "acc": str(principal.account_id),
            "iat": int(issued_at.timestamp()),
            "exp": int(expires_at.timestamp()),
        }
        token = jwt.encode(claims, self._secret, algorithm=TOKEN_ALGORITHM)
        return IssuedToken(token=token, expires_at=expires_at.replace(microsecond=0))

    def decode(self, token: str) -> Principal:
        """The principal a valid token names; Unauthenticated for anything else.

        Only HS256 is accepted, so ``alg: none`` and algorithm-confusion tokens fail here.
        """
        checked = self._checked.get(token)
        if checked is not None:
            principal, expires = checked
            if self._clock() < expires:
                return principal
            del self._checked[token]
        principal, expires = self._check(token)
        if len(self._checked) >= self._cache_size:
            self._checked.clear()  # simple and bounded; live clients refill it at once
        self._checked[token] = (principal, expires)
        return principal

    def _check(self, token: str) -> tuple[Principal, float]:
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[TOKEN_ALGORITHM],
                options={"require": ["exp", "iat", "sub", "acc"]},
            )
            principal = Principal(
                user_id=uuid.UUID(claims["sub"]), account_id=uuid.UUID(claims["acc"])
            )
            return principal, float(claims["exp"])
        except (jwt.PyJWTError, ValueError, TypeError, KeyError):
            raise Unauthenticated("the token is invalid or has expired") from None


def login_key(login: str) -> str:
    """The form logins are compared in: case-insensitive (Unicode case folding)."""
    return login.casefold()


def validate_credentials(login: str, password: str) -> None:
    low, high = LOGIN_LENGTH
    if not low <= len(login) <= high:
        raise ValidationError(f"login must be {low} to {high} characters long", field="login")
    if login != login.strip():
        raise ValidationError("login must not start or end with whitespace", field="login")
    if not login.isprintable():
        raise ValidationError("login must not contain control characters", field="login")
    low, high = PASSWORD_LENGTH
    if not low <= len(password) <= high:
        raise ValidationError(f"password must be {low} to {high} characters long", field="password")


async def load_or_create_secret(*, db: Database) -> str:
    """The token secret shared by every instance on this database, generated on first use."""
    async with db.lean_transaction() as conn:
        return await settings_store.get_or_create(
            conn, key=SECRET_SETTING_KEY, value=os.urandom(48).hex()
        )


async def register(
    *, db: Database, hasher: PasswordHasher, tokens: TokenCodec, login: str, password: str
) -> AuthSession:
    validate_credentials(login, password)
    key = login_key(login)
    # Cheap early answer for the common case; the unique index still decides races.
    async with db.read() as conn:
        if await users.find_credentials(conn, login_key=key) is not None:
            raise LoginTaken("this login is already taken")
    password_hash = await hasher.hash(password)
    now = utcnow()
    async with db.transaction() as conn:
        principal = await users.create_user(
            conn, login=login, login_key=key, password_hash=password_hash, now=now
        )
        if principal is None:
            raise LoginTaken("this login is already taken")
    return AuthSession(principal=principal, login=login, token=tokens.issue(principal, now=now))


async def login(
    *, db: Database, hasher: PasswordHasher, tokens: TokenCodec, login: str, password: str
) -> AuthSession:
    validate_credentials(login, password)
    async with db.read() as conn:
        credentials = await users.find_credentials(conn, login_key=login_key(login))
    ok, new_hash = await hasher.verify(password, credentials.password_hash if credentials else None)
    if credentials is None or not ok:
        raise InvalidCredentials("wrong login or password")
    if new_hash is not None:
        async with db.transaction() as conn:
            await users.update_password_hash(
                conn, user_id=credentials.principal.user_id, password_hash=new_hash
            )
    return AuthSession(
        principal=credentials.principal,
        login=credentials.login,
        token=tokens.issue(credentials.principal),
    )


def authenticate(*, tokens: TokenCodec, token: str | None) -> Principal:
    """The one way every interface turns a presented token into a principal."""
    if not token:
        raise Unauthenticated("sign in first: no token was presented")
    return tokens.decode(token)


async def find_logins(*, db: Database, user_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
    """Several users' logins in one read (for batched loading); unknown ids are absent."""
    if not user_ids:
        return {}
    async with db.lean_read() as conn:
        return await users.find_logins(conn, user_ids=user_ids)
