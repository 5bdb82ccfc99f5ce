"""The three example programs, run as a user would, against a real havend."""
import csv
import io
import time

from haven_client import Client
from haven_client.messages import concerns_pb2, directory_pb2, referrals_pb2


def an_imminent_concern(daemon):
    with Client(daemon.socket) as haven:
        found = haven.call("haven.v1.Students", "Find", directory_pb2.FindStudentsRequest(text="Alder", limit=50),
                           directory_pb2.FindStudentsResponse)
        student = next(s for s in found.students if s.school_name == "Riverside Middle School")
        created = haven.call("haven.v1.Concerns", "Create", concerns_pb2.CreateConcernRequest(
            student_ids=[student.id], category="self_harm_suicide", severity="imminent",
            narrative="Said goodbye to friends at lunch (synthetic)", told_lead_in_person="yes"),
            concerns_pb2.CreateConcernResponse)
        return created.concerns[0]


def its_referral(daemon, concern, timeout=10.0):
    """Waits for the emergency referral the routing rules make from `concern`.

    Routing runs after the concern's commit (an outbox subscriber, within a
    second), so a client that lists referrals at once may be too early."""
    deadline = time.monotonic() + timeout
    with Client(daemon.socket) as haven:
        while True:
            listed = haven.call("haven.referrals.v1.Referrals", "List", referrals_pb2.ListReferralsRequest(status="active"),
                                referrals_pb2.ListReferralsResponse)
            made = [r for r in listed.referrals if r.source_type == "concern" and r.source_id == concern.id]
            if made:
                return made[0]
            assert time.monotonic() < deadline, "no emergency referral for the imminent concern within %s s" % timeout
            time.sleep(0.05)


def test_urgent_referrals_lists_todays_emergency_referral(daemon, run_example):
    its_referral(daemon, an_imminent_concern(daemon))
    result = run_example("urgent_referrals.py")
    assert result.returncode == 0, result.stderr
    assert "emergency" in result.stdout
    assert "open urgent referral(s) today" in result.stdout


def test_watch_escalations_prints_the_escalation_of_an_unacknowledged_referral(daemon, run_example):
    an_imminent_concern(daemon)
    # Nobody acknowledges: with a 1 s deadline the referral escalates to the designated lead.
    result = run_example("watch_escalations.py", "--from", "1", "--count", "1", timeout=60)
    assert result.returncode == 0, result.stderr
    line = result.stdout.strip().splitlines()[0]
    assert " referral.escalated referral=" in line


def test_export_report_csv_writes_a_suppressed_report(daemon, run_example, tmp_path):
    out = tmp_path / "concerns.csv"
    result = run_example("export_report_csv.py", "concerns", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("wrote ")
    k = int(result.stdout.split("k=")[1].split(")")[0])
    assert k >= 2
    cells, header_next = [], False
    for row in csv.reader(io.StringIO(out.read_text())):
        if not row or row[0].startswith("#"):
            header_next = bool(row) and row[0].startswith("# ")
            continue
        if header_next:  # column names, e.g. grades "06", "07"
            header_next = False
            continue
        cells += row[1:]
    counts = [int(cell) for cell in cells if cell.isdigit()]
    assert counts, "the report has released counts"
    # Every released count is zero or at least k; the rest are suppressed ("*").
    assert all(n == 0 or n >= k for n in counts), out.read_text()
    assert "*" in cells


def test_an_example_reports_a_denial_as_a_clean_error(daemon, run_example):
    result = run_example("export_report_csv.py", "concerns", "/dev/null", token="hvn_unknown")
    assert result.returncode == 1
    assert "UNAUTHENTICATED" in result.stderr
