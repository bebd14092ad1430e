"""Stand-in conftest: the reference's HTTP tests (tests/system/api/ of anmarkoulis/event-sourcing at
38bb025), unmodified, against this service running in `wrangler dev`.

The reference's own conftest builds its app in-process on a Postgres test database. This one gives
every test a fresh local state of the service instead:

- once per session, a template state directory is migrated (`wrangler d1 migrations apply` for every
  D1 binding of the layout: DB, and READ_0..3 under `--env sharded`);
- each test gets a copy of that template as `wrangler dev --persist-to <fresh dir>`, on a free
  loopback port, with PASSWORD_MIN_LENGTH=1 (the reference's fixtures use 7-character passwords).
  The next test's server boots while the current test runs (one ahead), so a test never sees
  another test's state;
- the admin is created through POST /admin/bootstrap/admins (ADMIN_BOOTSTRAP_TOKEN), the regular
  user through POST /v1/users/ as that admin;
- test_root.py and test_ht.py build `fastapi.testclient.TestClient(app)` at import: stand-in modules
  `fastapi.testclient` and `event_sourcing.main` make that an HTTP client on the current test's server.

Environment: REFSUITE_SERVICE (the service's checkout; default: the current directory),
REFSUITE_ENV ("" or "sharded"), REFSUITE_KEEP_LOGS (a directory: each server's output is kept there).
Nothing here changes the tests; their files are read as they are.
"""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import types
from typing import Any, AsyncGenerator, Optional

import asyncio
import json

import freezegun
import httpx
import pytest
import pytest_asyncio
from freezegun import freeze_time

# The history tests freeze the client's clock; this file's own timing (server readiness) keeps the real one.
freezegun.configure(extend_ignore_list=[__name__])

SERVICE = os.path.abspath(os.environ.get("REFSUITE_SERVICE", os.getcwd()))
ENV = os.environ.get("REFSUITE_ENV", "")
KEEP_LOGS = os.environ.get("REFSUITE_KEEP_LOGS", "")
NODE_BIN = os.path.join(SERVICE, "node_modules", ".bin")
WRANGLER = os.path.join(SERVICE, "node_modules", "wrangler", "bin", "wrangler.js")


def _dev_vars() -> dict:
    """The local secrets: .dev.vars if the checkout has one, else the committed example."""
    name = ".dev.vars" if os.path.exists(os.path.join(SERVICE, ".dev.vars")) else ".dev.vars.example"
    out = {}
    with open(os.path.join(SERVICE, name), encoding="utf8") as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                key, value = line.split("=", 1)
                out[key.strip()] = value.strip().strip('"')
    return out


SECRETS = _dev_vars()
VARS = {
    "PASSWORD_MIN_LENGTH": "1",
    "JWT_SECRET": SECRETS["JWT_SECRET"],
    "ADMIN_BOOTSTRAP_TOKEN": SECRETS["ADMIN_BOOTSTRAP_TOKEN"],
}


def _env() -> dict:
    # The project's Node 22 (node_modules/.bin/node) before the machine's, for wrangler and the build step.
    return {
        **os.environ,
        "PATH": NODE_BIN + os.pathsep + os.environ.get("PATH", ""),
        "CI": "1",
        "WRANGLER_SEND_METRICS": "false",
        "FORCE_COLOR": "0",
    }


def _wrangler(*args: str, **kwargs: Any) -> subprocess.CompletedProcess:
    env_args = ["--env", ENV] if ENV else []
    return subprocess.run(
        ["node", WRANGLER, *args, *env_args], cwd=SERVICE, env=_env(), capture_output=True, text=True, **kwargs
    )


def _d1_bindings() -> list:
    """DB and the read databases the layout's READ_DATABASES names (wrangler.toml)."""
    script = (
        "import('wrangler').then(({unstable_readConfig}) => console.log(JSON.stringify("
        "unstable_readConfig({config: 'wrangler.toml', env: process.argv[1] || undefined}, {hideWarnings: true})"
        ".d1_databases.map((d) => d.binding))))"
    )
    out = subprocess.run(
        ["node", "-e", script, ENV], cwd=SERVICE, env=_env(), capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One `wrangler dev` on a copy of the template state, in a process group of its own."""

    def __init__(self, template: str) -> None:
        self.dir = tempfile.mkdtemp(prefix="refsuite-state-")
        shutil.copytree(template, self.dir, dirs_exist_ok=True)
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.last_output = time.monotonic()
        self.log: list = []
        argv = ["node", WRANGLER, "dev", "--ip", "127.0.0.1", "--port", str(self.port)]
        # Log level info: each server's log (REFSUITE_KEEP_LOGS) shows which queues consumed what.
        argv += ["--inspector-port", str(_free_port()), "--persist-to", self.dir, "--log-level", "info"]
        argv += ["--show-interactive-dev-session=false"]
        if ENV:
            argv += ["--env", ENV]
        for name, value in VARS.items():
            argv += ["--var", f"{name}:{value}"]
        self.proc = subprocess.Popen(
            argv,
            cwd=SERVICE,
            env=_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # wrangler and workerd stop together
        )
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        for line in iter(self.proc.stdout.readline, b""):
            self.last_output = time.monotonic()
            self.log.append(line.decode(errors="replace"))

    def ready(self, timeout: float = 180.0) -> "Server":
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"wrangler dev exited {self.proc.returncode}:\n{''.join(self.log)}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"wrangler dev did not answer /ht/ in {timeout} s:\n{''.join(self.log)}")
            try:
                if httpx.get(f"{self.url}/ht/", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        # Offline, wrangler reloads the worker once more right after it first answers (its Request.cf
        # fetch fails); a request caught by that reload gets a 503. Wait for the output to go quiet.
        answered = time.monotonic()
        while time.monotonic() - answered < 10 and (
            time.monotonic() - answered < 1.5 or time.monotonic() - self.last_output < 2
        ):
            time.sleep(0.1)
        return self

    def stop(self, name: str = "") -> None:
        try:
            os.killpg(self.proc.pid, 15)
            self.proc.wait(timeout=5)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
        try:
            os.killpg(self.proc.pid, 9)
        except ProcessLookupError:
            pass
        if KEEP_LOGS and name:
            os.makedirs(KEEP_LOGS, exist_ok=True)
            safe = name.replace("/", "_").replace(":", "_")
            with open(os.path.join(KEEP_LOGS, f"{safe}.log"), "w", encoding="utf8") as f:
                f.write("".join(self.log))
        shutil.rmtree(self.dir, ignore_errors=True)


class Servers:
    """A fresh server per test, the next one booting while the current test runs."""

    def __init__(self) -> None:
        self.template = tempfile.mkdtemp(prefix="refsuite-template-")
        self.bindings = _d1_bindings()
        for binding in self.bindings:
            done = _wrangler("d1", "migrations", "apply", binding, "--local", "--persist-to", self.template)
            if done.returncode != 0:
                raise RuntimeError(f"migrating {binding} failed:\n{done.stdout}{done.stderr}")
        self.spare: Optional[Server] = None

    def take(self) -> Server:
        server = self.spare or Server(self.template)
        self.spare = Server(self.template)
        return server.ready()

    def close(self) -> None:
        if self.spare:
            self.spare.stop()
        shutil.rmtree(self.template, ignore_errors=True)


CURRENT: dict = {"url": None}


def pytest_report_header(config: Any) -> str:
    return f"refsuite: service {SERVICE}, layout {ENV or 'default'}, D1 bindings {', '.join(_d1_bindings())}"


@pytest.fixture(scope="session")
def servers() -> Any:
    pool = Servers()
    yield pool
    pool.close()


@pytest.fixture(autouse=True)
def server(servers: Servers, request: Any) -> Any:
    """Every test, those that ask for no fixture included (test_root.py, test_ht.py), on a fresh state."""
    srv = servers.take()
    CURRENT["url"] = srv.url
    yield srv
    CURRENT["url"] = None
    srv.stop(request.node.nodeid)


# ─── stand-ins for the two imports of test_root.py and test_ht.py ───


class _TestClient:
    """`TestClient(app)` as an HTTP client on the current test's server (resolved per request)."""

    __test__ = False  # test_*.py import it as TestClient: not a test class

    def __init__(self, app: Any = None) -> None:
        self.app = app

    def _call(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        # Starlette's TestClient follows redirects by default; so does its stand-in.
        with httpx.Client(base_url=CURRENT["url"], timeout=30, follow_redirects=True) as client:
            return client.request(method, url, **kwargs)

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self._call("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self._call("POST", url, **kwargs)


_fastapi = types.ModuleType("fastapi")
_testclient = types.ModuleType("fastapi.testclient")
_testclient.TestClient = _TestClient  # type: ignore[attr-defined]
_fastapi.testclient = _testclient  # type: ignore[attr-defined]
_es = types.ModuleType("event_sourcing")
_es_main = types.ModuleType("event_sourcing.main")
_es_main.app = None  # type: ignore[attr-defined]
_es.main = _es_main  # type: ignore[attr-defined]
sys.modules.update(
    {"fastapi": _fastapi, "fastapi.testclient": _testclient, "event_sourcing": _es, "event_sourcing.main": _es_main}
)


# ─── the reference's fixtures, over HTTP ───


@pytest.fixture
def freezer() -> Any:
    """As the reference's: freezes the client's clock (not the server's, which runs elsewhere)."""
    return freeze_time


@pytest.fixture
def admin_user_credentials() -> dict:
    return {
        "username": "admin",
        "password": "admin123",
        "email": "admin@test.com",
        "first_name": "Admin",
        "last_name": "User",
        "role": "admin",
    }


@pytest.fixture
def regular_user_credentials() -> dict:
    return {
        "username": "testuser",
        "password": "user123",
        "email": "user@test.com",
        "first_name": "Test",
        "last_name": "User",
        "role": "user",
    }


@pytest_asyncio.fixture
async def async_client_with_test_db(server: Server) -> AsyncGenerator[httpx.AsyncClient, None]:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        yield client


@pytest_asyncio.fixture
async def async_client(async_client_with_test_db: httpx.AsyncClient) -> httpx.AsyncClient:
    return async_client_with_test_db


async def _bootstrap_admin(client: httpx.AsyncClient, creds: dict) -> str:
    """One bootstrap admin per username: the same admin whichever fixture asks first."""
    body = {key: creds[key] for key in ("username", "email", "password", "first_name", "last_name")}
    for attempt in range(10):
        r = await client.post(
            "/admin/bootstrap/admins",
            json=body,
            headers={"Authorization": f"Bearer {SECRETS['ADMIN_BOOTSTRAP_TOKEN']}"},
        )
        if r.status_code == 200:
            return str(r.json()["user_id"])
        # A second call for the same admin: 409 UserAlreadyExistsError, naming the admin (scripts/admin-outcome.mjs).
        if r.status_code == 409 and r.json().get("type") == "UserAlreadyExistsError":
            return str(r.json()["details"]["user_id"])
        if r.status_code != 503 or attempt == 9:
            pytest.fail(f"Failed to create admin user: {r.status_code} {r.text}")
        await asyncio.sleep(0.5)  # the worker reloading: see Server.ready
    raise AssertionError("unreachable")


async def _login(client: httpx.AsyncClient, username: str, password: str) -> str:
    r = await client.post("/v1/auth/login/", json={"username": username, "password": password})
    if r.status_code != 200:
        pytest.fail(f"Login of {username} failed: {r.status_code} - {r.text}")
    return str(r.json()["access_token"])


@pytest_asyncio.fixture
async def admin_user(async_client_with_test_db: httpx.AsyncClient, admin_user_credentials: dict) -> dict:
    user_id = await _bootstrap_admin(async_client_with_test_db, admin_user_credentials)
    return {"user_id": user_id, **admin_user_credentials}


@pytest_asyncio.fixture
async def regular_user(
    async_client_with_test_db: httpx.AsyncClient, admin_user_credentials: dict, regular_user_credentials: dict
) -> dict:
    # The reference creates it through its command handler; here only an admin can, so the admin exists too.
    await _bootstrap_admin(async_client_with_test_db, admin_user_credentials)
    token = await _login(
        async_client_with_test_db, admin_user_credentials["username"], admin_user_credentials["password"]
    )
    body = {k: regular_user_credentials[k] for k in ("username", "email", "password", "first_name", "last_name")}
    r = await async_client_with_test_db.post(
        "/v1/users/", json=body, headers={"Authorization": f"Bearer {token}"}
    )
    if r.status_code != 200:
        pytest.fail(f"Failed to create regular user: {r.status_code} {r.text}")
    return {"user_id": str(r.json()["user_id"]), **regular_user_credentials}


@pytest_asyncio.fixture
async def admin_jwt_token(async_client_with_test_db: httpx.AsyncClient, admin_user: dict) -> str:
    return await _login(async_client_with_test_db, admin_user["username"], admin_user["password"])


@pytest_asyncio.fixture
async def user_jwt_token(async_client_with_test_db: httpx.AsyncClient, regular_user: dict) -> str:
    return await _login(async_client_with_test_db, regular_user["username"], regular_user["password"])


@pytest_asyncio.fixture
async def admin_client(
    async_client_with_test_db: httpx.AsyncClient, admin_jwt_token: str
) -> AsyncGenerator[httpx.AsyncClient, None]:
    async with httpx.AsyncClient(
        base_url=async_client_with_test_db.base_url,
        timeout=30,
        headers={"Authorization": f"Bearer {admin_jwt_token}"},
    ) as client:
        yield client


@pytest_asyncio.fixture
async def user_client(
    async_client_with_test_db: httpx.AsyncClient, user_jwt_token: str
) -> AsyncGenerator[httpx.AsyncClient, None]:
    async with httpx.AsyncClient(
        base_url=async_client_with_test_db.base_url,
        timeout=30,
        headers={"Authorization": f"Bearer {user_jwt_token}"},
    ) as client:
        yield client


@pytest_asyncio.fixture
async def unauthenticated_client(async_client_with_test_db: httpx.AsyncClient) -> httpx.AsyncClient:
    return async_client_with_test_db
