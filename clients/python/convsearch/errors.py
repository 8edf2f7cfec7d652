"""Exceptions raised by the convsearch client.

Every error answer of the server is {"error": {"code", "message"}} with a
4xx/5xx status (api/openapi.yaml, "Errors"). The client raises one class per
status (NotFound for 404, ...), or a narrower one for a few codes a caller
may want to handle on their own (TokenLifetimeTooLong, TooManyExports,
JobRunning); every class derives from ConvsearchError, which carries the
status, the code and the message. Failures below HTTP (no connection, a
timeout, a stream cut short) have status None.
"""


class ConvsearchError(Exception):
    """An error answer or a failed exchange with convsearch-server.

    status: the HTTP status (None when no answer arrived);
    code: the server's error code ("not_found", ...; "connection_failed",
          "timeout", "incomplete_stream" or "bad_response" for failures
          below HTTP);
    message: the server's sentence for a person.
    """

    def __init__(self, status, code, message):
        super().__init__(f"{code}: {message}" if status is None else f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


class BadRequest(ConvsearchError):
    """400: a malformed request or parameter (bad_parameter, bad_cursor, ...)."""


class Unauthorized(ConvsearchError):
    """401: no token, or one that is not valid or has expired."""


class TokenLifetimeTooLong(Unauthorized):
    """401 token_lifetime_too_long: exp is further ahead than --token-max-ttl."""


class Forbidden(ConvsearchError):
    """403: the token's role may not use the route."""


class NotFound(ConvsearchError):
    """404: no such thing, or one the caller may not see (the same answer)."""


class MethodNotAllowed(ConvsearchError):
    """405."""


class Conflict(ConvsearchError):
    """409."""


class JobRunning(Conflict):
    """409 job_running: a reindex job runs already."""


class TooLarge(ConvsearchError):
    """413: the request body is over 64 KiB."""


class UnsupportedMediaType(ConvsearchError):
    """415."""


class TooManyRequests(ConvsearchError):
    """429."""


class TooManyExports(TooManyRequests):
    """429 too_many_exports: this caller already runs 2 exports."""


class ServerError(ConvsearchError):
    """5xx other than 503."""


class Unavailable(ServerError):
    """503: the index cannot be read now, too many exports (busy), or no reindex jobs."""


class ConnectionFailed(ConvsearchError):
    """No answer: the server could not be reached or closed the connection."""


class Timeout(ConnectionFailed):
    """No answer within the client's timeout."""


class IncompleteStream(ConvsearchError):
    """An export stream ended without its last chunk: the data is incomplete."""


class BadResponse(ConvsearchError):
    """An answer that is not what the API documents (not JSON, ...)."""


_BY_CODE = {
    "token_lifetime_too_long": TokenLifetimeTooLong,
    "too_many_exports": TooManyExports,
    "job_running": JobRunning,
}

_BY_STATUS = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    405: MethodNotAllowed,
    409: Conflict,
    413: TooLarge,
    415: UnsupportedMediaType,
    429: TooManyRequests,
    503: Unavailable,
}


def error_for(status, code, message):
    """The exception for an error answer (status, error.code, error.message)."""
    cls = _BY_CODE.get(code) or _BY_STATUS.get(status)
    if cls is None:
        cls = ServerError if status >= 500 else ConvsearchError
    return cls(status, code, message)
