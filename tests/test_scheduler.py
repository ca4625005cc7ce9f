"""The scheduler service: persistent jobs, catch-up of missed dates exactly once (both backends)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import sqlalchemy as sa
from apscheduler.schedulers.background import BackgroundScheduler

from ledger.cycle.acts import issue_notes
from ledger.cycle.scheduler import JOB_TABLE, job_id, serve
from ledger.servicing.deals import deal_in_force, load_deal
from projections.store import ProjectedStore
from tests.helpers import TRUSTEE
from tests.test_cycle import scaled_deal, servicing_events


def _cycle_dates(store: ProjectedStore, deal_id: str) -> list[str]:
    return [e.data["payment_date"] for e in store.read(deal_id, types=["WaterfallExecuted"])]


def test_restarts_catch_up_each_missed_date_exactly_once(
    db_url: str, store: ProjectedStore, tmp_path: Path
) -> None:
    path = scaled_deal("004_byd_2021_2.yaml", tmp_path)
    load_deal(store, path)
    deal = deal_in_force(store, "byd_2021_2")
    issue_notes(store, deal.deal_id, dt.date(2021, 9, 15), who=TRUSTEE)
    store.append(servicing_events(deal.deal_id, deal.calendar.cut_off_date, 12, {}))

    def start(today: dt.date) -> BackgroundScheduler:
        scheduler = serve(db_url, [deal.deal_id], today=today, make=BackgroundScheduler)
        assert isinstance(scheduler, BackgroundScheduler)
        return scheduler

    first = start(dt.date(2022, 3, 31))  # the service was down since before the first date
    posted = _cycle_dates(store, deal.deal_id)
    assert posted and all(d <= "2022-03-31" for d in posted)
    assert len(posted) == len(set(posted))
    job = first.get_job(job_id(deal.deal_id))
    assert job is not None and job.next_run_time is not None
    first.shutdown(wait=False)

    again = start(dt.date(2022, 3, 31))  # a restart on the same day posts nothing new
    assert _cycle_dates(store, deal.deal_id) == posted
    again.shutdown(wait=False)

    later = start(dt.date(2022, 7, 31))  # down for four months: each missed date once, in order
    dates = _cycle_dates(store, deal.deal_id)
    assert dates[: len(posted)] == posted and len(dates) > len(posted)
    assert len(dates) == len(set(dates)) and dates == sorted(dates)
    later.shutdown(wait=False)

    with store.engine.connect() as conn:  # one persistent job per deal, however many restarts
        jobs = conn.execute(sa.text(f"SELECT id FROM {JOB_TABLE}")).scalars().all()
    assert jobs == [job_id(deal.deal_id)]
