"""Two (or more) simultaneous checkouts of the same original: exactly one wins, enforced by
the database — real processes, each with its own connection, on SQLite and PostgreSQL."""

from __future__ import annotations

import multiprocessing as mp
import os

from sqlalchemy import func, select

from dangan.loans.models import LoanEvent, PhysicalOut

WORKERS = 4


def _checkout(home: str, db_url: str, loan_id: str, barrier, results) -> None:
    os.environ["DANGAN_DATABASE_URL"] = db_url
    from dangan.errors import Conflict
    from dangan.system import open_dangan

    system = open_dangan(home)
    actor = system.actor("wang")
    system.loans.show(actor, loan_id)  # connect and warm up before the race
    barrier.wait(timeout=60)
    try:
        system.loans.checkout(actor, loan_id)
        results.put((loan_id, "won"))
    except Conflict as exc:
        results.put((loan_id, f"refused: {exc}"))
    except Exception as exc:  # anything else is a failure of the guarantee
        results.put((loan_id, f"error: {type(exc).__name__}: {exc}"))
    finally:
        system.close()


def test_simultaneous_checkouts_of_one_original_exactly_one_wins(system, lend, db_url):
    wang = lend["who"]("wang")
    loans = []
    for n in range(WORKERS):
        name = f"staff{n}"
        system.users.add(system.actor("secofficer"), name, ["staff"], "internal")
        lid = system.loans.request(system.actor(name), [lend["a"]], f"核对{n}", "physical")["loan_id"]
        system.loans.approve(wang, lid)
        loans.append(lid)
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(WORKERS), ctx.Queue()
    procs = [ctx.Process(target=_checkout, args=(str(system.settings.home), db_url, lid, barrier, results))
             for lid in loans]
    for p in procs:
        p.start()
    outcomes = dict(results.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(timeout=60)
    assert sum(v == "won" for v in outcomes.values()) == 1, outcomes
    assert all(v == "won" or v.startswith("refused") for v in outcomes.values()), outcomes
    winner = next(k for k, v in outcomes.items() if v == "won")
    with system.db.read() as s:
        assert s.execute(select(PhysicalOut.loan_id)).scalars().all() == [winner]
        assert s.execute(select(func.count()).select_from(LoanEvent)
                         .where(LoanEvent.event == "checkout")).scalar() == 1
    assert {r["loan_id"]: r["state"] for r in system.loans.list(wang)} == {
        lid: "checked_out" if lid == winner else "approved" for lid in loans}


def test_the_database_itself_refuses_a_second_out_row_for_one_original(system, lend):
    import pytest
    from sqlalchemy.exc import IntegrityError

    wang = lend["who"]("wang")
    ids = []
    for name in ("li", "sun"):
        lid = system.loans.request(system.actor(name), [lend["a"]], "核对", "physical")["loan_id"]
        system.loans.approve(wang, lid)
        ids.append(lid)
    system.loans.checkout(wang, ids[0])
    with pytest.raises(IntegrityError), system.db.session() as s:  # bypassing the service's own check
        rid = s.execute(select(PhysicalOut.record_id)).scalar_one()
        s.execute(PhysicalOut.__table__.insert(), [{"record_id": rid, "loan_id": ids[1]}])
