"""The Python client against a real havend: calls, streams, errors and tokens."""
import os
import threading

import pytest

from haven_client import (
    Client, HavenError, InvalidArgument, NotFound, PermissionDenied, Unauthenticated, Unavailable, Unimplemented,
)
from haven_client.messages import concerns_pb2, daemon_pb2, directory_pb2, records_pb2, reports_pb2, timeline_pb2


def riverside_student(client):
    found = client.call("haven.v1.Students", "Find", directory_pb2.FindStudentsRequest(text="Alder", limit=50),
                        directory_pb2.FindStudentsResponse)
    return next(s for s in found.students if s.school_name == "Riverside Middle School")


def test_hello_reports_the_protocol_range_and_the_caller_from_peer_credentials(client):
    hello = client.hello()
    assert hello.protocol.min <= 1 <= hello.protocol.max
    assert hello.caller.auth_method == "peer_credentials"
    assert hello.caller.uid == os.getuid()
    # --demo links the operator's uid to the demo counselor.
    assert hello.caller.display_name == "Alex Rivera"
    assert {"screening", "referrals", "reporting"} <= {p.id for p in hello.plugins}


def test_health_is_serving_with_every_component_healthy(client):
    health = client.health()
    assert health.status == daemon_pb2.HealthResponse.SERVING
    assert health.components and all(c.healthy for c in health.components)


def test_an_unknown_service_raises_unimplemented_with_the_daemons_message(client):
    with pytest.raises(Unimplemented) as raised:
        client.call_raw("haven.v1.NoSuchService", "Nothing")
    assert raised.value.code == 12
    assert "NoSuchService" in raised.value.message
    # The connection is still good after an error.
    assert client.health().status == daemon_pb2.HealthResponse.SERVING


def test_the_response_type_is_found_from_the_methods_descriptor(client):
    taxonomy = client.call("haven.v1.Concerns", "Taxonomy", concerns_pb2.TaxonomyRequest())
    assert type(taxonomy).DESCRIPTOR.full_name == "haven.v1.TaxonomyResponse"
    with pytest.raises(LookupError):
        client.call("haven.v1.NoSuchService", "Nothing", concerns_pb2.TaxonomyRequest())


def test_a_missing_record_raises_not_found(client):
    with pytest.raises(NotFound) as raised:
        client.call("haven.v1.Concerns", "Get", concerns_pb2.GetConcernRequest(concern_id="0190c0de-0000-7000-8000-000000000000"),
                    records_pb2.Concern)
    assert raised.value.message


def test_a_bad_request_raises_invalid_argument_naming_the_field(client):
    with pytest.raises(InvalidArgument) as raised:
        client.call("haven.v1.Concerns", "Create", concerns_pb2.CreateConcernRequest(category="bullying", severity="low",
                                                                                     narrative="x"),
                    concerns_pb2.CreateConcernResponse)
    assert "student" in raised.value.message
    assert isinstance(raised.value, HavenError)


def test_an_undecodable_payload_is_invalid_argument_and_the_connection_survives(client):
    with pytest.raises(InvalidArgument):
        client.call_raw("haven.v1.Students", "Find", b"\xff\xff\xff\xff")
    assert client.hello().caller.display_name == "Alex Rivera"


def test_a_token_carries_its_staff_members_access(client, daemon):
    school = riverside_student(client).school_id
    teacher = client.call("haven.v1.Staff", "Add", directory_pb2.AddStaffRequest(
        display_name="Pat Teacher (synthetic)", roles=["teacher"], school_ids=[school]), directory_pb2.AddStaffResponse).staff
    secret = client.call("haven.v1.Tokens", "Create", directory_pb2.CreateTokenRequest(staff_id=teacher.id, name="pytest"),
                         directory_pb2.CreateTokenResponse).secret
    assert secret.startswith("hvn_")
    with Client(daemon.socket, token=secret) as as_teacher:
        hello = as_teacher.hello()
        assert hello.caller.auth_method == "token"
        assert hello.caller.staff_id == teacher.id
        with pytest.raises(PermissionDenied) as raised:
            as_teacher.call("haven.reports.v1.Reports", "Run", reports_pb2.RunReportRequest(report="concerns", format="csv"),
                            reports_pb2.Report)
        assert raised.value.message
    with Client(daemon.socket, token="hvn_not-a-real-token") as stranger:
        with pytest.raises(Unauthenticated):
            stranger.hello()


def test_the_event_stream_yields_events_in_sequence_and_an_early_stop_reconnects(client):
    events = []
    for event in client.stream("haven.v1.Events", "Subscribe", timeline_pb2.SubscribeRequest(from_sequence=1)):
        events.append(event)
        if len(events) == 5:
            break
    assert [e.sequence for e in events] == sorted(e.sequence for e in events)
    assert all(e.type for e in events)
    # Breaking out dropped the half-read stream; the next call dials again.
    assert client.health().status == daemon_pb2.HealthResponse.SERVING


def test_a_second_client_calls_while_the_first_one_streams(client, daemon):
    seen = threading.Event()

    def follow():
        with Client(daemon.socket) as follower:
            request = timeline_pb2.SubscribeRequest(from_sequence=0, types=["concern.created"])
            for event in follower.stream("haven.v1.Events", "Subscribe", request):
                if event.type == "concern.created":
                    seen.set()
                    return

    thread = threading.Thread(target=follow, daemon=True)
    thread.start()
    student = riverside_student(client)
    # A new event reaches the follower (it subscribed for new events only; give it a moment to register).
    for _ in range(20):
        client.call("haven.v1.Concerns", "Create", concerns_pb2.CreateConcernRequest(
            student_ids=[student.id], category="bullying", severity="low", narrative="Pushed in the corridor (synthetic)"),
            concerns_pb2.CreateConcernResponse)
        if seen.wait(0.5):
            break
    assert seen.is_set()
    thread.join(5)


def test_connecting_to_a_missing_socket_raises_unavailable(tmp_path):
    with pytest.raises(Unavailable) as raised:
        Client(str(tmp_path / "nowhere.sock"))
    assert "havend" in raised.value.message
