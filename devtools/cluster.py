"""The distributed profile on one machine: Airflow with CeleryExecutor, for development and tests.

`python -m devtools.cluster up|down|status|trigger [--state data/cluster]` (`make cluster`,
`make cluster-down`). `up` starts, each in its own process group with a pid file and a log in
the state folder: PostgreSQL (Airflow's metadata database and Celery's result backend in
database `airflow`, the shared catalog `HPT_CATALOG` in database `hpt`), Redis (Celery's
broker), an S3-compatible object store (moto in server mode, behind a TCP proxy that can play
an outage) holding the warehouse's data, the demo universe's web server, then the Airflow
scheduler, DAG processor and API server, two Celery workers (`--workers N`, each with
`--concurrency K` task slots; each process started again when it fails, `devtools.supervise`)
and the dashboard, all on loopback ports. `worker-1` is the warehouse host: it alone serves
the queue `hpt_warehouse` (the registry sync, the publish) and keeps the catalog file
`HPT_DB`; the other workers and the dashboard are given an `HPT_DB` of their own, which
they must never create. It returns once the API server answers, the scheduler and DAG processor
report healthy and every worker is ready.
`down` stops every process group (and what its processes started), checks that none
survives, and may be run any number of times. `object_store_down` and `restart_postgres`
play faults. docs/cluster.md describes it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PG_BIN = Path("/usr/lib/postgresql/15/bin")
STATE = Path("data/cluster")
WORKERS = ("worker-1", "worker-2")
# The worker that runs the tasks which open the catalog file (`HPT_AIRFLOW_WAREHOUSE_QUEUE`).
WAREHOUSE_HOST = WORKERS[0]
WAREHOUSE_QUEUE = "hpt_warehouse"
CATALOG_DATABASE = "hpt"  # the shared catalog's database, beside Airflow's `airflow`
# What a published snapshot serves per facility — rows, dollars, codes — to compare the
# warehouses of two runs (the cluster's tests and bench_cluster.py).
CONTENTS = {
    "charges": "SELECT facility_id, count(*), round(sum(negotiated_dollar), 2), "
    "round(sum(gross_charge), 2) FROM standard_charges GROUP BY ALL ORDER BY ALL",
    "codes": "SELECT facility_id, count(DISTINCT (code_type, code)), count(*) "
    "FROM standard_charge_codes GROUP BY ALL ORDER BY ALL",
    "files": "SELECT facility_id, status FROM files ORDER BY ALL",
    "summary": "SELECT facility_id, rates, codes FROM facility_summary ORDER BY ALL",
}
BUCKET = "hpt"
DAG_ID = "hpt_nightly"
# The servers the others use: `down` stops the Airflow processes, the dashboard and the demo
# server together, then these. `s3-proxy` is the object store's endpoint, in front of `s3`.
SERVERS = ("s3-proxy", "s3", "redis", "postgres")
ORDER = ("dashboard", *WORKERS, "scheduler", "dag-processor", "api-server", "demo", *SERVERS)
# Fixed loopback ports of `make cluster` (tests take free ones), below Linux's ephemeral range
# (32768-60999), where an outgoing connection may hold a port for a while.
PORTS = {"api": 8080, "postgres": 15432, "redis": 16379, "s3": 19000, "s3-backend": 19001,
         "demo": 8765, "dashboard": 8501, "logs": 18793}  # fmt: skip


class ClusterError(RuntimeError):
    """The cluster cannot start (or stop); the message says what and where to look."""


@dataclass(frozen=True)
class Cluster:
    """One cluster's configuration, kept in `<state>/cluster.json` (secrets included, 0600)."""

    state: str
    ports: dict[str, int]
    sources: str
    demo: str = ""  # a demo universe folder served on `ports["demo"]`; empty: none
    dashboard: bool = True
    concurrency: int = 2  # task slots per worker: two workers on two cores
    workers: int = len(WORKERS)  # Celery workers, named worker-1 … worker-N
    env: dict[str, str] = field(default_factory=dict)  # extra settings for every process
    secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    fernet: str = ""

    @property
    def folder(self) -> Path:
        return Path(self.state)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['api']}"

    @property
    def s3_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3']}"

    @property
    def hpt_db(self) -> Path:
        return self.folder / "warehouse" / "hpt.duckdb"

    @property
    def worker_names(self) -> tuple[str, ...]:
        return tuple(f"worker-{n}" for n in range(1, self.workers + 1))

    def host_db(self, name: str) -> Path:
        """`HPT_DB` of a process: the warehouse host's catalog file; for any other a path
        of its own that it must never create (it commits to `HPT_CATALOG`)."""
        if name == WAREHOUSE_HOST:
            return self.hpt_db
        return self.folder / "hosts" / name / "hpt.duckdb"

    def catalog_url(self, database: str = CATALOG_DATABASE) -> str:
        """The shared catalog (`HPT_CATALOG`) in the cluster's PostgreSQL; another `database`
        is a catalog of its own, created on first connect."""
        return f"postgresql://airflow@127.0.0.1:{self.ports['postgres']}/{database}"

    def log(self, name: str) -> Path:
        return self.folder / "logs" / f"{name}.log"

    def aws_env(self) -> dict[str, str]:
        """The standard AWS variables of the object store (what `HPT_STORAGE` reads)."""
        return {
            "AWS_ENDPOINT_URL": self.s3_url,
            "AWS_ACCESS_KEY_ID": "cluster",
            "AWS_SECRET_ACCESS_KEY": "cluster",
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    def reader_env(self) -> dict[str, str]:
        """What a reader of the published snapshots needs: the object store and the shared
        catalog (where the current snapshot is named)."""
        return {**self.aws_env(), "HPT_CATALOG": self.catalog_url()}

    def hpt_env(self) -> dict[str, str]:
        """The pipeline's settings on every worker (and the dashboard); `HPT_DB` is the
        warehouse host's (`_airflow` gives each other worker its own)."""
        return {
            **self.reader_env(),
            "HPT_DB": str(self.hpt_db),
            "HPT_AIRFLOW_WAREHOUSE_QUEUE": WAREHOUSE_QUEUE,
            "HPT_STORAGE": f"s3://{BUCKET}/warehouse",
            # Downloads land on the object store: a worker's disk holds only its scratch.
            "HPT_LANDING": f"s3://{BUCKET}/landing",
            "HPT_WORK_DIR": str(self.folder / "work"),
            "HPT_SOURCES": self.sources,
            "HPT_AIRFLOW_SCHEDULE": "",  # runs are triggered: unpausing starts none
        }

    def airflow_env(self) -> dict[str, str]:
        """Every Airflow process's environment: one configuration, no airflow.cfg needed."""
        database = f"airflow@127.0.0.1:{self.ports['postgres']}/airflow"
        return {
            **os.environ,
            **self.hpt_env(),
            "PATH": f"{BIN}:{os.environ.get('PATH', '')}",
            "PYTHONUNBUFFERED": "1",
            "AIRFLOW_HOME": str(self.folder / "airflow"),
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CORE__PARALLELISM": str(self.concurrency * self.workers),
            "AIRFLOW__CORE__FERNET_KEY": self.fernet,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api_url}/execution/",
            # Transactions Airflow retries on a database error (the DAG processor's sync, the
            # scheduler's run creation) ride out ~20 s of PostgreSQL restarting, not ~2 s.
            "AIRFLOW__DATABASE__MAX_DB_RETRIES": "10",
            # psycopg 3 serves both the sync and the async engine Airflow opens.
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg://{database}",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": f"postgresql+psycopg_async://{database}",
            "AIRFLOW__CELERY__BROKER_URL": f"redis://127.0.0.1:{self.ports['redis']}/0",
            "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql+psycopg://{database}",
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(self.concurrency),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.ports["api"]),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__SECRET_KEY": self.secret,
            # Tokens the API server signs for task processes are checked by it: one secret.
            "AIRFLOW__API_AUTH__JWT_SECRET": self.secret,
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(self.ports["logs"]),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "10",
            **self.env,
        }


def worker_hostname() -> str:
    """The host name Airflow records for a task (`[core] hostname_callable` of the workers):
    the Celery worker's name, so two workers on one machine are told apart."""
    name = os.environ.get("HPT_CLUSTER_WORKER")
    return f"{name}@{socket.getfqdn()}" if name else socket.getfqdn()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _config_path(state: Path) -> Path:
    return state / "cluster.json"


def load(state: Path) -> Cluster | None:
    """The configuration of the cluster in `state`, or None if none was ever started there."""
    path = _config_path(state)
    return Cluster(**json.loads(path.read_text())) if path.exists() else None


def _save(cluster: Cluster) -> None:
    path = _config_path(cluster.folder)
    path.write_text(json.dumps(asdict(cluster), indent=2))
    path.chmod(0o600)


# --- processes -------------------------------------------------------------------------------


def _pid_file(state: Path, name: str) -> Path:
    return state / "run" / f"{name}.pid"


def _start(cluster: Cluster, name: str, args: list[str], env: dict[str, str] | None = None,
           user: str | None = None) -> None:  # fmt: skip
    """Start `args` in a process group of its own, its output in `logs/<name>.log`."""
    log = cluster.log(name)
    with log.open("ab") as out:
        process = subprocess.Popen(
            args,
            env=env or cluster.airflow_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=cluster.folder,
            start_new_session=True,
            user=user,
            group=pwd.getpwnam(user).pw_gid if user else None,
        )
    import psutil

    created = psutil.Process(process.pid).create_time()
    _pid_file(cluster.folder, name).write_text(f"{process.pid} {created}\n")


def _group(state: Path, name: str) -> int | None:
    """The process group of a component if its leader is still the process we started."""
    import psutil

    path = _pid_file(state, name)
    if not path.exists():
        return None
    pid, created = path.read_text().split()
    try:
        if abs(psutil.Process(int(pid)).create_time() - float(created)) < 0.01:
            return int(pid)
    except psutil.NoSuchProcess:
        pass
    return None


def _members(pgid: int) -> list[Any]:
    """The live processes of a group and everything they started (a task supervisor may
    start its task in a session of its own)."""
    import psutil

    found: dict[int, Any] = {}
    for p in psutil.process_iter(["pid", "status"]):
        with contextlib.suppress(psutil.Error):
            if os.getpgid(p.pid) == pgid:
                found[p.pid] = p
                for child in p.children(recursive=True):
                    found[child.pid] = child
    return [p for p in found.values() if _alive(p)]


def _alive(process: Any) -> bool:
    import psutil

    try:
        return bool(process.status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


def kill_component(state: Path, name: str, sig: int = signal.SIGKILL) -> list[int]:
    """Send `sig` to a component's whole group (and descendants); the pids signalled."""
    pgid = _group(state, name)
    if pgid is None:
        return []
    members = _members(pgid)
    for p in members:
        with contextlib.suppress(Exception):
            p.send_signal(sig)
    return [p.pid for p in members]


def _stop(state: Path, names: tuple[str, ...], timeout: float = 20.0) -> list[Any]:
    """Stop components together: the signal to each group, then a wait, then SIGKILL; the
    processes that survived even that."""
    import psutil

    groups = {name: pgid for name in names if (pgid := _group(state, name)) is not None}
    members = []
    for name, pgid in groups.items():
        # PostgreSQL's fast shutdown is SIGINT (SIGTERM waits for every client to leave).
        sig = signal.SIGINT if name == "postgres" else signal.SIGTERM
        for p in _members(pgid):
            with contextlib.suppress(psutil.Error):
                p.send_signal(sig)
                members.append(p)
    psutil.wait_procs(members, timeout=timeout)
    late = [p for pgid in groups.values() for p in _members(pgid)]
    for p in late + [p for p in members if _alive(p)]:
        with contextlib.suppress(psutil.Error):
            p.kill()
    psutil.wait_procs(late, timeout=10)
    survivors = [p for p in [*members, *late] if _alive(p)]
    if not survivors:
        for name in names:
            _pid_file(state, name).unlink(missing_ok=True)
    return survivors


def running_component(state: Path, name: str) -> bool:
    pgid = _group(state, name)
    return pgid is not None and bool(_members(pgid))


def _components(state: Path) -> tuple[str, ...]:
    """ORDER, with the workers past `worker-2` (`--workers N`) after the first two."""
    more = {path.stem for path in (state / "run").glob("worker-*.pid")} - set(WORKERS)
    at = ORDER.index(WORKERS[-1]) + 1
    return (*ORDER[:at], *sorted(more, key=lambda name: int(name.split("-")[1])), *ORDER[at:])


def running(state: Path) -> dict[str, list[int]]:
    """Components of the cluster in `state` with live processes: name → pids."""
    found = {}
    for name in _components(state):
        pgid = _group(state, name)
        if pgid is not None and (members := _members(pgid)):
            found[name] = [p.pid for p in members]
    return found


def down(state: Path = STATE, purge: bool = False) -> None:
    """Stop every component, verify that nothing survived; `purge` deletes the state too."""
    order = _components(state)
    survivors = _stop(state, order[: -len(SERVERS)])  # Airflow, the dashboard, the demo server
    survivors += _stop(state, SERVERS)  # then the servers they use
    if survivors:
        raise ClusterError(f"still running after stopping: {[p.pid for p in survivors]}")
    if purge:
        pgdata = state / "postgres"
        if pgdata.is_symlink():
            shutil.rmtree(pgdata.resolve(), ignore_errors=True)
        shutil.rmtree(state, ignore_errors=True)


# --- faults --------------------------------------------------------------------------------


def _outage_file(state: Path) -> Path:
    return state / "run" / "s3-proxy.down"


def object_store_down(state: Path, down: bool = True) -> None:
    """Make the object store unreachable (its endpoint refuses connections and cuts the open
    ones), or reachable again; moto keeps its data meanwhile."""
    path = _outage_file(state)
    if down:
        path.touch()
    else:
        path.unlink(missing_ok=True)
    time.sleep(0.5)  # the proxy looks every 0.2 s


def restart_postgres(cluster: Cluster, down_for: float = 5.0) -> None:
    """Stop PostgreSQL (fast shutdown: open sessions are cut), wait `down_for` seconds,
    start it again on the same data folder and port; returns once it accepts connections."""
    if survivors := _stop(cluster.folder, ("postgres",)):
        raise ClusterError(f"PostgreSQL still running after its shutdown: {survivors}")
    time.sleep(down_for)
    _postgres(cluster)


# --- start-up --------------------------------------------------------------------------------


def wait_for(what: str, check: Callable[[], Any], timeout: float, log: Path | None = None) -> Any:
    """Poll `check` until it returns something true; the value. Fails with the log's tail,
    at once when the process writing `log` (a component's) has ended."""
    deadline = time.monotonic() + timeout
    state, name = (log.parent.parent, log.stem) if log else (None, "")
    while time.monotonic() < deadline:
        if state and _pid_file(state, name).exists() and not running_component(state, name):
            timeout = 0  # it ended: waiting longer changes nothing
            break
        with contextlib.suppress(OSError, ValueError, KeyError):
            if value := check():
                return value
        time.sleep(0.5)
    tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
    why = f"timed out after {timeout:.0f} s" if timeout else f"{name} stopped"
    raise ClusterError(f"{why} waiting for {what}; {log} ends:\n{tail}")


def _in_use(port: int) -> bool:
    """Whether a server could not listen on the port (as servers do, with SO_REUSEADDR)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def pg_owner() -> str | None:
    """PostgreSQL refuses to run as root: as root, it runs as the `postgres` user."""
    return "postgres" if os.geteuid() == 0 else None


def pg_data(state: Path, owner: str | None) -> Path:
    """The data folder: `<state>/postgres`, or a private folder it links to when the
    state folder is not reachable by the `postgres` user (a root-only temp folder)."""
    link = state / "postgres"
    if link.is_symlink() or link.exists():
        return link.resolve()
    reachable = (
        owner is None
        or subprocess.run(
            ["runuser", "-u", owner, "--", "test", "-x", str(state)], check=False
        ).returncode
        == 0
    )
    if reachable:
        link.mkdir(mode=0o700)
        target = link
    else:
        target = Path(tempfile.mkdtemp(prefix="hpt-cluster-pg-"))
        link.symlink_to(target)
    if owner:
        entry = pwd.getpwnam(owner)
        os.chown(target, entry.pw_uid, entry.pw_gid)
    return target


def _postgres(cluster: Cluster) -> None:
    owner = pg_owner()
    pgdata = pg_data(cluster.folder, owner)
    port = str(cluster.ports["postgres"])
    env = {"PATH": f"{PG_BIN}:/usr/bin:/bin", "LANG": "C.UTF-8"}
    if not (pgdata / "PG_VERSION").exists():
        subprocess.run(
            [str(PG_BIN / "initdb"), "-D", str(pgdata), "-U", "airflow", "--auth=trust",
             "-E", "UTF8", "--no-instructions"],
            check=True, env=env, user=owner, capture_output=True, timeout=120,
        )  # fmt: skip
    # TCP on loopback only (`-k ""`: no socket file, whose path length is limited).
    _start(cluster, "postgres",
           [str(PG_BIN / "postgres"), "-D", str(pgdata), "-p", port, "-h", "127.0.0.1",
            "-k", ""], env=env, user=owner)  # fmt: skip
    ready = [str(PG_BIN / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", port]
    wait_for("PostgreSQL", lambda: subprocess.run(ready, check=False).returncode == 0, 60,
             cluster.log("postgres"))  # fmt: skip
    for database in ("airflow", CATALOG_DATABASE):  # Airflow's, and the shared catalog
        exists = subprocess.run(
            [str(PG_BIN / "psql"), "-h", "127.0.0.1", "-p", port, "-U", "airflow", "-d",
             "postgres", "-tAc", f"SELECT 1 FROM pg_database WHERE datname = '{database}'"],
            check=True, capture_output=True, text=True, env=env,
        ).stdout.strip()  # fmt: skip
        if not exists:
            subprocess.run([str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", port, "-U",
                            "airflow", database], check=True, env=env)  # fmt: skip


def _redis_ping(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
        sock.sendall(b"PING\r\n")
        return sock.recv(64).startswith(b"+PONG")


def _redis(cluster: Cluster) -> None:
    server = shutil.which("redis-server")
    if not server:
        raise ClusterError("redis-server is not installed: `make cluster-servers` installs it")
    folder = cluster.folder / "redis"
    folder.mkdir(exist_ok=True)
    port = cluster.ports["redis"]
    _start(cluster, "redis", [server, "--port", str(port), "--bind", "127.0.0.1", "--dir",
                              str(folder), "--save", "", "--appendonly", "no"])  # fmt: skip
    wait_for("Redis", lambda: _redis_ping(port), 30, cluster.log("redis"))


def _object_store(cluster: Cluster) -> None:
    import requests

    backend = cluster.ports["s3-backend"]
    _start(cluster, "s3", [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(backend)])
    wait_for("the object store", lambda: requests.get(f"http://127.0.0.1:{backend}",
             timeout=5).ok, 60, cluster.log("s3"))  # fmt: skip
    # Clients reach it through a proxy that can play an outage (`object_store_down`).
    _outage_file(cluster.folder).unlink(missing_ok=True)
    _start(cluster, "s3-proxy", [sys.executable, "-m", "devtools.tcp_proxy",
                                 str(cluster.ports["s3"]), str(backend),
                                 str(_outage_file(cluster.folder))])  # fmt: skip
    wait_for("the object store's endpoint", lambda: requests.get(cluster.s3_url, timeout=5).ok,
             30, cluster.log("s3-proxy"))  # fmt: skip
    # moto keeps its data in memory: the bucket is created at every start.
    requests.put(f"{cluster.s3_url}/{BUCKET}", timeout=30).raise_for_status()


def _airflow(cluster: Cluster) -> None:
    env = cluster.airflow_env()
    for args in (["airflow", "db", "migrate"], [sys.executable, "-m", "hpt.airflow_pools"]):
        done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600,
                              check=False, cwd=cluster.folder)  # fmt: skip
        if done.returncode:
            raise ClusterError(f"{' '.join(args)} failed:\n{(done.stdout + done.stderr)[-3000:]}")
    for component in ("scheduler", "dag-processor", "api-server"):
        _start(cluster, component, _supervised(component, ["airflow", component]))
    for name in cluster.worker_names:
        worker_env = {
            **env,
            "HPT_CLUSTER_WORKER": name,
            "HPT_WORK_DIR": str(cluster.folder / "work" / name),  # shares nothing local
            "HPT_DB": str(cluster.host_db(name)),
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "devtools.cluster.worker_hostname",
        }
        # The warehouse host also serves the queue of the tasks that open the catalog file.
        queues = "default" if name != WAREHOUSE_HOST else f"default,{WAREHOUSE_QUEUE}"
        # Task logs are files under AIRFLOW_HOME, read by the API server on this machine:
        # no log server per worker (two would want one port).
        worker = ["airflow", "celery", "worker", "--celery-hostname", f"{name}@%h",
                  "--queues", queues, "--skip-serve-logs"]  # fmt: skip
        _start(cluster, name, _supervised(name, worker), env=worker_env)


def _supervised(name: str, args: list[str]) -> list[str]:
    """`args` started again whenever they fail (`devtools.supervise`), as a service manager
    does: the scheduler and the DAG processor end when they lose the metadata database."""
    return [sys.executable, "-m", "devtools.supervise", name, "--", *args]


def _healthy(cluster: Cluster) -> bool:
    import requests

    started = [path.stem for path in (cluster.folder / "run").glob("*.pid")]
    if dead := sorted(set(started) - set(running(cluster.folder))):
        log = cluster.log(dead[0])
        raise ClusterError(f"{', '.join(dead)} stopped; {log} ends:\n"
                           f"{log.read_text(errors='replace')[-3000:]}")  # fmt: skip
    health = requests.get(f"{cluster.api_url}/api/v2/monitor/health", timeout=5).json()
    parts = ("metadatabase", "scheduler", "dag_processor")
    if any(health[part]["status"] != "healthy" for part in parts):
        return False
    return set(cluster.worker_names) <= workers_ready(cluster)


def workers_ready(cluster: Cluster) -> set[str]:
    """The Celery workers that answer a ping over the broker (their names without host)."""
    from celery import Celery

    app = Celery(broker=f"redis://127.0.0.1:{cluster.ports['redis']}/0")
    try:
        answers = app.control.inspect(timeout=1.0).ping() or {}
    except Exception:  # the broker dropped the connection while starting: not ready yet
        answers = {}
    finally:
        app.close()
    return {name.split("@")[0] for name in answers}


def up(cluster: Cluster, timeout: float = 300.0) -> float:
    """Start every component of `cluster` and wait until it is healthy; the seconds taken."""
    started = time.monotonic()
    state = cluster.folder
    if left := running(state):
        raise ClusterError(f"a cluster is already running in {state}: {sorted(left)}")
    for sub in ("run", "logs", "airflow", "work", "warehouse"):
        (state / sub).mkdir(parents=True, exist_ok=True)
    if previous := load(state):  # the metadata database is encrypted with the first key
        cluster = Cluster(**{**asdict(cluster), "fernet": previous.fernet,
                             "secret": previous.secret})  # fmt: skip
    if not cluster.fernet:
        from cryptography.fernet import Fernet

        cluster = Cluster(**{**asdict(cluster), "fernet": Fernet.generate_key().decode()})
    _save(cluster)
    if taken := [f"{port} ({name})" for name, port in cluster.ports.items() if _in_use(port)]:
        raise ClusterError(f"port(s) in use on 127.0.0.1: {', '.join(taken)}; stop what "
                           "listens there, or start with --free-ports")  # fmt: skip
    try:
        _postgres(cluster)
        _redis(cluster)
        _object_store(cluster)
        if cluster.demo:
            _start(cluster, "demo", [str(BIN / "hpt"), "demo", "serve", cluster.demo,
                                     "--port", str(cluster.ports["demo"])])  # fmt: skip
        _airflow(cluster)
        if cluster.dashboard:  # a reader: the catalog and the object store, no shared file
            _start(
                cluster,
                "dashboard",
                [
                    str(BIN / "hpt"),
                    "dashboard",
                    "--address",
                    "127.0.0.1",
                    "--port",
                    str(cluster.ports["dashboard"]),
                ],
                env={**cluster.airflow_env(), "HPT_DB": str(cluster.host_db("dashboard"))},
            )
        remaining = timeout - (time.monotonic() - started)
        wait_for("the API server, scheduler, DAG processor and the workers",
                 lambda: _healthy(cluster), remaining, cluster.log("api-server"))  # fmt: skip
    except BaseException:
        down(state)
        raise
    return time.monotonic() - started


# --- the REST API ----------------------------------------------------------------------------


class Api:
    """The API server's /api/v2, as the generated `admin` user (JWT from /auth/token)."""

    def __init__(self, cluster: Cluster) -> None:
        import requests

        self.url = cluster.api_url
        passwords = cluster.folder / "airflow" / "simple_auth_manager_passwords.json.generated"
        password = json.loads(passwords.read_text())["admin"]
        token = requests.post(f"{self.url}/auth/token", timeout=30,
                              json={"username": "admin", "password": password})  # fmt: skip
        token.raise_for_status()
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token.json()['access_token']}"

    def __call__(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.session.request(method, f"{self.url}/api/v2{path}", timeout=30, **kwargs)
        if not response.ok:
            raise ClusterError(f"{method} {path}: {response.status_code} {response.text[:300]}")
        return response.json()

    def trigger(self, dag_id: str = DAG_ID) -> str:
        """Unpause the DAG and start a run now; its run id."""
        self("PATCH", f"/dags/{dag_id}", json={"is_paused": False})
        run = self("POST", f"/dags/{dag_id}/dagRuns", json={"logical_date": None})
        return str(run["dag_run_id"])

    def state(self, run_id: str, dag_id: str = DAG_ID) -> str:
        return str(self("GET", f"/dags/{dag_id}/dagRuns/{run_id}")["state"])

    def task_instances(self, run_id: str, dag_id: str = DAG_ID) -> list[dict[str, Any]]:
        found = self("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances",
                     params={"limit": 1000})  # fmt: skip
        return list(found["task_instances"])


# --- command line ----------------------------------------------------------------------------


def _ports(free: bool) -> dict[str, int]:
    return {name: free_port() for name in PORTS} if free else dict(PORTS)


@contextlib.contextmanager
def _reporting() -> Iterator[None]:
    try:
        yield
    except ClusterError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(1) from None


def _demo_universe(folder: Path, port: int) -> Path:
    if not (folder / "sources.csv").exists():
        subprocess.run([str(BIN / "hpt"), "demo", "generate", str(folder), "--port", str(port)],
                       check=True)  # fmt: skip
    return folder / "sources.csv"


def _print_usage(cluster: Cluster, seconds: float) -> None:
    home = cluster.folder.resolve() / "airflow"
    print(f"cluster healthy in {seconds:.0f} s (state {cluster.folder.resolve()})")
    print(f"  Airflow UI and API  {cluster.api_url}  (user admin, password in "
          f"{home}/simple_auth_manager_passwords.json.generated)")  # fmt: skip
    if cluster.dashboard:
        print(f"  dashboard           http://127.0.0.1:{cluster.ports['dashboard']}")
    print(f"  object store (S3)   {cluster.s3_url}  bucket {BUCKET}")
    print(f"  PostgreSQL          127.0.0.1:{cluster.ports['postgres']} (user airflow; databases "
          f"airflow, {CATALOG_DATABASE}: the shared catalog)")  # fmt: skip
    print(f"  Redis               127.0.0.1:{cluster.ports['redis']}")
    if cluster.demo:
        print(f"  demo universe       http://127.0.0.1:{cluster.ports['demo']}")
    print(f"  logs                {cluster.folder.resolve()}/logs/")
    print("Trigger the nightly DAG: unpause and ▶ hpt_nightly in the UI, or "
          f"`{BIN}/python -m devtools.cluster trigger --state {cluster.folder}`.")  # fmt: skip
    print("Stop everything: make cluster-down")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m devtools.cluster", description=__doc__)
    parser.add_argument("command", choices=("up", "down", "status", "trigger"))
    parser.add_argument("--state", type=Path, default=STATE, help="state folder (data/cluster)")
    parser.add_argument("--sources", type=Path, help="source registry (default: demo universe)")
    parser.add_argument("--free-ports", action="store_true", help="free ports, not the fixed ones")
    parser.add_argument("--no-dashboard", action="store_true", help="do not serve the dashboard")
    parser.add_argument("--purge", action="store_true", help="down: delete the state folder too")
    parser.add_argument("--workers", type=int, default=len(WORKERS), help="up: Celery workers (2)")
    parser.add_argument("--concurrency", type=int, default=2, help="up: task slots per worker (2)")
    args = parser.parse_args(argv)
    state: Path = args.state.resolve()
    with _reporting():
        if args.command == "down":
            down(state, purge=args.purge)
            gone = ", deleted" if args.purge else ""
            print(f"cluster in {state}: stopped, no process left{gone}")
        elif args.command == "status":
            alive = running(state)
            for name in _components(state):
                print(f"{name:14} {'running ' + str(alive[name]) if name in alive else '-'}")
            raise SystemExit(0 if alive else 3)
        elif args.command == "trigger":
            if (cluster := load(state)) is None:
                raise ClusterError(f"no cluster in {state}: `make cluster` first")
            run_id = Api(cluster).trigger()
            print(f"triggered {DAG_ID} run {run_id}: {cluster.api_url}/dags/{DAG_ID}/runs/{run_id}")
        else:
            state.mkdir(parents=True, exist_ok=True)
            ports = _ports(args.free_ports)
            demo = ""
            if args.sources:
                sources = args.sources.resolve()
            else:
                folder = state.parent / "demo"
                sources, demo = _demo_universe(folder, ports["demo"]), str(folder.resolve())
            cluster = Cluster(str(state), ports, str(sources), demo,
                              dashboard=not args.no_dashboard, concurrency=args.concurrency,
                              workers=args.workers)  # fmt: skip
            _print_usage(cluster, up(cluster))


if __name__ == "__main__":
    main()
