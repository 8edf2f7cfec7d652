"""Tests of the Python client (clients/python/convsearch) against the real
convsearch-server on a real socket, over the index of the HTTP tests
(tests/http/fixture.sql). Run by run.sh, which builds the index and sets
CS_SERVER, CS_INDEX and CS_WORK; this module starts the server.

Fixture facts used here: employee 1 owns people 101..107 (conversations
1000 and 1001), employee 2 owns 201..204 (2000, 4000); "desahucio" is said
in 1000 and 2000; 14 turns in all.
"""

import hashlib
import os
import re
import signal
import socket
import subprocess
import threading
import time
import unittest

import convsearch
from convsearch import portal

SERVICE_TOKENS = {
    "admin": ("admin-token-for-python", "admin"),
    "analyst": ("analyst-token-for-python", "analyst"),
    "portal1": ("portal-1-token-for-python", "portal employee=1"),
}
SECRET = b"python-client-test-secret-0123456789"

server = None
url = None
secret_file = None


def setUpModule():
    global server, url, secret_file
    work = os.environ["CS_WORK"]
    tokens = os.path.join(work, "py-tokens")
    secret_file = os.path.join(work, "py-secret")
    lines = "".join(f"sha256:{hashlib.sha256(t.encode()).hexdigest()} {role}\n"
                    for t, role in SERVICE_TOKENS.values())
    for path, data in ((tokens, lines.encode()), (secret_file, SECRET + b"\n")):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(path, 0o600)
    log_path = os.path.join(work, "py-server.log")
    log = open(log_path, "wb")
    server = subprocess.Popen(
        [os.environ["CS_SERVER"], "--index", os.environ["CS_INDEX"], "--listen", "127.0.0.1:0",
         "--tokens", tokens, "--token-secret-file", secret_file, "--threads", "2"],
        stdout=subprocess.DEVNULL, stderr=log)
    log.close()
    deadline = time.time() + 20
    while time.time() < deadline:
        with open(log_path, encoding="utf-8", errors="replace") as f:
            m = re.search(r"listening on 127\.0\.0\.1:(\d+)", f.read())
        if m:
            url = f"http://127.0.0.1:{m.group(1)}"
            return
        if server.poll() is not None:
            break
        time.sleep(0.05)
    server.kill()
    with open(log_path, encoding="utf-8", errors="replace") as f:
        raise RuntimeError("convsearch-server did not start:\n" + f.read())


def tearDownModule():
    server.send_signal(signal.SIGTERM)
    assert server.wait(timeout=20) == 0, "the server did not exit 0 on SIGTERM"


def client(name, **kwargs):
    return convsearch.Client(url, SERVICE_TOKENS[name][0], **kwargs)


class Methods(unittest.TestCase):
    def test_health(self):
        h = convsearch.Client(url, None).health()
        self.assertEqual(h["status"], "ok")
        self.assertEqual(h["documents"]["conversations"], 4)

    def test_search_portal_sees_only_its_people(self):
        page = client("portal1").search("desahucio")
        self.assertEqual(page["total"], 1)
        self.assertEqual([h["conversation_id"] for h in page["hits"]], [1000])
        self.assertIn("<em>desahucio</em>", page["hits"][0]["snippets"][0]["text"])
        self.assertIsNone(page["next_cursor"])

    def test_search_filters(self):
        admin = client("admin")
        self.assertEqual({h["conversation_id"] for h in admin.search("desahucio")["hits"]},
                         {1000, 2000})
        self.assertEqual([h["conversation_id"] for h in admin.search("desahucio", owner=2)["hits"]],
                         [2000])
        import datetime
        page = admin.search("desahucio", from_=datetime.date(2026, 9, 10), to="2026-12-31")
        self.assertEqual([h["conversation_id"] for h in page["hits"]], [2000])
        self.assertEqual(admin.search("desahucio", role="interviewer")["total"], 0)

    def test_iter_search_pages_to_the_end(self):
        admin = client("admin")
        one = admin.search("desahucio", limit=1)
        self.assertEqual(len(one["hits"]), 1)
        self.assertIsNotNone(one["next_cursor"])
        ids = [h["conversation_id"] for h in admin.iter_search("desahucio", page_size=1)]
        self.assertEqual(sorted(ids), [1000, 2000])
        ids = [h["conversation_id"]
               for h in admin.iter_search("entrevista OR seguimiento", page_size=1, sort="date")]
        self.assertEqual(ids, [1000, 4000, 2000, 1001])

    def test_suggest(self):
        words = [s["text"] for s in client("portal1").suggest("desah")["suggestions"]]
        self.assertIn("desahucio", words)
        self.assertEqual(len(client("admin").suggest("c", limit=1)["suggestions"]), 1)

    def test_patients_and_iteration(self):
        p1 = client("portal1")
        page = p1.patients(sort="name", limit=3)
        self.assertEqual([p["name"] for p in page["items"]],
                         ["Álvaro Núñez", "Güell Pons", "nuria ortega"])
        names = [p["name"] for p in p1.iter_patients(sort="name", page_size=2)]
        self.assertEqual(names, ["Álvaro Núñez", "Güell Pons", "nuria ortega", "Ñandú Pérez",
                                 "Paciente 2", "Paciente 10", "  Zoe Ruiz  "])
        ids = [p["id"] for p in client("admin").iter_patients(sort="-name", page_size=3)]
        self.assertEqual(len(ids), 11)
        self.assertEqual(len(set(ids)), 11)
        analyst = [p["name"] for p in client("analyst").iter_patients(page_size=5)]
        self.assertTrue(all(n.startswith("Persona ") for n in analyst), analyst)

    def test_conversation(self):
        c = client("portal1").conversation(1000, q="vivienda")
        self.assertEqual(c["id"], 1000)
        self.assertEqual(len(c["segments"]), 5)
        self.assertIn("<em>vivienda</em>", c["segments"][1]["text"])
        self.assertEqual(c["segments"][1]["start_ms"], 4000)

    def test_checklist(self):
        items = client("portal1").checklist(1000)["items"]
        self.assertTrue(any(i["covered"] for i in items))

    def test_qa_retrieve(self):
        r = client("portal1").qa_retrieve("¿Tiene un lugar en el que vivir?",
                                          conversation_id=1000, k=2, max_tokens=200)
        self.assertTrue(r["passages"])
        self.assertLessEqual(len(r["passages"]), 2)
        self.assertTrue(all(p["conversation_id"] == 1000 for p in r["passages"]))
        self.assertIn("[1]", r["context"])
        self.assertLessEqual(r["context_tokens"], 200)

    def test_analytics(self):
        r = client("admin").analytics("owner", q="desahucio")
        self.assertEqual([(b["key"], b["conversations"]) for b in r["buckets"]], [(1, 1), (2, 1)])
        r = client("portal1").analytics("month", q="desahucio")
        self.assertEqual(r["total"]["conversations"], 1)
        r = client("admin").analytics("month", owner=2, from_="2026-09-10")
        self.assertEqual([b["key"] for b in r["buckets"]], ["2026-09"])
        self.assertEqual(r["total"]["conversations"], 1)

    def test_export_streams_every_line(self):
        with client("admin").export() as lines:
            rows = list(lines)
        self.assertEqual(len(rows), 14)
        self.assertEqual([(r["conversation_id"], r["seq"]) for r in rows[:2]], [(1000, 0), (1000, 1)])
        rows = list(client("portal1").export("desahucio"))
        self.assertEqual([(r["conversation_id"], r["seq"]) for r in rows], [(1000, 1)])
        self.assertNotIn("<em>", rows[0]["text"])
        rows = list(client("analyst").export("desahucio", owner=2))
        self.assertEqual([r["conversation_id"] for r in rows], [2000])

    def test_export_closed_early_frees_the_callers_slot(self):
        # A caller runs at most 2 exports: closing early must end them.
        admin = client("admin")
        for _ in range(4):
            with admin.export() as lines:
                next(iter(lines))
        self.assertEqual(len(list(admin.export("desahucio"))), 2)

    def test_metrics(self):
        self.assertIn("convsearch_http_requests_total", client("admin").metrics())


class Errors(unittest.TestCase):
    def assertError(self, cls, status, code, call):
        with self.assertRaises(cls) as cm:
            call()
        self.assertEqual((cm.exception.status, cm.exception.code), (status, code))
        self.assertIsInstance(cm.exception, convsearch.ConvsearchError)
        self.assertTrue(cm.exception.message)
        return cm.exception

    def test_error_answers(self):
        p1 = client("portal1")
        self.assertError(convsearch.NotFound, 404, "not_found", lambda: p1.conversation(2000))
        self.assertError(convsearch.BadRequest, 400, "bad_parameter",
                         lambda: p1.search("x", limit=0))
        self.assertError(convsearch.BadRequest, 400, "bad_cursor",
                         lambda: p1.patients(cursor="nonsense"))
        self.assertError(convsearch.BadRequest, 400, "bad_parameter",
                         lambda: client("admin").analytics("weekday"))
        self.assertError(convsearch.Forbidden, 403, "forbidden", p1.metrics)
        self.assertError(convsearch.Unauthorized, 401, "unauthorized",
                         lambda: convsearch.Client(url, "wrong").search("x"))
        self.assertError(convsearch.Unauthorized, 401, "unauthorized",
                         lambda: convsearch.Client(url, None).export())
        self.assertRaises(ValueError, p1.conversation, 0)

    def test_connection_refused(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()  # nothing listens there now
        e = self.assertError(convsearch.ConnectionFailed, None, "connection_failed",
                             lambda: convsearch.Client(f"http://127.0.0.1:{port}", "t").search("x"))
        self.assertNotIsInstance(e, convsearch.Timeout)

    def test_timeout(self):
        silent = socket.socket()
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)  # accepts (in the kernel) and never answers
        try:
            c = convsearch.Client(f"http://127.0.0.1:{silent.getsockname()[1]}", "t", timeout=0.3)
            t0 = time.monotonic()
            self.assertError(convsearch.Timeout, None, "timeout", lambda: c.search("x"))
            self.assertLess(time.monotonic() - t0, 5)
        finally:
            silent.close()

    def test_export_cut_short(self):
        # The real server only cuts a stream when its index becomes
        # unreadable; a socket that sends one chunked line and closes shows
        # what the client makes of it.
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)

        def serve():
            conn, _ = srv.accept()
            conn.recv(65536)
            line = b'{"conversation_id":1,"seq":0}\n'
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\n"
                         b"Transfer-Encoding: chunked\r\n\r\n" +
                         b"%x\r\n" % len(line) + line + b"\r\n")
            conn.close()

        t = threading.Thread(target=serve)
        t.start()
        try:
            lines = iter(convsearch.Client(f"http://127.0.0.1:{srv.getsockname()[1]}", "t").export())
            self.assertEqual(next(lines)["conversation_id"], 1)
            self.assertError(convsearch.IncompleteStream, None, "incomplete_stream",
                             lambda: next(lines))
        finally:
            t.join()
            srv.close()


class Tokens(unittest.TestCase):
    def secret(self):
        with open(secret_file, "rb") as f:
            return f.read()  # with its trailing newline, as the file holds it

    def test_minted_token_is_accepted_and_scoped(self):
        for secret in (self.secret(), convsearch.read_secret(secret_file), SECRET.decode()):
            c = convsearch.Client(url, convsearch.mint_token(secret, 1, 600))
            self.assertEqual([h["conversation_id"] for h in c.search("desahucio")["hits"]], [1000])
        c = convsearch.Client(url, convsearch.mint_token(self.secret(), 2, 600))
        self.assertEqual([h["conversation_id"] for h in c.search("desahucio")["hits"]], [2000])
        self.assertEqual({p["id"] for p in c.iter_patients()}, {201, 202, 203, 204})

    def test_expired_token_refused(self):
        token = convsearch.mint_token(self.secret(), 1, 60, now=time.time() - 3600)
        with self.assertRaises(convsearch.Unauthorized) as cm:
            convsearch.Client(url, token).search("desahucio")
        self.assertEqual(cm.exception.code, "unauthorized")
        self.assertNotIsInstance(cm.exception, convsearch.TokenLifetimeTooLong)

    def test_too_long_token_refused(self):
        token = convsearch.mint_token(self.secret(), 1, 2 * 86400)
        with self.assertRaises(convsearch.TokenLifetimeTooLong) as cm:
            convsearch.Client(url, token).search("desahucio")
        self.assertEqual((cm.exception.status, cm.exception.code), (401, "token_lifetime_too_long"))

    def test_wrong_secret_refused(self):
        token = convsearch.mint_token(b"another secret, 32 bytes long..", 1, 600)
        with self.assertRaises(convsearch.Unauthorized):
            convsearch.Client(url, token).search("desahucio")

    def test_bad_arguments(self):
        for args in ((b"", 1, 60), (b"s", 0, 60), (b"s", True, 60), (b"s", 1, 0), (b"s", "1", 60)):
            self.assertRaises(ValueError, convsearch.mint_token, *args)


class DropIn(unittest.TestCase):
    """convsearch.portal.search_conversation: the portal's search view."""

    def setUp(self):
        portal.configure(url=url, secret_file=secret_file)
        self.addCleanup(portal.configure)

    def test_shape_and_owner_filter(self):
        with portal.signed_in(1):
            got = portal.search_conversation("desahucio")
        self.assertEqual(len(got), 1)
        self.assertEqual(got[0]["conversation_id"], 1000)
        self.assertEqual(set(got[0]), {"conversation_id", "conversation"})
        self.assertIsInstance(got[0]["conversation"], list)
        self.assertIn("<em>desahucio</em>", got[0]["conversation"][0])
        with portal.signed_in(2):
            self.assertEqual([h["conversation_id"] for h in portal.search_conversation("desahucio")],
                             [2000])
        with portal.signed_in(3):
            self.assertEqual(portal.search_conversation("desahucio"), [])

    def test_title_and_description_fragments(self):
        with portal.signed_in(1):
            got = portal.search_conversation("entrevista")
            self.assertEqual(got, [{"conversation_id": 1000,
                                    "title": ["Primera <em>entrevista</em>"]}])
            got = portal.search_conversation("vivienda")
        self.assertEqual(got[0]["conversation_id"], 1000)
        self.assertEqual(got[0]["description"], ["Acogida y <em>vivienda</em>"])
        self.assertTrue(all("<em>vivienda</em>" in f for f in got[0]["conversation"]))

    def test_empty_text_and_not_signed_in(self):
        with portal.signed_in(1):
            self.assertEqual(portal.search_conversation("  "), [])
        with self.assertRaises(portal.NotSignedIn):
            portal.search_conversation("desahucio")

    def test_django_middleware(self):
        class User:
            def __init__(self, pk, authenticated=True):
                self.pk, self.is_authenticated = pk, authenticated

        class Request:
            def __init__(self, user):
                self.user = user

        def view(request):  # the portal's view, unchanged but for its import
            return portal.search_conversation(request.GET_q)

        mw = portal.SignedInEmployeeMiddleware(view)
        r = Request(User(2))
        r.GET_q = "desahucio"
        self.assertEqual([h["conversation_id"] for h in mw(r)], [2000])
        r = Request(User(None, authenticated=False))
        r.GET_q = "desahucio"
        self.assertRaises(portal.NotSignedIn, mw, r)

    def test_settings_from_environment(self):
        portal.configure()
        env = {"CONVSEARCH_URL": url, "CONVSEARCH_TOKEN_SECRET_FILE": secret_file,
               "CONVSEARCH_RESULTS": "1"}
        old = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            with portal.signed_in(1):
                self.assertEqual(len(portal.search_conversation("vivienda OR desahucio")), 1)
        finally:
            for k, v in old.items():
                if v is None:
                    del os.environ[k]
                else:
                    os.environ[k] = v


if __name__ == "__main__":
    unittest.main()
