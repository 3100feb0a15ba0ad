"""The tables registry: every domain's tables, so that Base.metadata is the whole schema
(alembic's migrations/env.py, the schema test). Part of the composition root: only the
root (app, cli, migrations, tests) imports it, never a domain or the core; the domains
import ntpd_ivr.db.base.Base and their own tables.

A new domain with tables adds its tables module here.
"""

from __future__ import annotations

from ntpd_ivr.alerts import tables as alerts_tables
from ntpd_ivr.api import tables as api_tables
from ntpd_ivr.audit import model as audit_model
from ntpd_ivr.callbacks import tables as callbacks_tables
from ntpd_ivr.calls import tables as calls_tables
from ntpd_ivr.campaigns import tables as campaigns_tables
from ntpd_ivr.db.base import Base
from ntpd_ivr.dispatch import tables as dispatch_tables
from ntpd_ivr.feed import tables as feed_tables
from ntpd_ivr.incidents import tables as incidents_tables
from ntpd_ivr.location import tables as location_tables
from ntpd_ivr.prank import tables as prank_tables
from ntpd_ivr.routing import tables as routing_tables
from ntpd_ivr.sms import tables as sms_tables
from ntpd_ivr.takers import tables as takers_tables
from ntpd_ivr.texts import tables as texts_tables
from ntpd_ivr.transfer import tables as transfer_tables
from ntpd_ivr.web import tables as web_tables
from ntpd_ivr.workspace import tables as workspace_tables

TABLES_MODULES = (alerts_tables, api_tables, audit_model, callbacks_tables, calls_tables,
                  campaigns_tables, dispatch_tables, feed_tables, incidents_tables,
                  location_tables, prank_tables, routing_tables, sms_tables, takers_tables,
                  texts_tables, transfer_tables, web_tables, workspace_tables)
metadata = Base.metadata

__all__ = ["TABLES_MODULES", "Base", "metadata"]
