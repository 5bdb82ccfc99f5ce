"""A typed client for havend (Haven's ttrpc protocol over a Unix socket)."""
from .client import Client, default_socket_candidates
from .errors import (
    Aborted, AlreadyExists, Cancelled, DataLoss, DeadlineExceeded, FailedPrecondition, HavenError, Internal,
    InvalidArgument, NotFound, OutOfRange, PermissionDenied, ResourceExhausted, Unauthenticated, Unavailable,
    Unimplemented, UnknownError, ProtocolError,
)

__all__ = [
    "Client", "default_socket_candidates", "HavenError", "ProtocolError", "Cancelled", "UnknownError",
    "InvalidArgument", "DeadlineExceeded", "NotFound", "AlreadyExists", "PermissionDenied", "ResourceExhausted",
    "FailedPrecondition", "Aborted", "OutOfRange", "Unimplemented", "Internal", "Unavailable", "DataLoss",
    "Unauthenticated",
]
