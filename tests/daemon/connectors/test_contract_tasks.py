"""Admin tasks (non-ticket time) and work orders (project tickets/tasks), per PSA, against the sandbox look-alikes.

The same harness as `test_contract.py` (a real sandbox on a loopback socket, a real `httpx.AsyncClient`, every body
checked against the vendor's API extract when the test ends). A task posts as ConnectWise charge-code time
(chargeToType "ChargeCode") or Autotask regular time (internalBillingCodeID); HaloPSA takes no task time from us
(unverified in its API extract: such tasks stay local, the config refuses a `post` to Halo). A work order posts as a
ConnectWise "ProjectTicket", an Autotask task (taskID), a Halo project (a ticket). Posting and finding use the same
marker rule as ticket entries; a 5xx after the PSA committed is ambiguous and `find()` recovers the record.
"""

from __future__ import annotations

import pytest

from daemon.connectors import ConnectorRejected, ConnectorUnavailable, PostEntry, TicketNotFound
from daemon.sandbox import KINDS
from daemon.settings import TaskPost
from daemon.timers.model import TicketRef
from tests.daemon.connectors.test_contract import NOW, Env, check_sent, env

__all__ = ["env"]  # the fixture, shared with test_contract.py

TASK_KINDS = ("connectwise", "autotask")
"""The PSAs TicketClock posts non-ticket time to."""
TASK_REFUSAL = {
    # What each sandbox says about a non-ticket target that does not exist (wording UNVERIFIED, as the sandboxes say).
    "connectwise": "Charge code 99999 was not found",
    "autotask": "internalBillingCodeID of type: BillingCode does not exist",
}
WORK_ORDER_REFUSAL = {
    "connectwise": "Project ticket 48211 was not found",  # a service ticket charged as a project ticket
    "autotask": "taskID of type: Task does not exist",
}


def task_post(env: Env, code: int | None = None) -> TaskPost:
    code = env.seed.task_code if code is None else code
    if env.kind == "connectwise":
        return TaskPost(instance=env.instance.name, charge_code=code)
    return TaskPost(instance=env.instance.name, billing_code=code)


def task_entry(env: Env, entry_id: str, *, code: int | None = None, ago_s: float = 7200) -> PostEntry:
    start = float(int(NOW - ago_s))
    return PostEntry(
        entry_id=entry_id,
        task=task_post(env, code),
        task_name="Admin",
        start=start,
        end=start + 1800,
        seconds=1800,
        notes=f"Admin time {entry_id}",
    )


def work_order_entry(env: Env, entry_id: str, work_order: int | None = None) -> PostEntry:
    base = env.entry(entry_id, minutes=45)
    ref = TicketRef(
        instance=env.instance.name,
        kind=env.kind,
        id=env.seed.work_order if work_order is None else work_order,
        record="work_order",
    )
    return PostEntry(
        entry_id=base.entry_id, ticket=ref, start=base.start, end=base.end, seconds=base.seconds, notes=base.notes
    )


# -- admin tasks -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", TASK_KINDS)
async def test_task_posts_non_ticket_time_that_find_returns(env: Env) -> None:
    connector = env.connector()
    entry = task_entry(env, "task-1")
    assert await connector.find(entry) is None
    posted = await connector.post(entry)
    (stored,) = env.with_marker("task-1")
    assert posted.psa_ids == [stored.psa_id]
    assert (stored.record, stored.ticket_id) == ("task", env.seed.task_code)
    assert stored.hours == pytest.approx(0.5, abs=0.005)
    assert stored.who == env.seed.api_user
    assert await connector.find(entry) == posted
    assert check_sent(env) >= 1


@pytest.mark.parametrize("kind", TASK_KINDS)
async def test_task_find_tells_entries_and_tasks_apart(env: Env) -> None:
    """Two task entries on the same code, and a ticket entry: each is found by its own marker only."""
    connector = env.connector()
    first, second = task_entry(env, "task-a"), task_entry(env, "task-b", ago_s=4 * 3600)
    ticket = env.entry("ticket-c", ago_s=6 * 3600)
    posted = [await connector.post(e) for e in (first, second, ticket)]
    assert [await connector.find(e) for e in (first, second, ticket)] == posted
    assert len({p.psa_ids[0] for p in posted}) == 3


@pytest.mark.parametrize("kind", TASK_KINDS)
@pytest.mark.parametrize("status", [502, 503])
async def test_task_5xx_after_commit_is_ambiguous_and_find_recovers_it(env: Env, status: int) -> None:
    connector = env.connector()
    entry = task_entry(env, f"task-{status}")
    await connector.test()  # identity and zone look-ups out of the way: the fault hits the time entry
    env.faults.error_after_commit_status = status
    env.faults.error_after_commit_next = 1
    with pytest.raises(ConnectorUnavailable) as caught:
        await connector.post(entry)
    assert (caught.value.status, caught.value.ambiguous) == (status, True)
    (stored,) = env.with_marker(entry.entry_id)
    found = await connector.find(entry)
    assert found is not None and found.psa_ids == [stored.psa_id]
    assert len(env.stored()) == 1


@pytest.mark.parametrize("kind", TASK_KINDS)
async def test_task_dropped_after_commit_is_found(env: Env) -> None:
    connector = env.connector()
    entry = task_entry(env, "task-drop")
    await connector.test()
    env.faults.drop_after_commit_next = 1
    with pytest.raises(ConnectorUnavailable) as caught:
        await connector.post(entry)
    assert caught.value.ambiguous
    found = await connector.find(entry)
    assert found is not None and found.psa_ids == [s.psa_id for s in env.with_marker("task-drop")]


@pytest.mark.parametrize("kind", TASK_KINDS)
async def test_unknown_task_code_is_refused_with_the_psas_words(env: Env) -> None:
    with pytest.raises(ConnectorRejected) as caught:
        await env.connector().post(task_entry(env, "task-bad", code=99999))
    assert TASK_REFUSAL[env.kind] in caught.value.message
    assert not isinstance(caught.value, ConnectorUnavailable)
    assert env.stored() == []


@pytest.mark.parametrize("kind", ["autotask"])
async def test_autotask_regular_time_needs_an_internal_billing_code(env: Env) -> None:
    """A work type (a billingCodeID kind of code) is not an internal billing code: Autotask refuses it."""
    with pytest.raises(ConnectorRejected) as caught:
        await env.connector().post(task_entry(env, "task-worktype", code=29682801))
    assert "internalBillingCodeID" in caught.value.message
    assert env.stored() == []


@pytest.mark.parametrize("kind", ["halopsa"])
async def test_halo_takes_no_task_time(env: Env) -> None:
    """HaloPSA non-ticket time is unverified: a task entry handed to the Halo connector is refused before any
    request (the config already refuses a task `post` to Halo)."""
    connector = env.connector()
    await connector.test()
    sent = len(env.sent)
    entry = task_entry(env, "task-halo", code=1)
    with pytest.raises(ConnectorRejected):
        await connector.post(entry)
    with pytest.raises(ConnectorRejected):
        await connector.find(entry)
    assert len(env.sent) == sent and env.stored() == []


# -- work orders -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
async def test_work_order_posts_as_project_work_that_find_returns(env: Env) -> None:
    connector = env.connector()
    entry = work_order_entry(env, "wo-1")
    assert await connector.find(entry) is None
    posted = await connector.post(entry)
    (stored,) = env.with_marker("wo-1")
    assert posted.psa_ids == [stored.psa_id]
    assert (stored.record, stored.ticket_id) == ("work_order", env.seed.work_order)
    assert await connector.find(entry) == posted


@pytest.mark.parametrize("kind", KINDS)
async def test_work_order_502_after_commit_is_found(env: Env) -> None:
    connector = env.connector()
    entry = work_order_entry(env, "wo-502")
    await connector.test()
    env.faults.error_after_commit_next = 1
    with pytest.raises(ConnectorUnavailable) as caught:
        await connector.post(entry)
    assert caught.value.ambiguous
    (stored,) = env.with_marker("wo-502")
    found = await connector.find(entry)
    assert found is not None and found.psa_ids == [stored.psa_id]


@pytest.mark.parametrize("kind", TASK_KINDS)
async def test_a_work_order_that_is_not_one_is_refused(env: Env) -> None:
    """ConnectWise: a service ticket is not a project ticket; Autotask: a ticket id is no task id."""
    with pytest.raises(ConnectorRejected) as caught:
        await env.connector().post(work_order_entry(env, "wo-bad", work_order=env.seed.service_ticket))
    assert WORK_ORDER_REFUSAL[env.kind] in caught.value.message
    assert isinstance(caught.value, TicketNotFound) or env.kind == "connectwise"
    assert env.stored() == []


@pytest.mark.parametrize("kind", TASK_KINDS)
async def test_the_sandbox_control_endpoint_shows_what_each_record_is_for(env: Env) -> None:
    connector = env.connector()
    await connector.post(task_entry(env, "shown-task"))
    await connector.post(work_order_entry(env, "shown-wo"))
    await connector.post(env.entry("shown-ticket", ago_s=5 * 3600))
    listed = (await env.http.get(f"{env.base_url}/_sandbox/entries")).json()["entries"]
    kinds = {
        e["internal_notes"].rsplit("[ticketclock:", 1)[1].rstrip("]"): (e["record"], e["ticket_id"]) for e in listed
    }
    assert kinds == {
        "shown-task": ("task", env.seed.task_code),
        "shown-wo": ("work_order", env.seed.work_order),
        "shown-ticket": ("ticket", env.seed.service_ticket),
    }
