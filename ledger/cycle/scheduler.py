"""``trust-ledger scheduler``: the long-running service that posts each deal's payment dates.

APScheduler with a persistent SQLAlchemy job store in the ledger's own database: one job per
deal, firing every day at the run time (Beijing time), which runs :func:`run_due` up to that
day. A day on which no payment date fell due posts nothing; a payment date is posted by the first
run on or after it. At start-up the service first catches up every deal to today, so dates missed
while it was down are posted then, exactly once: ``run_due`` posts each date as one atomic batch
with deterministic idempotency keys, so a date already posted is never posted again, whichever
run (or a manual ``run-due``) got there first. Jobs are ``coalesce``d, one instance at a time.
The service posts as the trustee identity it is started with (``scheduler --as``; by default
:data:`~ledger.cycle.walk.SCHEDULER`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import structlog
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.cron import CronTrigger

from events import db
from events.policy import Identity
from ledger.cycle.walk import SCHEDULER, CycleResult, run_due
from projections.store import ProjectedStore

log = structlog.get_logger(__name__)

TIMEZONE = "Asia/Shanghai"
JOB_TABLE = "scheduler_jobs"


def job_id(deal_id: str) -> str:
    return f"run-due:{deal_id}"


def run_due_job(
    url: str, deal_id: str, today: dt.date | None = None, acting: str = str(SCHEDULER)
) -> list[CycleResult]:
    """The job: open the store, post every payment date of ``deal_id`` due by today, as
    ``acting`` (``NAME:ROLE``: the job's arguments are stored as text)."""
    engine = db.make_engine(url)
    try:
        day = today or dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date()
        results = run_due(ProjectedStore(engine), deal_id, day, who=Identity.parse(acting))
        for r in results:
            log.info("scheduler.cycle", deal_id=deal_id, payment_date=str(r.payment_date),
                     status=r.status, mode=r.mode)  # fmt: skip
        return results
    finally:
        engine.dispose()


def configure(
    scheduler: BaseScheduler,
    url: str,
    deal_ids: list[str],
    *,
    hour: int = 6,
    minute: int = 0,
    who: Identity = SCHEDULER,
) -> None:
    """Give ``scheduler`` the ledger's job store and one daily job per deal (idempotent: a job
    already stored is replaced, never duplicated)."""
    scheduler.configure(
        jobstores={"default": SQLAlchemyJobStore(url=url, tablename=JOB_TABLE)},
        job_defaults={"coalesce": True, "misfire_grace_time": None, "max_instances": 1},
        timezone=TIMEZONE,
    )
    for deal_id in deal_ids:
        scheduler.add_job(
            run_due_job,
            CronTrigger(hour=hour, minute=minute, timezone=TIMEZONE),
            args=[url, deal_id],
            kwargs={"acting": str(who)},
            id=job_id(deal_id),
            name=f"payment dates of {deal_id}",
            replace_existing=True,
        )


def serve(
    url: str, deal_ids: list[str], *, hour: int = 6, minute: int = 0,
    today: dt.date | None = None, make: Callable[[], BaseScheduler] | None = None,
    who: Identity = SCHEDULER,
) -> BaseScheduler:  # fmt: skip
    """Catch every deal up to today, then configure and start a blocking scheduler (or the one
    ``make`` builds, e.g. a background scheduler in tests)."""
    from apscheduler.schedulers.blocking import BlockingScheduler

    for deal_id in deal_ids:
        run_due_job(url, deal_id, today, str(who))
    scheduler = make() if make is not None else BlockingScheduler()
    configure(scheduler, url, deal_ids, hour=hour, minute=minute, who=who)
    log.info("scheduler.start", deals=deal_ids, at=f"{hour:02d}:{minute:02d} {TIMEZONE}")
    scheduler.start()
    return scheduler
