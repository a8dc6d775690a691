"""Generated batch inputs for examples/northwind.pol: customers, a ledger and requests.

Run: python benchmarks/batch_data.py FOLDER --customers N [--events 10] [--requests 2]
     [--format jsonl|csv|parquet] [--start 2026-11-23] [--seed 1]

Customers get zones (including ones whose clocks change in the cycle), owners, statuses and
opt-outs; each has ``--events`` ledger rows in the 60 days before the cycle (mostly sent
contacts, some planned, some events) and ``--requests`` requests from several teams in the
cycle's week. The same seed gives the same files.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
from typing import Any

import orjson

UTC = dt.timezone.utc
ZONES = ("Europe/London", "America/New_York", "America/Chicago", "Europe/Berlin", "Australia/Sydney", "Asia/Kolkata")
TEAMS = ("private_banking", "wealth_management", "cards", "collections", "growth", "service")
CHANNELS = ("email", "sms", "phone", "letter", "push")
PURPOSES = ("marketing", "servicing", "debt", "transactional")
STATUSES = ("active",) * 8 + ("dormant", "in_collections")


def iso(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def generate(customers: int, events: int = 10, requests: int = 2, start: dt.date = dt.date(2026, 11, 23),
             seed: int = 1) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """(customer rows, ledger rows, request rows)."""
    rng = random.Random(seed)
    cycle = dt.datetime(start.year, start.month, start.day, tzinfo=UTC)
    people, ledger, asks = [], [], []
    serial = 0
    for n in range(customers):
        ident = f"c{n:07d}"
        person: dict[str, Any] = {"id": ident, "timezone": rng.choice(ZONES), "status": rng.choice(STATUSES),
                                  "owner": rng.choice(TEAMS)}
        if rng.random() < 0.05:
            person["do_not_call"] = True
        if rng.random() < 0.1:
            person["opted_out"] = [rng.choice(CHANNELS)]
        if rng.random() < 0.05:
            person["age"] = 17
        people.append(person)
        for _ in range(events):
            at = cycle - dt.timedelta(minutes=rng.randrange(1, 60 * 24 * 60))
            if rng.random() < 0.03:
                ledger.append({"customer": ident, "at": iso(at), "event": rng.choice(("complaint", "bereavement"))})
                continue
            row = {"customer": ident, "at": iso(at), "channel": rng.choice(CHANNELS), "purpose": rng.choice(PURPOSES),
                   "team": rng.choice(TEAMS), "status": "planned" if rng.random() < 0.05 else "sent"}
            if row["channel"] == "phone" and rng.random() < 0.5:
                row["outcome"] = rng.choice(("delivered", "conversation", "no_answer"))
            ledger.append(row)
        for _ in range(requests):
            serial += 1
            at = cycle + dt.timedelta(minutes=rng.randrange(0, 60 * 24 * 7))
            ask: dict[str, Any] = {"id": f"r{serial:08d}", "customer": ident, "team": rng.choice(TEAMS),
                                   "channel": rng.choice(CHANNELS), "purpose": rng.choice(PURPOSES), "at": iso(at)}
            if rng.random() < 0.2:
                ask["priority"] = rng.randrange(1, 4)
            asks.append(ask)
    return people, ledger, asks


def write(rows: list[dict[str, Any]], path: str) -> None:
    kind = os.path.splitext(path)[1]
    if kind == ".jsonl":
        with open(path, "wb") as out:
            out.write(b"".join(orjson.dumps(r) + b"\n" for r in rows))
        return
    import pyarrow as pa

    names = list(dict.fromkeys(k for r in rows for k in r))
    if kind == ".csv":
        import pyarrow.csv as pacsv

        columns = {n: [(";".join(v) if isinstance(v, list) else None if v is None else str(v).lower()
                        if isinstance(v, bool) else str(v)) for v in (r.get(n) for r in rows)] for n in names}
        pacsv.write_csv(pa.table(columns), path)
        return
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pydict({n: [r.get(n) for r in rows] for n in names}), path)


def write_all(folder: str, customers: int, fmt: str = "jsonl", **options: Any) -> dict[str, str]:
    """Write the three files into ``folder``; their paths by role."""
    os.makedirs(folder, exist_ok=True)
    people, ledger, asks = generate(customers, **options)
    paths = {role: os.path.join(folder, f"{role}.{fmt}") for role in ("customers", "ledger", "requests")}
    for role, rows in (("customers", people), ("ledger", ledger), ("requests", asks)):
        write(rows, paths[role])
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder")
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--events", type=int, default=10)
    parser.add_argument("--requests", type=int, default=2)
    parser.add_argument("--format", choices=("jsonl", "csv", "parquet"), default="jsonl")
    parser.add_argument("--start", type=dt.date.fromisoformat, default=dt.date(2026, 11, 23))
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print(write_all(args.folder, args.customers, args.format, events=args.events, requests=args.requests,
                    start=args.start, seed=args.seed))


if __name__ == "__main__":
    main()
