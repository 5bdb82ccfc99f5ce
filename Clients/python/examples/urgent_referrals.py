#!/usr/bin/env python3
"""Lists today's open urgent and emergency referrals (a tool with a token, or a linked staff user)."""
import datetime
import sys

from haven_client import Client, HavenError
from haven_client.messages import referrals_pb2


def main() -> int:
    today = datetime.datetime.now().date()
    try:
        with Client() as haven:
            listed = haven.call("haven.referrals.v1.Referrals", "List",
                                referrals_pb2.ListReferralsRequest(status="active"), referrals_pb2.ListReferralsResponse)
    except HavenError as error:
        print("haven:", error, file=sys.stderr)
        return 1
    shown = 0
    for r in listed.referrals:
        # Both in local time: "today" is the school's day, not UTC's.
        created = datetime.datetime.fromtimestamp(r.created_at.seconds).date()
        if r.priority in ("urgent", "emergency") and r.status != "closed" and created == today:
            owner = r.owner_name or "nobody yet"
            print("%s  %-9s %-12s student %s  owner %s  acknowledge by %s%s" % (
                r.id, r.priority, r.status, r.student_id, owner, r.acknowledge_by.ToDatetime().isoformat(timespec="minutes"),
                "  OVERDUE" if r.overdue else ""))
            shown += 1
    print("%d open urgent referral(s) today" % shown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
