"""convsearch: a client of convsearch-server (standard library only).

    import convsearch
    c = convsearch.Client("http://127.0.0.1:8750", token)
    for hit in c.iter_search("desahucio"):
        ...

convsearch.mint_token(secret, employee_id, ttl_seconds) mints per-employee
tokens; convsearch.portal.search_conversation(text) is the drop-in for the
portal's search view (see the project README, "Python client and the portal's search view").
"""

from .client import Client, Export
from .errors import (BadRequest, BadResponse, Conflict, ConnectionFailed, ConvsearchError,
                     Forbidden, IncompleteStream, JobRunning, MethodNotAllowed, NotFound,
                     ServerError, Timeout, TokenLifetimeTooLong, TooLarge, TooManyExports,
                     TooManyRequests, Unauthorized, Unavailable, UnsupportedMediaType)
from .tokens import mint_token, read_secret

__version__ = "0.12.0"

__all__ = [
    "Client", "Export", "mint_token", "read_secret", "ConvsearchError", "BadRequest",
    "BadResponse", "Conflict", "ConnectionFailed", "Forbidden", "IncompleteStream",
    "JobRunning", "MethodNotAllowed", "NotFound", "ServerError", "Timeout",
    "TokenLifetimeTooLong", "TooLarge", "TooManyExports", "TooManyRequests", "Unauthorized",
    "Unavailable", "UnsupportedMediaType",
]
