"""HTTP API under load: live reads, a baseline checkout against this one, side by side (issue 14).

For each checkout (a folder with its own ``.venv``): a fresh PostgreSQL schema, migrated and
filled by that checkout's own ``trust-ledger demo`` (the same pool, months and seed), then its
``trust-ledger serve`` on a loopback port, then ``wrk`` (``apt-get install wrk``): N connections
reading the deal's live balances (``GET /deals/{deal}/balances``) for D seconds. Rounds alternate
baseline, change, baseline, change, ... on the same machine; each round reports requests per
second and latency p50 and p99, and the medians over rounds are printed with the ratio.

When the change's migrations create the application role (``trust_ledger_app``, migration 0004),
its demo and its server connect as that role, as production does.

    python -m benchmarks.api_load --baseline /work/wt/base --change . [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import sqlalchemy as sa

from events import db

TOKEN = "load-test-token-0123456789"
DEAL = "byd_2021_2"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _app_role_exists(admin_url: str) -> bool:
    engine = sa.create_engine(admin_url)
    with engine.connect() as conn:
        found = conn.exec_driver_sql(
            "SELECT 1 FROM pg_roles WHERE rolname = 'trust_ledger_app'"
        ).scalar()
    engine.dispose()
    return bool(found)


def prepare(checkout: Path, base_url: str, name: str, loans: int, months: int) -> str:
    """A schema filled by ``checkout``'s demo; the URL its server should use."""
    admin = sa.create_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {name} CASCADE")
        conn.exec_driver_sql(f"CREATE SCHEMA {name}")
    admin.dispose()
    url = f"{base_url}?options=-csearch_path%3D{name}"
    cli = str(checkout / ".venv" / "bin" / "trust-ledger")
    subprocess.run([cli, "--db", url, "db", "upgrade"], check=True, capture_output=True)
    migrations = checkout / "migrations" / "versions"
    if any(p.name.startswith("0004") for p in migrations.iterdir()) and _app_role_exists(url):
        url = sa.make_url(url).set(username="trust_ledger_app").render_as_string(False)
    with tempfile.TemporaryDirectory() as out:
        subprocess.run(
            [cli, "--db", url, "demo", "--deal", "004", "--loans", str(loans), "--months",
             str(months), "--out", out],
            check=True, capture_output=True, cwd=out,
        )  # fmt: skip
    return url


@contextmanager
def serving(checkout: Path, url: str, keys: Path) -> Iterator[int]:
    port = _free_port()
    cli = str(checkout / ".venv" / "bin" / "trust-ledger")
    proc = subprocess.Popen(
        [cli, "--db", url, "serve", "--keys", str(keys), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{checkout}: the server did not start")
            time.sleep(0.2)
        r = httpx.get(
            f"http://127.0.0.1:{port}/deals/{DEAL}/balances",
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        r.raise_for_status()
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=30)


_UNIT = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text.strip()).groups()  # type: ignore[union-attr]
    return float(number) * _UNIT[unit]


def load(port: int, connections: int, seconds: int) -> tuple[float, float, float]:
    """(requests per second, p50 ms, p99 ms) of ``wrk`` over the live balances."""
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "10s",
         "-H", f"Authorization: Bearer {TOKEN}",
         f"http://127.0.0.1:{port}/deals/{DEAL}/balances"],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"\s50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"\s99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    if re.search(r"Non-2xx or 3xx responses: (\d+)", out):
        raise RuntimeError(f"errors under load:\n{out}")
    return rps, p50, p99


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--baseline", type=Path, required=True)
    ap.add_argument("--change", type=Path, default=Path("."))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--connections", type=int, default=50)
    ap.add_argument("--seconds", type=int, default=30)
    ap.add_argument("--loans", type=int, default=400)
    ap.add_argument("--months", type=int, default=6)
    args = ap.parse_args()
    with db.postgres_server("TRUST_LEDGER_BENCH_PG") as base, tempfile.TemporaryDirectory() as tmp:
        keys = Path(tmp) / "keys.txt"
        keys.write_text(f"{TOKEN} loadtest auditor\n")
        os.chmod(keys, 0o600)
        urls = {
            "baseline": prepare(
                args.baseline.resolve(), base, "load_base", args.loans, args.months
            ),
            "change": prepare(args.change.resolve(), base, "load_change", args.loans, args.months),
        }
        results: dict[str, list[tuple[float, float, float]]] = {"baseline": [], "change": []}
        for n in range(args.rounds):
            for name, checkout in (("baseline", args.baseline), ("change", args.change)):
                with serving(checkout.resolve(), urls[name], keys) as port:
                    results[name].append(load(port, args.connections, args.seconds))
                rps, p50, p99 = results[name][-1]
                print(f"round {n + 1} {name:<8}: {rps:8.1f} req/s  p50 {p50:7.1f} ms  "
                      f"p99 {p99:7.1f} ms", flush=True)  # fmt: skip
        med = {
            k: [statistics.median(x[i] for x in v) for i in range(3)] for k, v in results.items()
        }
        for name, (rps, p50, p99) in med.items():
            print(f"median {name:<8}: {rps:8.1f} req/s  p50 {p50:7.1f} ms  p99 {p99:7.1f} ms")
        b, c = med["baseline"], med["change"]
        print(f"change/baseline: req/s {c[0] / b[0]:.2f}, p50 {c[1] / b[1]:.2f}, "
              f"p99 {c[2] / b[2]:.2f}")  # fmt: skip
        admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            for schema in ("load_base", "load_change"):
                conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        admin.dispose()


if __name__ == "__main__":
    main()
