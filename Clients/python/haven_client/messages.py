"""The generated protobuf modules, generated from Proto/ when the package is built.

    from haven_client.messages import daemon_pb2, concerns_pb2, screening_pb2
"""
from ._proto.ttrpc import request_pb2
from ._proto.google.rpc import status_pb2
from ._proto.haven.v1 import (
    access_pb2, concerns_pb2, daemon_pb2, directory_pb2, records_pb2, roster_pb2, timeline_pb2,
)
from ._proto.haven.screening.v1 import screening_pb2
from ._proto.haven.referrals.v1 import referrals_pb2
from ._proto.haven.reports.v1 import reports_pb2

__all__ = [
    "request_pb2", "status_pb2", "access_pb2", "concerns_pb2", "daemon_pb2", "directory_pb2", "records_pb2",
    "roster_pb2", "timeline_pb2", "screening_pb2", "referrals_pb2", "reports_pb2",
]
