#!/usr/bin/env python3
"""Exports a report (small cells already suppressed by the daemon) to a CSV file.

    python3 export_report_csv.py concerns out.csv [--from 2026-09-01] [--to 2026-12-01]
"""
import argparse
import datetime
import sys

from google.protobuf.timestamp_pb2 import Timestamp

from haven_client import Client, HavenError
from haven_client.messages import reports_pb2


def timestamp(day: str) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(datetime.datetime.strptime(day, "%Y-%m-%d"))
    return ts


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("report", choices=["concerns", "screening", "referrals", "caseload"])
    parser.add_argument("output")
    parser.add_argument("--from", dest="start")
    parser.add_argument("--to", dest="end")
    parser.add_argument("--period", default="month")
    args = parser.parse_args()
    request = reports_pb2.RunReportRequest(report=args.report, format="csv", period=args.period)
    if args.start:
        request.__getattribute__("from").CopyFrom(timestamp(args.start))
    if args.end:
        request.to.CopyFrom(timestamp(args.end))
    try:
        with Client() as haven:
            report = haven.call("haven.reports.v1.Reports", "Run", request, reports_pb2.Report)
    except HavenError as error:
        print("haven:", error, file=sys.stderr)
        return 1
    with open(args.output, "w") as f:
        f.write(report.rendered)
    print("wrote %s (%d tables, k=%d)" % (args.output, len(report.tables), report.k))
    return 0


if __name__ == "__main__":
    sys.exit(main())
