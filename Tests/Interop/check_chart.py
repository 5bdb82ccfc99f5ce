#!/usr/bin/env python3
"""Renders a Haven HTML report in headless Chromium and checks that its SVG
charts were drawn: the screenshot must contain enough pixels of the first
bar colour (#2b6cb0), and the rendered DOM must hold the chart's bars.

    python3 check_chart.py REPORT.html OUT.png

Prints a JSON summary; exits non-zero when the charts did not render.
"""
import json
import os
import shutil
import subprocess
import sys

from PIL import Image


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    sys.exit("no headless browser found (install Debian's chromium)")


def main():
    report, out = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    browser = chromium()
    common = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--hide-scrollbars", "--no-first-run", "--window-size=1000,2400"]
    subprocess.run(common + ["--screenshot=" + out, "file://" + report], check=True, timeout=120,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    dom = subprocess.run(common + ["--dump-dom", "file://" + report], check=True, timeout=120,
                         capture_output=True, text=True).stdout
    image = Image.open(out).convert("RGB")
    target = (0x2B, 0x6C, 0xB0)
    raw = image.tobytes()
    bar_pixels = 0
    for i in range(0, len(raw), 3):
        if abs(raw[i] - target[0]) <= 12 and abs(raw[i + 1] - target[1]) <= 12 and abs(raw[i + 2] - target[2]) <= 12:
            bar_pixels += 1
    summary = {"width": image.width, "height": image.height, "bar_pixels": bar_pixels,
               "svg_in_dom": dom.count("<svg"), "bars_in_dom": dom.count('class="bar"')}
    print(json.dumps(summary))
    # The legend swatches alone are 100 pixels per chart: real bars are far more.
    ok = bar_pixels > 1500 and summary["svg_in_dom"] > 0 and summary["bars_in_dom"] > 0
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
