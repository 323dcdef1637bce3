#!/usr/bin/env python3
"""notes: stores and reads notes in PostgreSQL; answers with its name, version and colour like examples/hello.

DATABASE_URL says where the database is; SERVICE_NAME, SERVICE_VERSION, SERVICE_COLOR, SERVICE_ROUTE and PORT are
given by the pipeline at deploy time.

  GET  /             "notes from notes 1.2.0 (green): 3 notes"
  GET  /health       "ok" when the database answers and the schema this release needs is there
  GET  /notes        the latest 50 notes (JSON)
  POST /notes        {"body": "...", "author": "..."} -> 201 {"id": ..., "served_by": ...}
  GET  /notes/ID     one note (JSON), 404 when missing
  DELETE /notes/ID   204
"""
import json
import os
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg2

NAME = os.environ.get("SERVICE_NAME", "notes")
VERSION = os.environ.get("SERVICE_VERSION", "dev")
COLOR = os.environ.get("SERVICE_COLOR", "none")
ROUTE = os.environ.get("SERVICE_ROUTE", "/").rstrip("/")
PORT = int(os.environ.get("PORT", "8080"))
DATABASE_URL = os.environ.get("DATABASE_URL", "")
SERVED_BY = f"{NAME} {VERSION} ({COLOR})"

_local = threading.local()


def connection():
    """One connection per server thread, reopened when it broke."""
    conn = getattr(_local, "conn", None)
    if conn is None or conn.closed:
        conn = psycopg2.connect(DATABASE_URL, connect_timeout=3, application_name=f"{NAME}-{COLOR}")
        conn.autocommit = True
        _local.conn = conn
    return conn


def query(sql, args=(), fetch=True):
    try:
        with connection().cursor() as cursor:
            cursor.execute(sql, args)
            return cursor.fetchall() if fetch else cursor.rowcount
    except psycopg2.OperationalError:
        _local.conn = None
        raise


def note(row):
    return {"id": row[0], "body": row[1], "author": row[2], "created_at": row[3].isoformat()}


class Handler(BaseHTTPRequestHandler):
    server_version = "notes"
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s\n" % (self.address_string(), fmt % args))

    def answer(self, status, body, content_type="application/json"):
        data = (json.dumps(body) if content_type == "application/json" else body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Served-By", SERVED_BY)
        self.end_headers()
        self.wfile.write(data)

    def path_in_service(self):
        # The proxy keeps the request path: a service routed at /notes sees /notes/...
        path = self.path.split("?", 1)[0]
        if ROUTE and (path == ROUTE or path.startswith(ROUTE + "/")):
            path = path[len(ROUTE):] or "/"
        return path.rstrip("/") or "/"

    def handle_request(self, method):
        path = self.path_in_service()
        try:
            if method == "GET" and path == "/":
                count = query("SELECT count(*) FROM notes")[0][0]
                return self.answer(200, f"notes from {SERVED_BY}: {count} notes\n", "text/plain")
            if method == "GET" and path == "/health":
                query("SELECT id, body, author, created_at FROM notes LIMIT 0")
                return self.answer(200, "ok\n", "text/plain")
            if method == "GET" and path == "/notes":
                rows = query("SELECT id, body, author, created_at FROM notes ORDER BY id DESC LIMIT 50")
                return self.answer(200, {"notes": [note(r) for r in rows], "served_by": SERVED_BY})
            if method == "POST" and path == "/notes":
                length = int(self.headers.get("Content-Length", "0"))
                try:
                    payload = json.loads(self.rfile.read(length) or b"{}")
                except ValueError:
                    return self.answer(400, {"error": "the body is not JSON", "served_by": SERVED_BY})
                if not isinstance(payload, dict) or not isinstance(payload.get("body"), str) or not payload["body"]:
                    return self.answer(400, {"error": "give {\"body\": \"...\"}", "served_by": SERVED_BY})
                row = query("INSERT INTO notes (body, author) VALUES (%s, %s) RETURNING id",
                            (payload["body"], payload.get("author")))
                return self.answer(201, {"id": row[0][0], "served_by": SERVED_BY})
            if path.startswith("/notes/") and path[len("/notes/"):].isdigit():
                note_id = int(path[len("/notes/"):])
                if method == "GET":
                    rows = query("SELECT id, body, author, created_at FROM notes WHERE id = %s", (note_id,))
                    if not rows:
                        return self.answer(404, {"error": f"no note {note_id}", "served_by": SERVED_BY})
                    return self.answer(200, dict(note(rows[0]), served_by=SERVED_BY))
                if method == "DELETE":
                    query("DELETE FROM notes WHERE id = %s", (note_id,), fetch=False)
                    return self.answer(204, "", "text/plain")
            return self.answer(404, {"error": f"no {method} {path}", "served_by": SERVED_BY})
        except psycopg2.Error as error:
            # The database said no (or is gone): say so, the way a test can read it.
            message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            return self.answer(503, {"error": f"database: {message}", "served_by": SERVED_BY})

    def do_GET(self):
        self.handle_request("GET")

    def do_POST(self):
        self.handle_request("POST")

    def do_DELETE(self):
        self.handle_request("DELETE")


def main():
    if not DATABASE_URL:
        sys.exit("notes: DATABASE_URL is not set; deploy with --release-env=DATABASE_URL")
    # As PID 1 a process ignores SIGTERM unless it handles it: stop quickly on docker stop.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server = ThreadingHTTPServer(("", PORT), Handler)
    server.daemon_threads = True
    print(f"notes: {SERVED_BY} listening on :{PORT}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
