"""The transfers_in rows on the real PostgreSQL (migration 0019): an EIDO a neighbour sent
is linked to one call only, of that neighbour's trunk, within the link window; the pop
reads it back by the call."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from ntpd_ivr.eido.model import read
from ntpd_ivr.transfer.receive import LINK_WINDOW, TransferStore
from ntpd_ivr.transfer.tables import TransferIn
from tests.transfer_fixtures import REMOTE_CALL_ID, eido_bytes

CATEGORIES = ("ambulance", "fire", "police", "sar", "disaster", "unclassified")


@pytest.fixture
async def engine(db_engine: AsyncEngine) -> AsyncEngine:
    """The shared test database (tests/conftest.py), without earlier tests' transfers."""
    async with db_engine.begin() as conn:
        await conn.execute(text("DELETE FROM transfers_in"))
    return db_engine


async def test_an_eido_links_to_one_call_of_the_neighbour_that_sent_it(
        engine: AsyncEngine) -> None:
    store = TransferStore(engine)
    reference = await store.store("banyuasin", read(eido_bytes(), CATEGORIES),
                                  eido_bytes().decode())
    assert len(reference) == 32
    # Another neighbour's trunk naming it: not linked.
    assert await store.link("call-x", "musi-rawas", reference) is None
    form = await store.link("call-1", "banyuasin", reference)
    assert form is not None and form["remote_call_id"] == REMOTE_CALL_ID
    assert await store.link("call-1", "banyuasin", reference) is not None  # the same call
    assert await store.link("call-2", "banyuasin", reference) is None  # no second call
    assert await store.link("call-1", "banyuasin", "0" * 32) is None
    popped = await store.for_call("call-1")
    assert popped is not None and popped["neighbour"] == "banyuasin"
    assert popped["form"]["category"] == "fire"
    assert await store.for_call("call-2") is None


async def test_an_eido_older_than_the_link_window_is_not_linked(engine: AsyncEngine) -> None:
    store = TransferStore(engine)
    reference = await store.store("banyuasin", read(eido_bytes(), CATEGORIES),
                                  eido_bytes().decode())
    async with engine.begin() as conn:
        await conn.execute(update(TransferIn).where(TransferIn.reference == reference).values(
            received_at=TransferIn.received_at - LINK_WINDOW - timedelta(seconds=1)))
    assert await store.link("call-3", "banyuasin", reference) is None
