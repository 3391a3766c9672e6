"""The database side of the feed: the commit-time position trigger, the
append-only guards, and what reads and pruning need to know about them.

Installed by migration 0002 (see `install` / `uninstall`). PostgreSQL and the
SQLite quick start get equivalent rules; only PostgreSQL needs the commit-time
machinery, because only it has concurrent writers.
"""

from __future__ import annotations

#: pg_advisory_xact_lock key serialising position assignment ("arcfeed" in ASCII).
FEED_LOCK_KEY = 27428843986183524
POSITION_SEQUENCE = "feed_position"
#: LISTEN/NOTIFY channel; the payload is the highest position just committed.
CHANNEL = "arcadia_feed"
#: The DEFERRABLE constraint trigger that positions a transaction's rows at commit.
POSITION_TRIGGER = "feed_event_position_at_commit"
#: Transaction-local settings the trigger uses (set_config(..., true)).
POSITIONED_THROUGH = "arcadia.feed_positioned_through"
POSITIONING = "arcadia.feed_positioning"

EVENT_TABLE = "feed_event"
WATERMARK_TABLE = "feed_watermark"

#: Reads inside a writing transaction run this first: the transaction's own
#: pending rows get their positions now (so it reads its own writes), and the
#: rows it writes afterwards are positioned at commit again.
SETTLE_PENDING_SQL = (
    f"SET CONSTRAINTS {POSITION_TRIGGER} IMMEDIATE; SET CONSTRAINTS {POSITION_TRIGGER} DEFERRED"
)

_COMPARED_COLUMNS = (
    "id",
    "type",
    "tenant_id",
    "deployment_id",
    "occurred_at",
    "data",
    "request_id",
)

_WATERMARK = f"coalesce((SELECT pruned_through FROM {WATERMARK_TABLE} WHERE id = 1), 0)"

#: The commit-time position function (its trigger is created below).
POSITION_FUNCTION_SQL = f"""
CREATE OR REPLACE FUNCTION feed_assign_positions() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    done bigint := NULLIF(current_setting('{POSITIONED_THROUGH}', true), '')::bigint;
    pending bigint;
    top_id bigint;
    first_position bigint;
BEGIN
    IF done IS NOT NULL AND NEW.id <= done THEN
        RETURN NULL;
    END IF;
    PERFORM pg_advisory_xact_lock({FEED_LOCK_KEY});
    -- Every committed row got its position at its commit, and other
    -- transactions' uncommitted rows are invisible: the unpositioned rows
    -- this sees are exactly this transaction's own.
    -- NEW is the first of them (pending rows fire in insert order, and one
    -- session's ids only grow), so the scan of the unpositioned index starts
    -- at it: older entries (rows positioned since, not yet vacuumed) are
    -- never walked, and a commit costs its own rows, not the table's churn.
    SELECT count(*), max(id) INTO pending, top_id FROM {EVENT_TABLE}
     WHERE position IS NULL AND id >= NEW.id;
    IF pending > 0 THEN
        -- One block of positions: only the lock holder draws from the sequence.
        first_position := nextval('{POSITION_SEQUENCE}');
        IF pending > 1 THEN
            PERFORM setval('{POSITION_SEQUENCE}', first_position + pending - 1);
        END IF;
        PERFORM set_config('{POSITIONING}', 'on', true);
        UPDATE {EVENT_TABLE} AS e
           SET position = first_position - 1 + p.rank
          FROM (SELECT id, row_number() OVER (ORDER BY id) AS rank
                  FROM {EVENT_TABLE} WHERE position IS NULL AND id >= NEW.id) AS p
         WHERE e.id = p.id;
        PERFORM set_config('{POSITIONING}', 'off', true);
        -- Delivered at commit, in commit order, to every LISTENer.
        PERFORM pg_notify('{CHANNEL}', (first_position + pending - 1)::text);
    END IF;
    PERFORM set_config('{POSITIONED_THROUGH}', coalesce(top_id, NEW.id)::text, true);
    RETURN NULL;
END
$$
"""

_PG_INSTALL = [
    f"CREATE SEQUENCE IF NOT EXISTS {POSITION_SEQUENCE} AS bigint",
    # -- positions at commit -------------------------------------------------
    # Fires once per inserted row, deferred to COMMIT (or to SET CONSTRAINTS
    # ... IMMEDIATE). The first firing positions every row of the transaction
    # in one UPDATE, in id (= insert) order, under the feed lock; the others
    # see from the transaction-local setting that their row is done. The lock
    # is held until the transaction ends, and PostgreSQL makes a committing
    # transaction visible before it releases its locks: whoever takes the lock
    # next (and so gets higher positions) commits after this one is visible.
    POSITION_FUNCTION_SQL,
    f"""
CREATE CONSTRAINT TRIGGER {POSITION_TRIGGER}
AFTER INSERT ON {EVENT_TABLE}
DEFERRABLE INITIALLY DEFERRED
FOR EACH ROW EXECUTE FUNCTION feed_assign_positions()
""",
    # -- append-only ---------------------------------------------------------
    f"""
CREATE OR REPLACE FUNCTION feed_event_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        RAISE EXCEPTION 'append-only table %: position is assigned at commit, not inserted',
            TG_TABLE_NAME
            USING ERRCODE = 'restrict_violation';
    ELSIF TG_OP = 'UPDATE' THEN
        -- The one update: the commit-time trigger setting a null position.
        IF OLD.position IS NULL AND NEW.position IS NOT NULL
           AND current_setting('{POSITIONING}', true) = 'on'
           AND ({", ".join(f"NEW.{c}" for c in _COMPARED_COLUMNS)})
               IS NOT DISTINCT FROM ({", ".join(f"OLD.{c}" for c in _COMPARED_COLUMNS)}) THEN
            RETURN NEW;
        END IF;
        RAISE EXCEPTION 'append-only table {EVENT_TABLE}: UPDATE refused'
            USING ERRCODE = 'restrict_violation';
    END IF;
    -- DELETE: only retention, which raises the watermark first (same transaction).
    IF OLD.position IS NOT NULL AND OLD.position <= {_WATERMARK} THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'append-only table %: DELETE refused (above the retention watermark)',
        TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END
$$
""",
    f"CREATE TRIGGER feed_event_insert_guard BEFORE INSERT ON {EVENT_TABLE} "
    "FOR EACH ROW WHEN (NEW.position IS NOT NULL) EXECUTE FUNCTION feed_event_guard()",
    f"CREATE TRIGGER feed_event_guard BEFORE UPDATE OR DELETE ON {EVENT_TABLE} "
    "FOR EACH ROW EXECUTE FUNCTION feed_event_guard()",
    """
CREATE OR REPLACE FUNCTION feed_watermark_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.pruned_through >= OLD.pruned_through THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'append-only table %: the watermark only rises (% refused)',
        TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'restrict_violation';
END
$$
""",
    f"CREATE TRIGGER feed_watermark_guard BEFORE UPDATE OR DELETE ON {WATERMARK_TABLE} "
    "FOR EACH ROW EXECUTE FUNCTION feed_watermark_guard()",
]

_PG_UNINSTALL = [
    f"DROP TRIGGER IF EXISTS feed_watermark_guard ON {WATERMARK_TABLE}",
    "DROP FUNCTION IF EXISTS feed_watermark_guard()",
    f"DROP TRIGGER IF EXISTS feed_event_guard ON {EVENT_TABLE}",
    f"DROP TRIGGER IF EXISTS feed_event_insert_guard ON {EVENT_TABLE}",
    "DROP FUNCTION IF EXISTS feed_event_guard()",
    f"DROP TRIGGER IF EXISTS {POSITION_TRIGGER} ON {EVENT_TABLE}",
    "DROP FUNCTION IF EXISTS feed_assign_positions()",
    f"DROP SEQUENCE IF EXISTS {POSITION_SEQUENCE}",
]

# SQLite has one writer at a time: ids are handed out in commit order already,
# so the position is the id, set right after the insert. The guards are named
# like arcadia_cloud.append_only's, so `manage.py flush` lifts them too.
_SQLITE_UNCHANGED = " AND ".join(f"NEW.{c} IS OLD.{c}" for c in _COMPARED_COLUMNS)
_SQLITE_INSTALL = [
    f"CREATE TRIGGER {POSITION_TRIGGER} AFTER INSERT ON {EVENT_TABLE} "
    f"WHEN NEW.position IS NULL "
    f"BEGIN UPDATE {EVENT_TABLE} SET position = NEW.id WHERE id = NEW.id; END",
    f"CREATE TRIGGER append_only_{EVENT_TABLE}_insert BEFORE INSERT ON {EVENT_TABLE} "
    "WHEN NEW.position IS NOT NULL "
    f"BEGIN SELECT RAISE(ABORT, 'append-only table {EVENT_TABLE}: "
    "position is assigned at commit, not inserted'); END",
    f"CREATE TRIGGER append_only_{EVENT_TABLE}_update BEFORE UPDATE ON {EVENT_TABLE} "
    f"WHEN NOT (OLD.position IS NULL AND NEW.position IS NEW.id AND {_SQLITE_UNCHANGED}) "
    f"BEGIN SELECT RAISE(ABORT, 'append-only table {EVENT_TABLE}: UPDATE refused'); END",
    f"CREATE TRIGGER append_only_{EVENT_TABLE}_delete BEFORE DELETE ON {EVENT_TABLE} "
    f"WHEN OLD.position IS NULL OR OLD.position > {_WATERMARK} "
    f"BEGIN SELECT RAISE(ABORT, 'append-only table {EVENT_TABLE}: "
    "DELETE refused (above the retention watermark)'); END",
    f"CREATE TRIGGER append_only_{WATERMARK_TABLE}_update BEFORE UPDATE ON {WATERMARK_TABLE} "
    "WHEN NEW.pruned_through < OLD.pruned_through "
    f"BEGIN SELECT RAISE(ABORT, 'append-only table {WATERMARK_TABLE}: "
    "the watermark only rises'); END",
    f"CREATE TRIGGER append_only_{WATERMARK_TABLE}_delete BEFORE DELETE ON {WATERMARK_TABLE} "
    f"BEGIN SELECT RAISE(ABORT, 'append-only table {WATERMARK_TABLE}: "
    "the watermark only rises'); END",
]

_SQLITE_UNINSTALL = [
    f"DROP TRIGGER IF EXISTS {name}"
    for name in (
        POSITION_TRIGGER,
        f"append_only_{EVENT_TABLE}_insert",
        f"append_only_{EVENT_TABLE}_update",
        f"append_only_{EVENT_TABLE}_delete",
        f"append_only_{WATERMARK_TABLE}_update",
        f"append_only_{WATERMARK_TABLE}_delete",
    )
]


def install_sql(vendor: str) -> list[str]:
    if vendor == "postgresql":
        return _PG_INSTALL
    if vendor == "sqlite":
        return _SQLITE_INSTALL
    raise NotImplementedError(f"the events feed on {vendor}")


def uninstall_sql(vendor: str) -> list[str]:
    if vendor == "postgresql":
        return _PG_UNINSTALL
    if vendor == "sqlite":
        return _SQLITE_UNINSTALL
    raise NotImplementedError(f"the events feed on {vendor}")
