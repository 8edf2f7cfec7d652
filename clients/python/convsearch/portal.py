"""Drop-in replacement for the portal's search_conversation(text).

The legacy portal searched its OpenSearch index with a query_string query and
highlighting, and returned one dict per hit: the conversation's id and, per
field that matched, OpenSearch's highlight fragments (a field that did not
match is absent):

    [{"conversation_id": 1000,
      "title": ["Primera <em>entrevista</em>"],          # when the title matched
      "description": ["... <em>vivienda</em> ..."],       # when the description matched
      "conversation": ["Nos llegó la orden de <em>desahucio</em> el martes ..."]},
     ...]                                                # best first

search_conversation(text) here returns that shape from convsearch: the
"conversation" fragments are the hit's best matching turns (snippets), the
title its title_highlight, the description its description_highlight. Each
fragment is HTML-escaped with the matches in <em>...</em> (OpenSearch left
the text unescaped; here a template may mark fragments safe). The query
syntax is convsearch's (quotes for phrases, -word, OR, word*, title:),
close to query_string's.

It asks convsearch as the signed-in employee, with a short per-employee
token minted for the call, so each employee finds only their own people's
conversations (the legacy search had no owner filter). The employee is the
one of the current request (SignedInEmployeeMiddleware, for Django) or of a
`with signed_in(employee_id):` block.

Settings, from configure(...), else Django's settings, else the environment
(same names): CONVSEARCH_URL, CONVSEARCH_TOKEN_SECRET_FILE (the file given
to the server with --token-secret-file), CONVSEARCH_TOKEN_TTL (seconds,
default 300), CONVSEARCH_RESULTS (hits returned, default 10 like
OpenSearch's size), CONVSEARCH_TIMEOUT (seconds, default 10).
"""

import contextlib
import contextvars
import os

from .client import Client
from .errors import ConvsearchError
from .tokens import mint_token, read_secret

__all__ = ["search_conversation", "signed_in", "SignedInEmployeeMiddleware", "configure",
           "NotSignedIn", "to_highlight"]

_employee = contextvars.ContextVar("convsearch_employee", default=None)
_configured = {}

_DEFAULTS = {"CONVSEARCH_TOKEN_TTL": 300, "CONVSEARCH_RESULTS": 10, "CONVSEARCH_TIMEOUT": 10}


class NotSignedIn(ConvsearchError):
    """search_conversation was called outside a request of a signed-in employee."""

    def __init__(self):
        super().__init__(None, "not_signed_in",
                         "no signed-in employee (add convsearch.portal.SignedInEmployeeMiddleware"
                         " to MIDDLEWARE, or use convsearch.portal.signed_in)")


def configure(url=None, secret_file=None, ttl_seconds=None, results=None, timeout=None):
    """Sets the settings in code (None leaves one to Django or the environment)."""
    for name, value in (("CONVSEARCH_URL", url), ("CONVSEARCH_TOKEN_SECRET_FILE", secret_file),
                        ("CONVSEARCH_TOKEN_TTL", ttl_seconds), ("CONVSEARCH_RESULTS", results),
                        ("CONVSEARCH_TIMEOUT", timeout)):
        if value is None:
            _configured.pop(name, None)
        else:
            _configured[name] = value


def _django_setting(name):
    try:
        from django.conf import settings  # optional: only when running under Django
        return getattr(settings, name, None) if settings.configured else None
    except Exception:  # Django absent or not set up
        return None


def _setting(name):
    value = _configured.get(name)
    if value is None:
        value = _django_setting(name)
    if value is None:
        value = os.environ.get(name) or None
    if value is None:
        value = _DEFAULTS.get(name)
    if value is None:
        raise ConvsearchError(None, "not_configured", f"{name} is not set")
    return value


@contextlib.contextmanager
def signed_in(employee_id):
    """Within the block, search_conversation asks as employee_id (None: nobody)."""
    token = _employee.set(employee_id)
    try:
        yield
    finally:
        _employee.reset(token)


class SignedInEmployeeMiddleware:
    """Django middleware: the request's authenticated user is the employee.

    MIDDLEWARE = [..., "django.contrib.auth.middleware.AuthenticationMiddleware",
                  "convsearch.portal.SignedInEmployeeMiddleware", ...]
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        employee = user.pk if user is not None and getattr(user, "is_authenticated", False) \
            else None
        with signed_in(employee):
            return self.get_response(request)


def to_highlight(hit):
    """The legacy highlight dict of one /v1/search hit."""
    out = {"conversation_id": hit["conversation_id"]}
    if "<em>" in (hit.get("title_highlight") or ""):
        out["title"] = [hit["title_highlight"]]
    if hit.get("description_highlight"):
        out["description"] = [hit["description_highlight"]]
    fragments = [s["text"] for s in hit.get("snippets") or [] if "<em>" in s["text"]]
    if fragments:
        out["conversation"] = fragments
    return out


def search_conversation(text):
    """The signed-in employee's conversations matching text, best first, as
    highlight dicts (see the module's documentation). Raises NotSignedIn
    without an employee, and the client's errors (convsearch.errors) when
    convsearch refuses or cannot be reached."""
    employee = _employee.get()
    if employee is None:
        raise NotSignedIn()
    if not text or not text.strip():
        return []
    secret = read_secret(_setting("CONVSEARCH_TOKEN_SECRET_FILE"))
    token = mint_token(secret, int(employee), int(_setting("CONVSEARCH_TOKEN_TTL")))
    client = Client(_setting("CONVSEARCH_URL"), token,
                    timeout=float(_setting("CONVSEARCH_TIMEOUT")))
    page = client.search(text, limit=int(_setting("CONVSEARCH_RESULTS")))
    return [to_highlight(hit) for hit in page["hits"]]
