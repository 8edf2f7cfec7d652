"""The HTTP client of convsearch-server (api/openapi.yaml), standard library only.

Each method sends one request on a connection of its own (so one Client may
be shared by threads) and returns the JSON answer as the API documents it;
iter_search and iter_patients follow next_cursor to the end; export streams
NDJSON lines without holding the body in memory. An error answer raises the
exception of its status or code (convsearch.errors).
"""

import datetime
import http.client
import json
import socket
import ssl
import urllib.parse

from . import errors

__all__ = ["Client", "Export"]


def _param(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.timezone.utc)
        return value.isoformat()
    if isinstance(value, datetime.date):
        return value.isoformat()
    return str(value)


def _filters(patient=None, owner=None, conversation=None, from_=None, to=None, speaker=None,
             role=None):
    """The search filters shared by search, analytics and export, as parameters."""
    return {"patient": patient, "owner": owner, "conversation": conversation, "from": from_,
            "to": to, "speaker": speaker, "role": role}


class Export:
    """A streaming NDJSON export: iterate it for one dict per matching turn.

    The body is read line by line as the server produces it. A stream that
    ends without its last chunk raises IncompleteStream (the lines already
    yielded are then not all there is). Close it (or use it as a context
    manager) to drop the connection before the end.
    """

    def __init__(self, conn, response):
        self._conn = conn
        self._response = response

    def __iter__(self):
        # read1 rather than readline: http.client's readline reports a
        # chunked body cut short as a clean end, read1 raises IncompleteRead.
        rest = b""
        try:
            while True:
                try:
                    data = self._response.read1(65536)
                except http.client.IncompleteRead as e:
                    raise errors.IncompleteStream(None, "incomplete_stream",
                                                  "the export stream ended early") from e
                except (socket.timeout, TimeoutError) as e:
                    raise errors.Timeout(None, "timeout", "no data within the timeout") from e
                except (OSError, http.client.HTTPException) as e:
                    raise errors.IncompleteStream(None, "incomplete_stream", str(e)) from e
                if not data:
                    break
                lines = (rest + data).split(b"\n")
                rest = lines.pop()
                for line in lines:
                    yield self._decode(line)
            if rest:
                raise errors.IncompleteStream(None, "incomplete_stream",
                                              "the export stream ended inside a line")
        finally:
            self.close()

    @staticmethod
    def _decode(line):
        try:
            return json.loads(line)
        except ValueError as e:
            raise errors.BadResponse(None, "bad_response", "an export line is not JSON") from e

    def close(self):
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Client:
    """A client of one convsearch-server.

    url: the server's base URL ("http://127.0.0.1:8750"; https works too,
         verified with ssl_context or the system's CAs);
    token: a service token or a per-employee token (convsearch.mint_token);
    timeout: seconds to connect and for each read (an export may run longer
             than that, as long as data keeps coming).
    """

    def __init__(self, url, token, timeout=10.0, ssl_context=None):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        self.url = url
        self.token = token
        self.timeout = timeout
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._base = parts.path.rstrip("/")
        self._ssl = ssl_context

    # ------------------------------------------------------------ transport

    def _connect(self):
        if self._https:
            ctx = self._ssl or ssl.create_default_context()
            return http.client.HTTPSConnection(self._host, self._port, timeout=self.timeout,
                                               context=ctx)
        return http.client.HTTPConnection(self._host, self._port, timeout=self.timeout)

    def _open(self, method, path, params=None, body=None):
        """Sends a request; returns (connection, response) of a 2xx answer."""
        query = {k: _param(v) for k, v in (params or {}).items() if v is not None}
        target = self._base + path + ("?" + urllib.parse.urlencode(query) if query else "")
        headers = {"Accept": "application/json"}
        if self.token is not None:
            headers["Authorization"] = "Bearer " + self.token
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        conn = self._connect()
        try:
            conn.request(method, target, body=data, headers=headers)
            response = conn.getresponse()
            if 200 <= response.status < 300:
                return conn, response
            raw = response.read()
        except (socket.timeout, TimeoutError) as e:
            conn.close()
            raise errors.Timeout(None, "timeout",
                                 f"no answer from {self.url} within {self.timeout} s") from e
        except (OSError, http.client.HTTPException) as e:
            conn.close()
            raise errors.ConnectionFailed(None, "connection_failed",
                                          f"{self.url}: {e or type(e).__name__}") from e
        conn.close()
        try:
            err = json.loads(raw)["error"]
            code, message = str(err["code"]), str(err["message"])
        except (ValueError, TypeError, KeyError):
            code, message = "http_error", raw[:200].decode("utf-8", "replace") or response.reason
        raise errors.error_for(response.status, code, message)

    def _json(self, method, path, params=None, body=None):
        conn, response = self._open(method, path, params, body)
        try:
            raw = response.read()
        except (socket.timeout, TimeoutError) as e:
            raise errors.Timeout(None, "timeout", "the answer stopped arriving") from e
        except (OSError, http.client.HTTPException) as e:
            raise errors.ConnectionFailed(None, "connection_failed", str(e)) from e
        finally:
            conn.close()
        try:
            return json.loads(raw)
        except ValueError as e:
            raise errors.BadResponse(response.status, "bad_response",
                                     "the answer is not JSON") from e

    # ------------------------------------------------------------ routes

    def health(self):
        """GET /v1/health (no token needed)."""
        return self._json("GET", "/v1/health")

    def search(self, q, *, limit=None, cursor=None, sort=None, patient=None, owner=None,
               conversation=None, from_=None, to=None, speaker=None, role=None):
        """GET /v1/search: one page {total, took_ms, next_cursor, relaxed, hits}.

        from_ and to take ISO 8601 strings or date/datetime objects (naive
        datetimes are taken as UTC); owner narrows to one employee's
        conversations (within what the token may see).
        """
        params = {"q": q, "limit": limit, "cursor": cursor, "sort": sort}
        params.update(_filters(patient, owner, conversation, from_, to, speaker, role))
        return self._json("GET", "/v1/search", params)

    def iter_search(self, q, *, page_size=None, **kwargs):
        """Every hit of a search, following next_cursor page after page."""
        return self._pages(self.search, "hits", q, limit=page_size, **kwargs)

    def suggest(self, q, *, limit=None):
        """GET /v1/suggest: {suggestions: [{text, kind, id?}]} for the last word of q."""
        return self._json("GET", "/v1/suggest", {"q": q, "limit": limit})

    def patients(self, *, sort=None, q=None, limit=None, cursor=None):
        """GET /v1/patients: one page {items, next_cursor} of the caller's people."""
        return self._json("GET", "/v1/patients",
                          {"sort": sort, "q": q, "limit": limit, "cursor": cursor})

    def iter_patients(self, *, page_size=None, **kwargs):
        """Every person the caller sees, in the sort order, page after page."""
        return self._pages(self.patients, "items", limit=page_size, **kwargs)

    def conversation(self, conversation_id, *, q=None):
        """GET /v1/conversations/{id}: the transcript; q highlights its words."""
        return self._json("GET", f"/v1/conversations/{self._id(conversation_id)}", {"q": q})

    def checklist(self, conversation_id):
        """GET /v1/conversations/{id}/checklist."""
        return self._json("GET", f"/v1/conversations/{self._id(conversation_id)}/checklist")

    def qa_retrieve(self, question, *, conversation_id=None, patient_id=None, k=None,
                    max_tokens=None):
        """POST /v1/qa/retrieve: {passages, context, context_tokens}."""
        body = {"question": question, "conversation_id": conversation_id,
                "patient_id": patient_id, "k": k, "max_tokens": max_tokens}
        return self._json("POST", "/v1/qa/retrieve",
                          body={k_: v for k_, v in body.items() if v is not None})

    def analytics(self, group_by, *, q=None, patient=None, owner=None, conversation=None,
                  from_=None, to=None, speaker=None, role=None):
        """POST /v1/analytics: {group_by, buckets, total, took_ms[, timed_out]}."""
        filters = {k: _param(v) if k in ("from", "to") else v
                   for k, v in _filters(patient, owner, conversation, from_, to, speaker,
                                        role).items() if v is not None}
        body = {"group_by": group_by}
        if q is not None:
            body["q"] = q
        if filters:
            body["filters"] = filters
        return self._json("POST", "/v1/analytics", body=body)

    def export(self, q=None, *, patient=None, owner=None, conversation=None, from_=None,
               to=None, speaker=None, role=None):
        """GET /v1/export: an Export to iterate, one dict per matching turn.

        The request is sent now (an error answer raises here); the lines
        are read while iterating.
        """
        params = {"q": q}
        params.update(_filters(patient, owner, conversation, from_, to, speaker, role))
        conn, response = self._open("GET", "/v1/export", params)
        return Export(conn, response)

    def metrics(self):
        """GET /v1/metrics: the Prometheus text (admin and analyst tokens)."""
        conn, response = self._open("GET", "/v1/metrics")
        try:
            return response.read().decode("utf-8")
        finally:
            conn.close()

    # ------------------------------------------------------------ helpers

    @staticmethod
    def _id(value):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError("ids are positive integers")
        return value

    @staticmethod
    def _pages(method, key, *args, **kwargs):
        cursor = kwargs.pop("cursor", None)
        while True:
            page = method(*args, cursor=cursor, **kwargs)
            yield from page[key]
            cursor = page.get("next_cursor")
            if not cursor:
                return
