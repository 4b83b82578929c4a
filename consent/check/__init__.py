"""The consent check: facts from a per-process cache and one read, decisions committed together.

Why it is built this way (docs/performance.md has the design decisions and the latest figures):

- The reference data a check needs (API keys, agencies, purposes, categories, agreements,
  notice coverage) changes rarely, so each process keeps it in memory. Database triggers bump
  ``reference_generation`` on every change to those tables, and every check reads the
  generation in the same statement as the person's consent events. A changed generation
  reloads the cache before the answer is decided, so a revoked key, a retired agreement or a
  republished notice takes effect on the very next check, in every process.
- The person's facts come from one read, outside any write transaction (SQLite readers then
  do not queue behind the writer; PostgreSQL reads without a transaction block).
- Decisions and their audit entries are committed together with the other checks of the
  process waiting at that moment, in one transaction (group commit, leader and followers). A
  check is answered only after the transaction holding its decision has committed
  (invariant 3); if the commit fails, every check in it answers 503 deny (invariant 2).
- On SQLite, copying the write-ahead log back into the database (a checkpoint) is done after
  an answer has been sent, outside the writers' lock, instead of inside whichever commit
  crossed SQLite's threshold while every other process waited for it.

The modules: ``cache`` (the reference data, per process), ``read`` (the person's facts, one
statement), ``commit`` (group commit), ``write`` (the group's statements: its audit entries
through ``portal.audit.Appender``, its decisions linked to them), ``service`` (answering).
"""
