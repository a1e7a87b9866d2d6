"""The outbound queue (R20, R21): enqueue, deliver with retries, and report failures.

`outbound.enqueue` stores and DKIM-signs; `worker.QueueWorker` delivers (routes.py
picks the hosts, client.py speaks SMTP); dsn.py writes RFC 3464 reports; admin.py
backs `postfach queue`. The tables live in `postfach.store.queue`.

The queue does not import `postfach.smtp` (SMTP enqueues, so it would be a
loop): the xtext and From: helpers both use are in `postfach.message`.
"""
