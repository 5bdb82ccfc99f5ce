"""Status codes (gRPC's 17) as exceptions, each carrying the daemon's message."""
from typing import Dict, Type


class HavenError(Exception):
    """A call the daemon answered with a non-OK status."""

    code: int = 2
    name: str = "UNKNOWN"

    def __init__(self, message: str, code: int = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return "%s: %s" % (self.name, self.message)


class ProtocolError(Exception):
    """The bytes from the socket were not the ttrpc the daemon speaks."""


def _status(code: int, name: str) -> Type[HavenError]:
    return type(name.title().replace("_", ""), (HavenError,), {"code": code, "name": name})


Cancelled = _status(1, "CANCELLED")
UnknownError = _status(2, "UNKNOWN")
InvalidArgument = _status(3, "INVALID_ARGUMENT")
DeadlineExceeded = _status(4, "DEADLINE_EXCEEDED")
NotFound = _status(5, "NOT_FOUND")
AlreadyExists = _status(6, "ALREADY_EXISTS")
PermissionDenied = _status(7, "PERMISSION_DENIED")
ResourceExhausted = _status(8, "RESOURCE_EXHAUSTED")
FailedPrecondition = _status(9, "FAILED_PRECONDITION")
Aborted = _status(10, "ABORTED")
OutOfRange = _status(11, "OUT_OF_RANGE")
Unimplemented = _status(12, "UNIMPLEMENTED")
Internal = _status(13, "INTERNAL")
Unavailable = _status(14, "UNAVAILABLE")
DataLoss = _status(15, "DATA_LOSS")
Unauthenticated = _status(16, "UNAUTHENTICATED")

BY_CODE: Dict[int, Type[HavenError]] = {
    cls.code: cls for cls in (
        Cancelled, UnknownError, InvalidArgument, DeadlineExceeded, NotFound, AlreadyExists, PermissionDenied,
        ResourceExhausted, FailedPrecondition, Aborted, OutOfRange, Unimplemented, Internal, Unavailable,
        DataLoss, Unauthenticated,
    )
}


def error_for(code: int, message: str) -> HavenError:
    return BY_CODE.get(code, UnknownError)(message, code)
