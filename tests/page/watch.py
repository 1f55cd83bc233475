"""Shows a page in Debian's Chromium, driven by Playwright, and prints what it shows.

Usage: watch.py URL WIDTH HEIGHT SECONDS [CHROMIUM_ARG ...]

Every quarter of a second, one JSON line on stdout: the page's DOM as a person's
browser has it now. The Rust tests read the lines until the page shows what they
wait for, then end this process; it ends by itself after SECONDS. Playwright's own
browser download is not needed: it drives /usr/bin/chromium.
"""

import json
import sys
import time

from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"
# Root on CI machines (no sandbox), and WebGL in software.
ARGS = ["--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader"]


def main():
    url, width, height, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    extra = sys.argv[5:]
    deadline = time.monotonic() + seconds
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS + extra)
        page = browser.new_page(viewport={"width": width, "height": height})
        page.goto(url, wait_until="commit")
        while time.monotonic() < deadline:
            try:
                dom = page.content()
            except Exception:  # the page is navigating: try again next tick
                dom = ""
            try:
                print(json.dumps(dom), flush=True)
            except BrokenPipeError:  # the test has seen what it waited for
                break
            time.sleep(0.25)
        browser.close()


if __name__ == "__main__":
    main()
