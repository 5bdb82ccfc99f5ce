#!/usr/bin/env python3
"""Follows the event stream and prints each referral.escalated event (ids and codes only).

    python3 watch_escalations.py [--from SEQUENCE] [--count N]
"""
import argparse
import sys

from haven_client import Client, HavenError
from haven_client.messages import timeline_pb2


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--from", dest="start", type=int, default=0, help="resume from this sequence (default: new events only)")
    parser.add_argument("--count", type=int, default=0, help="stop after this many events (default: run until interrupted)")
    args = parser.parse_args()
    seen = 0
    try:
        with Client() as haven:
            request = timeline_pb2.SubscribeRequest(from_sequence=args.start, types=["referral.escalated"])
            for event in haven.stream("haven.v1.Events", "Subscribe", request):
                attributes = " ".join("%s=%s" % kv for kv in sorted(event.attributes.items()))
                print("%d %s referral=%s student=%s %s" % (event.sequence, event.type, event.subject_id, event.student_id, attributes), flush=True)
                seen += 1
                if args.count and seen >= args.count:
                    break
    except HavenError as error:
        print("haven:", error, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
