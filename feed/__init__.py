"""The events feed: one ordered log of everything that happened (SPEC §7).

Every app records its audit facts here, in the transaction that writes the
fact (`feed.record`); consumers follow it by cursor (`feed.selectors.read_feed`,
`GET /api/v1/events`), and webhooks will be delivered from it. The feed imports
no other app of the product: they all depend on it, never the reverse.

Positions: nothing skipped under concurrency
--------------------------------------------
`feed_event.id` is handed out at INSERT, and transactions commit in another
order: a reader following ids passes id 12 while id 11 is still uncommitted,
and never sees 11 when it commits a moment later. So the feed is read by
`position`, assigned at COMMIT, in commit order:

* On PostgreSQL a DEFERRABLE INITIALLY DEFERRED constraint trigger (AFTER
  INSERT, FOR EACH ROW) runs when the writing transaction commits. Its first
  firing in a transaction takes `pg_advisory_xact_lock(<feed key>)` and gives
  every unpositioned row of the transaction a position from the
  `feed_position` sequence, in id (= insert) order, with one UPDATE (the
  rows with a null position that it can see are exactly its own: every
  committed row got its position at its commit). Later firings in the same
  transaction see from a transaction-local setting (the highest id already
  positioned) that their row is done; rows inserted after that (following a
  `SET CONSTRAINTS ... IMMEDIATE`) are positioned by the next firing.
* The lock is held until the transaction ends, and PostgreSQL makes a
  committing transaction visible before it releases its locks. So whoever
  takes the lock next, and gets higher positions, commits after this one is
  visible: any snapshot that sees position N sees every position below N that
  will ever exist. A reader following positions never passes an event that
  commits later. (Positions can have gaps, from rolled-back commits; they are
  never reordered.)
* The trigger also sends `pg_notify('arcadia_feed', <highest position>)`,
  delivered at commit; long polling listens for it.
* A partial index on `id WHERE position IS NULL` holds only in-flight rows,
  so the commit-time UPDATE finds its rows in a tiny index.
* SQLite has a single writer, so ids are already in commit order: a trigger
  sets `position = id` after each insert.
* A transaction that reads the feed before committing would not see its own
  events: `read_feed` first runs the deferred trigger for them (`SET
  CONSTRAINTS ... IMMEDIATE`, then DEFERRED again). That takes the feed lock
  until the transaction ends, so a writing transaction should read last.
  This is also what lets ordinary (rolled-back) tests read the feed.

Append-only, in the database (feed/sql.py): a trigger refuses every DELETE
and every UPDATE except the commit-time trigger setting a null position once
(everything else unchanged, under a transaction-local flag only that trigger
sets), and an INSERT that brings its own position. The one sanctioned delete
is retention: `feed_watermark.pruned_through` only rises, and only events at
or below it may be deleted, so pruning raises it first, in the same
transaction. TRUNCATE (the test runner's flush) is not affected.

The cost of the commit-time lock: the lock is held through the commit's WAL
flush, so feed writers' commits cannot share a flush (group commit); each
pays its own, in turn, and throughput is about one commit per (flush + the
trigger's UPDATE). Measured by benchmarks/bench_feed.py (16 writers, one
event per transaction, synchronous_commit on; PostgreSQL 15 on a 2-core VM
shared with other work; 3 runs x 8 s per mode in each of three sessions):
    with the trigger    512-2,119 events/s per run (session medians 1,706,
                        907, 805); COMMIT p50 6-28 ms, p99 19-61 ms
    without it          4,423-4,862 events/s (medians 4,435, 4,801, 4,641);
                        COMMIT p50 1.3-1.5 ms, p99 9-14 ms
so 0.17-0.38x the throughput (session medians). The spread is CPU
contention: a lock holder that loses its CPU mid-commit stalls every feed
writer behind it (the best figures come from the quietest minutes).
More events per transaction cost nearly nothing more (one lock, one UPDATE
per transaction); the control plane's facts arrive orders of magnitude below
these rates.

Reading
-------
`read_feed` is one query per page: the events after the cursor (position
order, LIMIT n + 1 for `has_more`) and the retention watermark in the same
statement, so a concurrent prune either came before the read (410) or did not
touch what it read. Tenant and deployment filters walk (tenant_id, position)
and (deployment_id, position) indexes. `types` entries are exact types or
prefixes ending in `*`, expanded against `EVENT_TYPES`; an entry that matches
no type is an error, not a filter that silently never matches.

Throughput (benchmarks/bench_feed.py, 100,000 events, pages of 1,000; same
VM, medians of 3 runs, two sessions):
    read_feed                       58,000-94,000 events/s
    raw SQL scan of the same pages  100,000-131,000 events/s (read_feed 0.58-0.72x)
    read_feed + the response body   48,000-56,000 events/s
    one HTTP consumer (gunicorn)    32,000 events/s (client JSON decoding included)
The page carries `data` as the stored JSON text and the route embeds it as is
(feed.envelope), and the page query loads timestamps with psycopg's C loader:
decoding, re-encoding and Django's Python timestamp loader were most of the
cost of a page.

Cursors (feed.cursor) are base64url("1:<position>"): "I have seen everything
up to here". No cursor starts at the oldest retained event; `now` at the head
(the highest committed position: whatever commits later is above it).

Retention: events are kept `ARCADIA_EVENT_RETENTION_DAYS` (default 90);
`manage.py prune_events` deletes the old prefix of the feed in batches and
raises the watermark; a cursor below the watermark answers 410
`cursor_expired` (its consumer must start again and reconcile).

Long polling (feed.waiting)
---------------------------
`wait=S` (0-30) holds a request with nothing to read until an event commits
or S seconds pass. The request holds a worker thread, not a database
connection: it closes its Django connection before it waits (the next read
opens one; behind PgBouncer that is nearly free), so a thousand waiting
consumers do not need a thousand PostgreSQL backends. Each process has one
listener thread with one dedicated connection doing `LISTEN arcadia_feed`
(started lazily, reconnecting with backoff, a daemon); it wakes the waiting
requests through a `threading.Condition` when the notified position passes
the one they last saw, and they read again. SQLite polls every 200 ms. A
request already inside a transaction does not wait (it would hold the
transaction open while it sleeps).

Sizing: run gunicorn's gthread worker (`-k gthread`). Each waiting request
holds one thread, so a set-up serves `workers x threads` concurrent
requests, waiting or not; e.g. `-w 4 --threads 64` serves up to ~240
waiting consumers while keeping 16 threads for other traffic. Size threads
per worker for (expected consumers / workers) plus the normal load; a
waiting thread costs memory, not CPU, and database connections are only
opened by threads that are reading. Each worker adds one listener
connection. (With the sync worker a waiting request blocks its whole
worker, and a 30 s wait meets gunicorn's default 30 s `--timeout`.)

A transaction-pooling PgBouncer cannot carry LISTEN: point the app (or at
least the listener) at a session-mode pool or at PostgreSQL directly;
otherwise waits are not woken and end after S seconds (nothing is lost: the
next read finds the events).

Commit-to-consumer latency (bench_feed.py: gunicorn gthread 2 workers x 16
threads, 4 consumers long-polling with wait=30, 16 writers committing one
event at a time with 0-50 ms pauses, 177-437 events/s, measured from the
writer's COMMIT returning to the consumer holding the parsed page, which
is sometimes earlier: the commit is visible before its acknowledgement
arrives; three sessions): p50 9-13 ms, p99 61-75 ms, max 138-333 ms
(target p99 < 1 s).
"""
