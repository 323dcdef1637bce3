#!/usr/bin/env python3
"""notes' tests. TEST_TYPE says which; TARGET_URL says where the service under test answers; DATABASE_URL (given to
pre- and post-integration tests, like the release) says where its database is.

pre-deployment     a private PostgreSQL in this container: every migration applies (and every down script undoes its
                   expand) on an empty database, then the service's own code stores and reads notes in it.
pre-integration    the new release, directly: it answers with its version and colour, and a note written through it
                   is in the database DATABASE_URL names (read back with psql), then deleted.
post-integration   through the proxy: the proxy serves SERVICE_COLOR, and a note round-trips through the service.
"""
import glob
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid

TEST_TYPE = os.environ.get("TEST_TYPE", "")
TARGET_URL = os.environ.get("TARGET_URL", "").rstrip("/")
VERSION = os.environ.get("SERVICE_VERSION", "")
COLOR = os.environ.get("SERVICE_COLOR", "")
DATABASE_URL = os.environ.get("DATABASE_URL", "")


def fail(message):
    print(f"FAIL: {message}", flush=True)
    sys.exit(1)


def say(message):
    print(message, flush=True)


def request(method, url, payload=None):
    """(status, headers, body text) with a fresh connection; HTTP errors are answers too."""
    data = None if payload is None else json.dumps(payload).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"Connection": "close", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=5) as response:
            return response.status, response.headers, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read().decode()
    except (urllib.error.URLError, OSError) as error:
        fail(f"{method} {url} did not answer: {error}")


def psql(url, sql):
    """Runs SQL with psql against url (passed in the environment, never on the command line); returns its output."""
    environment = dict(os.environ, PGCONNECT_TIMEOUT="5")
    result = subprocess.run(["psql", "-X", "-tA", "-v", "ON_ERROR_STOP=1", "-c", sql], env=dict(environment, **libpq(url)),
                            capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        fail(f"psql: {result.stderr.strip()}")
    return result.stdout.strip()


def libpq(url):
    match = re.match(r"^postgres(?:ql)?://(?P<user>[^:@/]+)(?::(?P<password>[^@]*))?@(?P<host>[^:/]+)(?::(?P<port>\d+))?/(?P<db>[^?]+)", url)
    if not match:
        fail("DATABASE_URL is not a postgres://user:password@host:port/database URL")
    from urllib.parse import unquote
    environment = {"PGUSER": unquote(match["user"]), "PGHOST": match["host"], "PGPORT": match["port"] or "5432", "PGDATABASE": unquote(match["db"])}
    if match["password"] is not None:
        environment["PGPASSWORD"] = unquote(match["password"])
    return environment


def round_trip(base, marker):
    """Writes a note through the service, reads it back, returns its id."""
    status, _, body = request("POST", f"{base}/notes", {"body": marker, "author": "pipeline-tests"})
    if status != 201:
        fail(f"POST {base}/notes answered {status}: {body}")
    created = json.loads(body)
    status, _, body = request("GET", f"{base}/notes/{created['id']}")
    if status != 200:
        fail(f"GET {base}/notes/{created['id']} answered {status}: {body}")
    read = json.loads(body)
    if read["body"] != marker or read["author"] != "pipeline-tests":
        fail(f"note {created['id']} came back as {read}")
    say(f"note {created['id']} stored and read back through {base} (served by {read['served_by']})")
    return created["id"]


def check_answer(base):
    status, _, body = request("GET", f"{base}/")
    if status != 200:
        fail(f"GET {base}/ answered {status}: {body}")
    say(f"answer: {body.strip()}")
    if VERSION not in body or f"({COLOR})" not in body:
        fail(f"the answer does not carry version {VERSION} and colour {COLOR}")
    status, _, body = request("GET", f"{base}/health")
    if status != 200 or body.strip() != "ok":
        fail(f"health answered {status}: {body}")


def migrations_in_order():
    files = sorted(glob.glob("/app/migrations/*.sql"), key=lambda f: (int(os.path.basename(f).split("_", 1)[0]), f))
    return [f for f in files if not f.endswith(".down.sql")]


def pre_deployment():
    say("pre-deployment: a private PostgreSQL in this container")
    data, socket_dir = "/tmp/pg/data", "/tmp/pg/run"
    os.makedirs(socket_dir, exist_ok=True)
    subprocess.run(["chown", "-R", "postgres:postgres", "/tmp/pg"], check=True)
    binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin"))[-1]
    as_postgres = ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups"]
    subprocess.run(as_postgres + [f"{binaries}/initdb", "-D", data, "--no-sync", "--auth=trust", "--username=postgres", "--encoding=UTF8", "--locale=C.UTF-8"],
                   check=True, capture_output=True)
    subprocess.run(as_postgres + [f"{binaries}/pg_ctl", "-D", data, "-w", "-l", "/tmp/pg/log", "-o", f"-c listen_addresses='' -c fsync=off -k {socket_dir}", "start"],
                   check=True, capture_output=True)
    url = f"postgresql://postgres@/notes?host={socket_dir}"
    subprocess.run(["psql", "-X", "-q", "-h", socket_dir, "-U", "postgres", "-d", "postgres", "-c", "CREATE DATABASE notes"], check=True)

    def apply(path):
        result = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction", "-h", socket_dir, "-U", "postgres", "-d", "notes", "-f", path],
                                capture_output=True, text=True)
        if result.returncode != 0:
            fail(f"{os.path.basename(path)} does not apply: {result.stderr.strip()}")
        say(f"applied {os.path.basename(path)}")

    def schema():
        dump = subprocess.run(["pg_dump", "-s", "-h", socket_dir, "-U", "postgres", "notes"], capture_output=True, text=True, check=True).stdout
        # pg_dump marks its output with a random \restrict key: leave it out of the comparison.
        return [line for line in dump.splitlines() if not line.startswith(("\\restrict", "\\unrestrict"))]

    # Every migration applies on an empty database, in number order; a down script undoes its expand exactly.
    for path in migrations_in_order():
        down = path.replace(".expand.sql", ".down.sql")
        if path.endswith(".expand.sql") and os.path.exists(down):
            before = schema()
            apply(path)
            apply(down)
            after = schema()
            if before != after:
                fail(f"{os.path.basename(down)} does not undo {os.path.basename(path)} exactly")
        apply(path)

    # The service's own code against that database.
    environment = dict(os.environ, PORT="18080", SERVICE_VERSION="test", SERVICE_COLOR="none", DATABASE_URL=url)
    server = subprocess.Popen(["python3", "/app/serve.py"], env=environment)
    try:
        for _ in range(50):
            try:
                with urllib.request.urlopen("http://127.0.0.1:18080/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                time.sleep(0.2)
        global VERSION, COLOR
        VERSION, COLOR = "test", "none"
        check_answer("http://127.0.0.1:18080")
        note_id = round_trip("http://127.0.0.1:18080", "pre-deployment " + uuid.uuid4().hex)
        stored = subprocess.run(["psql", "-X", "-tA", "-h", socket_dir, "-U", "postgres", "-d", "notes", "-c", f"SELECT body FROM notes WHERE id = {note_id}"],
                                capture_output=True, text=True, check=True).stdout.strip()
        if not stored.startswith("pre-deployment "):
            fail(f"note {note_id} is not in the database: '{stored}'")
        status, _, body = request("POST", "http://127.0.0.1:18080/notes", {"author": "nobody"})
        if status != 400:
            fail(f"a note without a body answered {status}: {body}")
    finally:
        server.terminate()
        server.wait(timeout=10)
        subprocess.run(as_postgres + [f"{binaries}/pg_ctl", "-D", data, "-m", "fast", "stop"], capture_output=True)


def pre_integration():
    if not TARGET_URL:
        fail("TARGET_URL is not set")
    if not DATABASE_URL:
        fail("DATABASE_URL is not set; deploy with --release-env=DATABASE_URL")
    status, headers, _ = request("GET", f"{TARGET_URL}/")
    if headers.get("X-Pipeline-Color"):
        fail(f"pre-integration must reach the release directly, but {TARGET_URL} answered through the proxy")
    check_answer(TARGET_URL)
    marker = f"pre-integration {COLOR} {uuid.uuid4().hex}"
    note_id = round_trip(TARGET_URL, marker)
    # The release wrote into the database the pipeline gave it: read the row with psql.
    stored = psql(DATABASE_URL, f"SELECT body FROM notes WHERE id = {int(note_id)}")
    if stored != marker:
        fail(f"note {note_id} is not in the database DATABASE_URL names (found '{stored}')")
    say(f"note {note_id} is in the database")
    status, _, body = request("DELETE", f"{TARGET_URL}/notes/{note_id}")
    if status != 204 or psql(DATABASE_URL, f"SELECT count(*) FROM notes WHERE id = {int(note_id)}") != "0":
        fail(f"deleting note {note_id} answered {status}: {body}")


def post_integration():
    if not TARGET_URL:
        fail("TARGET_URL is not set")
    status, headers, body = request("GET", f"{TARGET_URL}/")
    served = headers.get("X-Pipeline-Color", "")
    if served != COLOR:
        fail(f"the proxy at {TARGET_URL} serves '{served}', not {COLOR}")
    say(f"through the proxy: {TARGET_URL} serves {COLOR}")
    check_answer(TARGET_URL)
    note_id = round_trip(TARGET_URL, f"post-integration {COLOR} {uuid.uuid4().hex}")
    status, _, body = request("DELETE", f"{TARGET_URL}/notes/{note_id}")
    if status != 204:
        fail(f"deleting note {note_id} answered {status}: {body}")
    status, _, body = request("GET", f"{TARGET_URL}/notes/{note_id}")
    if status != 404:
        fail(f"note {note_id} is still there after DELETE ({status}: {body})")


tests = {"pre-deployment": pre_deployment, "pre-integration": pre_integration, "post-integration": post_integration}
if TEST_TYPE not in tests:
    fail(f"unknown TEST_TYPE '{TEST_TYPE}' (expected pre-deployment, pre-integration or post-integration)")
tests[TEST_TYPE]()
say(f"PASS: {TEST_TYPE}")
