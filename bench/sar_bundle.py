"""Benchmark: a SAR bundle of 500 records over 8 agencies (about 100 pages).

    .venv/bin/python -m bench.sar_bundle [--records 500] [--agencies 8]

Measures, in the same run, (1) the worker building the whole bundle (records read from
SQLite, cover letter, index and sections rendered as PDF/UA-1 in the bounded child process,
the JSON/CSV zip, the page count) and (2) one bare WeasyPrint ``write_pdf()`` of the same
HTML. Each runs in its own process so that its peak memory (max RSS) is its own. Target
(DESIGN §7): bundle time at most 1.2 times the bare call, peak under 400 MB.
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing
import resource
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

SENTENCE = ("the caller reported that a group gathered outside the flats again and shouted "
            "at residents; an officer attended, spoke to two people and gave advice; the "
            "housing officer will write to the tenants and the case stays open for review")
WORDS = SENTENCE.split(" ")


def _text(i: int) -> str:
    words = [WORDS[(i * 7 + k) % len(WORDS)] for k in range(80)]
    return f"Entry {i}. " + " ".join(words).capitalize() + "."


def _prepare(folder: Path, records: int, agencies: int) -> tuple[str, str]:
    """A migrated SQLite database with one request whose tasks hold the records."""
    from consent.demo import AGENCIES
    from consent.demo import seed as seed_demo
    from portal.app import create_app
    from portal.audit import Actor
    from portal.config import Config
    from portal.database import get_database, transaction
    from portal.migrate import upgrade
    from portal.reference import operations
    from sar import operations as ops

    url = f"sqlite:///{folder / 'bench.sqlite3'}"
    config = Config(env="testing", database_url=url, instance_path=str(folder),
                    secret_key="bench-" + "x" * 40, log_level="WARNING")
    app = create_app(config)
    upgrade(get_database(app).engine)
    actor = Actor("system", "bench")
    with app.app_context(), transaction(get_database(app).sessionmaker) as session:
        seed_demo(session)
        slugs = [slug for slug, _n, _k in AGENCIES][:agencies]
        subject = None
        for n, slug in enumerate(slugs):
            agency = operations.agency_by_slug(session, slug)
            new = None if subject else operations.NewSubject(
                given_name="Bench", family_name="Subject", preferred_language="en")
            holding, _ = operations.put_holding(
                session, agency.id, f"BENCH-{n}", categories=["contact-details"],
                since=dt.date(2025, 1, 1), actor=actor, new_subject=new, subject_id=subject,
                reviewed=True)
            subject = holding.subject_id
        assert subject is not None
        sar = ops.file_request(session, ops.NewRequest(
            requester_name="Bench Subject", requester_email="bench@example.org",
            subject_name="Bench Subject", identity_method="in-person"), actor=actor,
            today=dt.date.today())
        ops.verify_identity(session, sar, subject_id=subject, staff_id=None,
                            method="in-person", note="Benchmark: identity taken as seen.",
                            today=dt.date.today(), actor=actor)
        per = records // len(sar.tasks)
        extra = records - per * len(sar.tasks)
        i = 0
        for t, task in enumerate(sar.tasks):
            batch = []
            for _ in range(per + (1 if t < extra else 0)):
                i += 1
                batch.append(ops.NewRecord(f"REC-{i}", "case-note", f"Case note {i}",
                                           _text(i), occurred_on=dt.date(2025, 1, 1)
                                           + dt.timedelta(days=i % 300)))
            ops.supply_records(session, task, batch, actor=actor)
        bundle = ops.request_bundle(session, sar, staff_id=None, actor=actor)
        bundle_id = str(bundle.id)
    return url, bundle_id


def _app(url: str, folder: str) -> Any:
    from portal.app import create_app
    from portal.config import Config

    return create_app(Config(env="testing", database_url=url, instance_path=folder,
                             secret_key="bench-" + "x" * 40, log_level="WARNING"))


def _peak_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def _bundle_child(conn: Connection, url: str, folder: str) -> None:
    import uuid

    from portal.database import get_database
    from sar import worker
    from sar.models import SarBundle

    app = _app(url, folder)
    with app.app_context():
        factory = get_database(app).sessionmaker
        started = time.perf_counter()
        state = worker.run_once(factory)
        elapsed = time.perf_counter() - started
        with factory() as session:
            job = session.query(SarBundle).one()
            pages, error = job.pages, job.error
            pdf_size = len(job.pdf or b"")
            zip_size = len(job.archive or b"")
            job_id = uuid.UUID(str(job.id))
    conn.send({"state": state, "seconds": elapsed, "pages": pages, "error": error,
               "pdf_bytes": pdf_size, "zip_bytes": zip_size, "job": str(job_id),
               "worker_mb": _peak_mb(resource.RUSAGE_SELF),
               "renderer_mb": _peak_mb(resource.RUSAGE_CHILDREN)})


def _html_child(conn: Connection, url: str, folder: str) -> None:
    from portal.database import get_database
    from sar import bundle as bundle_module
    from sar.models import SarBundle

    app = _app(url, folder)
    with app.app_context(), get_database(app).sessionmaker() as session:
        job = session.query(SarBundle).one()
        conn.send(bundle_module.html(session, job.request))


def _bare_child(conn: Connection, html: str, variant: str | None = None) -> None:
    from weasyprint import HTML

    from portal.pdf import STATIC_PREFIX, StaticOnlyFetcher

    started = time.perf_counter()
    pdf = HTML(string=html, base_url=STATIC_PREFIX,
               url_fetcher=StaticOnlyFetcher()).write_pdf(pdf_variant=variant)
    elapsed = time.perf_counter() - started
    conn.send({"seconds": elapsed, "pdf_bytes": len(pdf),
               "peak_mb": _peak_mb(resource.RUSAGE_SELF)})


def _run(target: Any, *args: Any) -> Any:
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    process = ctx.Process(target=target, args=(child, *args))
    process.start()
    child.close()
    result = parent.recv()
    process.join()
    return result


def main() -> None:
    """Prepare the data, run both measurements, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=500)
    parser.add_argument("--agencies", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        url, _bundle_id = _prepare(folder, args.records, args.agencies)
        html = _run(_html_child, url, str(folder))
        bare = _run(_bare_child, html)
        # For the record: what the PDF/UA-1 variant alone costs in the same call.
        bare_ua = _run(_bare_child, html, "pdf/ua-1")
        built = _run(_bundle_child, url, str(folder))
    if built["state"] != "built":
        raise SystemExit(f"bundle failed: {built['error']}")
    peak = max(built["worker_mb"], built["renderer_mb"])
    ratio = built["seconds"] / bare["seconds"]
    print(f"records={args.records} agencies={args.agencies} pages={built['pages']}")
    print(f"bare WeasyPrint write_pdf: {bare['seconds']:.2f} s, peak {bare['peak_mb']:.0f} MB")
    print(f"bare WeasyPrint write_pdf(pdf_variant='pdf/ua-1'): {bare_ua['seconds']:.2f} s, "
          f"peak {bare_ua['peak_mb']:.0f} MB")
    print(f"bundle (worker, PDF/UA-1 + zip): {built['seconds']:.2f} s, "
          f"worker peak {built['worker_mb']:.0f} MB, renderer peak "
          f"{built['renderer_mb']:.0f} MB; pdf {built['pdf_bytes'] // 1024} kB, "
          f"zip {built['zip_bytes'] // 1024} kB")
    print(f"ratio {ratio:.2f} (target <= 1.2); peak {peak:.0f} MB (target < 400) -> "
          f"{'PASS' if ratio <= 1.2 and peak < 400 else 'FAIL'}")


if __name__ == "__main__":
    main()
