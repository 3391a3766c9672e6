"""Signed webhooks, delivered from the events feed (SPEC §7 "Webhooks").

The app imports `arcadia_cloud` and `feed` only: every fact reaches it
through the feed, never through the app that wrote it.

Rows (webhooks.models)
----------------------
* `WebhookEndpoint`: a tenant's (or, without a tenant, every tenant's: a
  platform admin's) URL, type patterns (feed patterns, `resource.*`; none =
  every type), enabled / disabled_reason, and `start_position`, the feed head
  when it was created or re-enabled: it receives what commits after that.
* `EndpointSecret`: `whsec_` + base64 of 32 random bytes. Rotation adds one
  and gives the current ones `expires_at` = now + 24 h; every unexpired
  secret signs, so a rotation sends two `v1,` signatures and a receiver with
  either secret verifies. A secret is answered once (creation, rotation).
* `Delivery`: one per (endpoint, event), unique. The event is named by its
  feed id and position, with its deployment and type copied (no foreign
  key: the feed is append-only and pruned on its own schedule; a delivery
  whose event was pruned fails).
* `DispatchCursor`: one row, the feed position up to which deliveries exist.

The outbox
----------
The feed is the transactional outbox: a fact and its feed event commit in
one transaction (a rolled-back fact has no event), and the event's position
is assigned at commit so that a reader following positions never passes an
event that commits later (feed package docstring). `dispatch.dispatch`
follows the feed from the cursor exactly so, and creates the deliveries of
up to 5,000 events in ONE INSERT ... SELECT (every enabled endpoint whose
tenant matches, or platform-wide; whose patterns select the type; created
before the event), skipping pairs that exist, and moves the cursor in the
same transaction: every committed event gets its deliveries exactly once.
One dispatcher at a time (transaction-scoped advisory lock); creating,
re-enabling, deleting an endpoint and replaying take the same lock, so an
endpoint is either seen by a dispatch or starts after it.

The worker (`manage.py deliver_webhooks`, webhooks.worker)
----------------------------------------------------------
One main thread owns the database connection; `--concurrency` threads send.
Each loop: write the finished attempts (one transaction), dispatch if the
feed moved, claim due deliveries, hand them to the threads. It sleeps on one
queue fed by finished attempts and by LISTEN on `arcadia_feed` (every
commit with events) and `arcadia_webhooks` (deliveries made due elsewhere),
so an idle worker costs no CPU and starts within a second of a commit
(tens of milliseconds in the tests); SQLite polls every second.

* Claim: one statement, `FOR UPDATE SKIP LOCKED` over due pending rows
  (soonest first), setting a 60 s lease (`next_attempt_at` = `leased_until`
  = now + 60 s) and counting the attempt. Two workers never claim one row;
  a worker killed mid-attempt leaves a lease that ends, and the delivery is
  due again (same `webhook-id`). A worker sends only within 40 s of its
  claim and each attempt ends within 10 s, so an attempt never outlives its
  lease: one attempt is never sent twice at the same time.
* Per-deployment order per endpoint: of one (endpoint, deployment) lane only
  the oldest pending delivery is due; the dispatcher inserts the others with
  no `next_attempt_at`, and whoever finishes a delivery of the lane
  (succeeded, or given up) releases the next one, in the same transaction.
  Finishers hold the dispatcher's lock in shared mode, so a delivery
  inserted as waiting either sees the one before it pending or is released
  by it. The claim also checks that nothing older of the lane is pending
  (replays and manual retries resend old events). Deliveries without a
  deployment are unordered; other deployments are never held up.
* Send: POST of the CloudEvents envelope, byte for byte what GET /events
  serves (`feed.envelope.envelope_json`), with `webhook-id` (`evt_<n>`),
  `webhook-timestamp` and `webhook-signature` made by the `standardwebhooks`
  library (webhooks.signing). urllib3, keep-alive pools per host and
  address, 10 s timeout (connect, and each read), no redirects, no retries
  of its own; response bodies kept to 1 KiB.
* Outcomes (written only if the row is still this claim's: same attempts
  count, still pending): 2xx succeeded. Anything else, a timeout, a refused
  connection or an SSRF refusal is retried on the schedule of
  webhooks.policy (about 5 s, 5 min, 30 min, 2 h, 5 h, then every 10 h,
  ±20%) until an attempt fails 3 days after the delivery was scheduled, then
  failed; 429 and 503 honour Retry-After (seconds or an HTTP date, within
  1 s - 10 h). 410 disables the endpoint; so do 3 days in which every
  attempt failed (`failing_since`); disabling fails the endpoint's pending
  deliveries and records a `webhook_endpoint.disabled` feed event, which the
  owner's other endpoints receive.
* SIGTERM / SIGINT: stop claiming; attempts in flight finish and are
  written; claimed but unsent deliveries are released (due now, the attempt
  uncounted); exit 0.
* The worker's writes commit asynchronously (`synchronous_commit = off`):
  a database crash may lose the last fraction of a second of them, which
  only re-sends (at least once) or re-dispatches (with its cursor).

SSRF (webhooks.ssrf)
--------------------
https:// only, to names whose every address is public (not loopback,
private, link-local, CGNAT, multicast, reserved, metadata), checked at
registration (422 on `url`) and at every delivery, where the connection goes
to the address just checked (DNS rebinding cannot redirect it; TLS still
verifies the name). `ARCADIA_WEBHOOK_ALLOW_HOSTS` exempts hosts (and allows
http://) for tests and development.

Throughput (benchmarks/bench_webhooks.py: 2 workers x 8 threads to a
loopback `http.server` receiver, in its own process, that verifies every
request with `standardwebhooks`; 10,000 events over 500 deployments per run,
3 runs; PostgreSQL 15 on a 2-core VM shared with other work, load average
5-8): 337, 728 and 770 deliveries/s (median 728; target 500), every request
verified, each worker sending half. Plain POSTs of the same body from one
process with the same client, no database and no signing, in the same runs:
1,511, 2,291 and 2,468/s (ratio 0.22-0.32; the slow run is a burst of the
other work, which slowed its baseline too). The receiver and PostgreSQL share
the two cores with the workers; per delivery the worker writes three rows
(the claim, the outcome, the next of its lane released) and does the HTTP
exchange. Before the lanes (every pending delivery due, the claim checking
each for an older one pending), two workers managed about 250/s: the claim
waded through every deployment's backlog.
"""
