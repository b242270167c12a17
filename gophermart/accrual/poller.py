"""The poller: asks the accrual system about every pending order and applies the answers.

One loop per process: claim a batch of due orders under a lease, ask about each with bounded
concurrency through the shared client and the shared rate limiter, apply every answer through
``services.accrual`` (one short transaction each, never while an HTTP call is open), then
claim again — or sleep until the earliest order is due or an upload wakes it.

How often an order is asked:
- an answer that is not final (204 → NEW, REGISTERED/PROCESSING) asks again after an interval
  that starts small and doubles to a cap (the accrual system may learn of the order later);
- no usable answer (5xx, timeout, refused connection) backs off exponentially, with jitter so
  that a recovering system is not hit by every order at the same instant;
- a 429 pauses everyone (RateLimiter) and puts the order back as due when the pause ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from gophermart.accrual.client import (
    AccrualClient,
    AccrualOutcome,
    Answered,
    NotRegistered,
    RateLimited,
    ServerError,
    Unreachable,
)
from gophermart.accrual.limiter import RateLimiter
from gophermart.models.enums import LoyaltyStatus
from gophermart.models.types import utcnow
from gophermart.services import accrual, pace
from gophermart.services.accrual import Answer, Claim, OrderChange
from gophermart.store.database import Database

logger = logging.getLogger("gophermart.poller")

OnChange = Callable[[OrderChange], Awaitable[None]]
OnOutcome = Callable[[str], None]
# A 429 seen here: tell the other instances at once (retry_after seconds, N a minute or None).
OnRateLimited = Callable[[float, int | None], Awaitable[None]]


@dataclass(frozen=True)
class PollerConfig:
    batch_size: int = 100
    concurrency: int = 16
    lease: timedelta = timedelta(seconds=30)
    # NEW (204): the order may show up there later.
    unknown_interval: float = 1.0
    unknown_interval_cap: float = 60.0
    # REGISTERED/PROCESSING: being calculated; results usually come within seconds.
    pending_interval: float = 0.25
    pending_interval_cap: float = 10.0
    failure_backoff: float = 1.0
    failure_backoff_cap: float = 60.0
    # Upper bound of an idle sleep: catches orders another instance released early.
    idle_wake: float = 5.0
    # In-flight requests may finish this long after stop() before they are cancelled.
    stop_grace: float = 5.0


def growing_delay(*, start: float, cap: float, attempts: int) -> float:
    """``start`` doubled per attempt, capped (the exponent is bounded so it cannot overflow)."""
    return float(min(cap, start * 2 ** min(attempts, 30)))


def jittered(delay: float, rng: random.Random) -> float:
    """Between half and all of ``delay``: spreads retries of orders that failed together."""
    return delay * (0.5 + rng.random() / 2)


def outcome_label(outcome: AccrualOutcome) -> str:
    match outcome:
        case Answered(status=status):
            return status.lower()
        case NotRegistered():
            return "not_registered"
        case RateLimited():
            return "rate_limited"
        case ServerError():
            return "server_error"
        case Unreachable(reason=reason):
            return reason


class GroupCommit:
    """Applies the answers that arrive while a transaction is busy together, in the next one.

    One answer alone is applied at once; under load, the answers that pile up during one
    commit go into the next (up to ``max_batch``), so the poller holds one database
    connection and commits a few times per second instead of once per order — and an
    account credited by many orders at once has its row locked once per batch, not once per
    order. If a batch fails, its answers are applied one by one, so one bad answer fails
    alone.
    """

    def __init__(self, db: Database, *, max_batch: int = 200) -> None:
        self._db = db
        self._max_batch = max_batch
        self._waiting: list[tuple[Answer, asyncio.Future[OrderChange | None]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self.transactions = 0  # how many apply_results calls it took so far

    async def apply(self, answer: Answer) -> OrderChange | None:
        future: asyncio.Future[OrderChange | None] = asyncio.get_running_loop().create_future()
        self._waiting.append((answer, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush(), name="accrual-group-commit")
        return await future

    async def drain(self) -> None:
        """Wait until every submitted answer has been applied (or has failed)."""
        while self._flusher is not None and not self._flusher.done():
            await asyncio.shield(self._flusher)

    async def _flush(self) -> None:
        while self._waiting:
            batch = self._waiting[: self._max_batch]
            del self._waiting[: self._max_batch]
            try:
                self.transactions += 1
                changes = await accrual.apply_results(
                    db=self._db, answers=[answer for answer, _ in batch]
                )
            except Exception as exc:
                if len(batch) == 1:
                    _settle(batch[0][1], exception=exc)
                    continue
                logger.warning(
                    "applying %d answers together failed; applying them one by one",
                    len(batch),
                    exc_info=True,
                )
                for answer, future in batch:
                    try:
                        self.transactions += 1
                        [change] = await accrual.apply_results(db=self._db, answers=[answer])
                    except Exception as exc:
                        _settle(future, exception=exc)
                    else:
                        _settle(future, result=change)
                continue
            for (_, future), change in zip(batch, changes, strict=True):
                _settle(future, result=change)


def _settle(
    future: asyncio.Future[OrderChange | None],
    *,
    result: OrderChange | None = None,
    exception: BaseException | None = None,
) -> None:
    if future.done():  # its poll was cancelled (shutdown); the answer is applied regardless
        return
    if exception is not None:
        future.set_exception(exception)
    else:
        future.set_result(result)


class Poller:
    def __init__(
        self,
        *,
        db: Database,
        client: AccrualClient,
        config: PollerConfig | None = None,
        limiter: RateLimiter | None = None,
        on_change: OnChange | None = None,
        on_outcome: OnOutcome | None = None,
        on_pause: Callable[[], None] | None = None,
        on_rate_limited: OnRateLimited | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._db = db
        self._client = client
        self.config = config or PollerConfig()
        self.limiter = limiter or RateLimiter()
        self._on_change = on_change
        self._on_outcome = on_outcome
        self._on_pause = on_pause
        self._on_rate_limited = on_rate_limited
        self._rng = rng or random.Random()
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._semaphore = asyncio.Semaphore(self.config.concurrency)
        self._commits = GroupCommit(db)

    def wake(self) -> None:
        """An order was uploaded: look for due orders now instead of at the next timer."""
        self._wake.set()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    async def run(self) -> None:
        """Poll until ``stop()``; a failing batch is logged and retried, never fatal."""
        failures = 0
        while not self._stopping.is_set():
            try:
                claimed = await self.run_once()
                failures = 0
            except Exception:
                failures += 1
                delay = jittered(
                    growing_delay(
                        start=self.config.failure_backoff,
                        cap=self.config.failure_backoff_cap,
                        attempts=failures,
                    ),
                    self._rng,
                )
                logger.exception("poll cycle failed; retrying in %.1f s", delay)
                await self._sleep(delay)
                continue
            if not claimed:
                await self._sleep_until_due()
        # Answers whose polls were cut short by stop() are still being applied: let them land.
        await self._commits.drain()

    async def run_once(self) -> int:
        """Claim one batch and process it; the number of orders claimed."""
        paused = self.limiter.paused_for()
        if paused > 0:
            await self._sleep(paused)
            if self._stopping.is_set():
                return 0
        self._wake.clear()
        claims = await accrual.claim_due_orders(
            db=self._db, lease=self.config.lease, limit=self._batch_limit()
        )
        if not claims:
            return 0
        logger.debug("claimed %d orders", len(claims), extra={"claimed": len(claims)})
        # A claim holds for one lease. Its request must go within the first half, so that the
        # answer is in before the lease ends and another instance may claim the order.
        send_by = self.limiter.now() + self._send_window()
        # The limit is the whole service's: once it is known, these asks take turns booked
        # from the pace every instance shares; claims left without a turn are handed back.
        turns = await pace.book_turns(db=self._db, count=len(claims), within=self._send_window())
        self.limiter.book(start_in=turns.start_in, interval=turns.interval, count=turns.count)
        tasks = [asyncio.create_task(self._process(claim, send_by=send_by)) for claim in claims]
        batch = asyncio.ensure_future(asyncio.wait(tasks))
        stopping = asyncio.ensure_future(self._stopping.wait())
        await asyncio.wait({batch, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if not batch.done():  # stopping: a grace period, then the rest give their claims back
            _, pending = await asyncio.wait(tasks, timeout=self.config.stop_grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            batch.cancel()
        return len(claims)

    async def _process(self, claim: Claim, *, send_by: float) -> None:
        try:
            async with self._semaphore:
                if self._stopping.is_set():
                    await accrual.release_claims(db=self._db, order_numbers=[claim.number])
                    return
                if not await self.limiter.acquire(deadline=send_by):
                    await self._hand_back(claim)
                    return
                outcome = await self._client.fetch(claim.number)
            if self._on_outcome is not None:
                self._on_outcome(outcome_label(outcome))
            await self._apply(claim, outcome)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await asyncio.shield(
                    accrual.release_claims(db=self._db, order_numbers=[claim.number])
                )
            raise
        except Exception:
            # One bad order never stops the loop: log it and ask again later.
            logger.exception(
                "order %s: applying the accrual answer failed",
                claim.number,
                extra={"order": claim.number},
            )
            with contextlib.suppress(Exception):
                await self._postpone_after_failure(claim)

    async def _apply(self, claim: Claim, outcome: AccrualOutcome) -> None:
        match outcome:
            case Answered(status=status, accrual_kopecks=points):
                loyalty = LoyaltyStatus(status)
                await self._record(claim, loyalty, points)
            case NotRegistered():
                await self._record(claim, LoyaltyStatus.NEW, None)
            case RateLimited(retry_after=retry_after, limit_per_minute=limit):
                if self.limiter.pause(retry_after=retry_after, limit_per_minute=limit):
                    await pace.note_rate_limit(
                        db=self._db, retry_after=retry_after, limit_per_minute=limit
                    )
                    if self._on_rate_limited is not None:
                        await self._on_rate_limited(retry_after, limit)
                if self._on_pause is not None:
                    self._on_pause()
                logger.warning(
                    "accrual system rate limit: pausing %.1f s, then %s requests/min",
                    retry_after,
                    limit if limit is not None else "unknown",
                    extra={"retry_after": retry_after, "limit_per_minute": limit},
                )
                await accrual.postpone(
                    db=self._db,
                    order_number=claim.number,
                    next_poll_at=utcnow() + timedelta(seconds=retry_after),
                    attempts=claim.attempts,
                )
            case ServerError(status_code=code):
                logger.warning(
                    "order %s: accrual system answered %d",
                    claim.number,
                    code,
                    extra={"order": claim.number, "status_code": code, "attempts": claim.attempts},
                )
                await self._postpone_after_failure(claim)
            case Unreachable(reason=reason, detail=detail):
                logger.warning(
                    "order %s: accrual system %s: %s",
                    claim.number,
                    reason,
                    detail,
                    extra={"order": claim.number, "failure": reason, "attempts": claim.attempts},
                )
                await self._postpone_after_failure(claim)

    async def _record(self, claim: Claim, loyalty: LoyaltyStatus, points: int | None) -> None:
        status = loyalty.order_status()
        # The interval grows while nothing moves, and starts over when the status changes.
        attempts = claim.attempts + 1 if status is claim.status else 0
        if status.is_final:
            next_poll_at: datetime | None = None
        else:
            start, cap = (
                (self.config.unknown_interval, self.config.unknown_interval_cap)
                if loyalty is LoyaltyStatus.NEW
                else (self.config.pending_interval, self.config.pending_interval_cap)
            )
            delay = growing_delay(start=start, cap=cap, attempts=attempts)
            next_poll_at = utcnow() + timedelta(seconds=delay)
        change = await self._commits.apply(
            Answer(claim.number, loyalty, points, next_poll_at=next_poll_at, attempts=attempts)
        )
        if change is None:
            return
        if change.credited:
            logger.info(
                "order %s: PROCESSED, credited %d kopecks",
                claim.number,
                change.credited,
                extra={"order": claim.number, "credited_kopecks": change.credited},
            )
        if self._on_change is not None and (change.status is not claim.status or change.credited):
            try:
                await self._on_change(change)
            except Exception:
                logger.exception("order %s: publishing the change failed", claim.number)

    async def _postpone_after_failure(self, claim: Claim) -> None:
        attempts = claim.attempts + 1
        delay = jittered(
            growing_delay(
                start=self.config.failure_backoff,
                cap=self.config.failure_backoff_cap,
                attempts=attempts - 1,
            ),
            self._rng,
        )
        await accrual.postpone(
            db=self._db,
            order_number=claim.number,
            next_poll_at=utcnow() + timedelta(seconds=delay),
            attempts=attempts,
        )

    async def _hand_back(self, claim: Claim) -> None:
        """The claim's turn to ask would come after its lease could end (a long 429 pause,
        a slow pace): release it, due when that turn comes, rather than ask unleased."""
        wait = self.limiter.next_turn_in()
        logger.debug(
            "order %s: next turn in %.1f s, beyond its lease; released",
            claim.number,
            wait,
            extra={"order": claim.number},
        )
        await accrual.postpone(
            db=self._db,
            order_number=claim.number,
            next_poll_at=utcnow() + timedelta(seconds=wait),
            attempts=claim.attempts,
        )

    def _send_window(self) -> float:
        return self.config.lease.total_seconds() / 2

    def _batch_limit(self) -> int:
        # Under a known rate limit a batch is what can be sent within its send window, so that
        # claimed orders are not handed back for want of a turn.
        interval = self.limiter.interval
        if interval is None:
            return self.config.batch_size
        affordable = int(self._send_window() / interval)
        return max(1, min(self.config.batch_size, affordable))

    async def _sleep_until_due(self) -> None:
        due = await accrual.next_due_at(db=self._db)
        timeout = self.config.idle_wake
        if due is not None:
            timeout = min(timeout, max(0.0, (due - utcnow()).total_seconds()))
        await self._sleep(timeout)

    async def _sleep(self, seconds: float) -> None:
        """Sleep, cut short by ``wake()`` or ``stop()``."""
        if seconds <= 0:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)
