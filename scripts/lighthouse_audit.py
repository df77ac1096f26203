"""``make audit``: Lighthouse (tools/audit, pinned) over the key pages of a live server with
the demo data, on Debian Chromium, mobile emulation with simulated throttling (Lighthouse's
defaults), one JSON report per page; then scripts/lighthouse_gate.py judges them.

The server runs as ``make run`` would, but in a temporary data directory and on a free port, so
it never touches ./var or a server already running. Pages behind sign-in get the session
cookie through ``--extra-headers``. Not part of ``make test`` and not run by CI (it takes
minutes and needs Node); run it by hand before a release or after changing the front end.

    .venv/bin/python scripts/lighthouse_audit.py [--out DIR] [--pages NAME,...]
"""

from __future__ import annotations

import argparse
import http.cookiejar
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
LIGHTHOUSE = ROOT / "tools" / "audit" / "node_modules" / ".bin" / "lighthouse"
CHROME_FLAGS = "--headless=new --no-sandbox --disable-gpu"
PASSWORD = "HocSo@2026"  # every demo account's (app.accounts.demo.DEMO_PASSWORD)
LEARNER = "gv.thcs@tancuong.edu.vn"
MANAGER = "quanly.thcs@tancuong.edu.vn"


@dataclass(frozen=True)
class Page:
    name: str
    path: str
    user: str | None  # who is signed in, None for a visitor


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_up(base: str, server: subprocess.Popen[bytes], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit("the server exited while starting")
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise SystemExit("the server did not start")


class Browser:
    """A cookie-keeping HTTP client, to sign in and find the demo's ids."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def get(self, path: str) -> str:
        with self.opener.open(self.base + path, timeout=30) as response:
            return str(response.read().decode("utf-8"))

    def post(self, path: str, data: dict[str, str]) -> str:
        body = urllib.parse.urlencode(data).encode()
        with self.opener.open(self.base + path, data=body, timeout=30) as response:
            return str(response.read().decode("utf-8"))

    def csrf(self, path: str) -> str:
        match = re.search(r'name="csrf_token" value="([^"]+)"', self.get(path))
        if match is None:
            raise SystemExit(f"no CSRF token on {path}")
        return match.group(1)

    def sign_in(self, email: str) -> str:
        self.post(
            "/login",
            {"email": email, "password": PASSWORD, "csrf_token": self.csrf("/login")},
        )
        names = {cookie.name for cookie in self.jar}
        if "hocso_session" not in names:
            raise SystemExit(f"could not sign in as {email}")
        # All of them, the CSRF seed too: a page that sets a cookie would otherwise put it in
        # Chrome's jar, whose Cookie header then replaces the extra one on later requests
        # (the lesson's image came back as the sign-in page).
        return "; ".join(f"{cookie.name}={cookie.value}" for cookie in self.jar)


def first(pattern: str, html: str, what: str) -> str:
    match = re.search(pattern, html)
    if match is None:
        raise SystemExit(f"demo data: no {what}")
    return match.group(1)


def key_pages(base: str, env: dict[str, str]) -> tuple[list[Page], dict[str, str]]:
    """The pages to audit, with the demo's ids filled in, and a cookie per signed-in user."""
    learner = Browser(base)
    cookies = {LEARNER: learner.sign_in(LEARNER)}
    catalogue = learner.get("/courses")
    course = first(r'href="/courses/(\d+)"', catalogue, "course")
    course_page = learner.get(f"/courses/{course}")
    if f'action="/courses/{course}/enroll"' in course_page:
        learner.post(f"/courses/{course}/enroll", {"csrf_token": learner.csrf("/my")})
        course_page = learner.get(f"/courses/{course}")
    lesson = first(r'href="/lessons/(\d+)"', course_page, "lesson")
    manager = Browser(base)
    cookies[MANAGER] = manager.sign_in(MANAGER)
    code = subprocess.run(
        [
            str(BIN / "python"),
            "-c",
            "from sqlalchemy import select\n"
            "from app.core.config import get_settings\n"
            "from app.core.db import make_engine\n"
            "from app.lms.models import Certificate\n"
            "with make_engine(get_settings()).connect() as c:\n"
            "    print(c.scalar(select(Certificate.code).order_by(Certificate.id)))\n",
        ],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    pages = [
        Page("sign-in", "/login", None),
        Page("home", "/", LEARNER),
        Page("catalogue", "/courses", LEARNER),
        Page("course", f"/courses/{course}", LEARNER),
        Page("lesson", f"/lessons/{lesson}", LEARNER),
        Page("my-learning", "/my", LEARNER),
        Page("certificate-verify", f"/verify/{code}", None),
        Page("dashboard", "/reports", MANAGER),
        Page("events", "/events", LEARNER),
        Page("clubs", "/clubs", LEARNER),
        Page("contests", "/contests", LEARNER),
    ]
    return pages, cookies


def run_lighthouse(base: str, page: Page, cookie: str | None, out: Path) -> Path:
    report = out / f"{page.name}.json"
    command = [
        str(LIGHTHOUSE),
        base + page.path,
        "--output=json",
        f"--output-path={report}",
        "--only-categories=performance,accessibility,best-practices",
        f"--chrome-flags={CHROME_FLAGS}",
        "--quiet",
    ]
    if cookie:
        command.append("--extra-headers=" + json.dumps({"Cookie": cookie}))
    env = {**os.environ, "CHROME_PATH": os.environ.get("CHROME_PATH", "/usr/bin/chromium")}
    print(f"lighthouse {page.name:<20} {page.path}", flush=True)
    subprocess.run(command, env=env, check=True, timeout=300)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "test-artifacts" / "lighthouse")
    parser.add_argument("--pages", help="comma-separated page names (default: all)")
    args = parser.parse_args()
    if not LIGHTHOUSE.exists():
        raise SystemExit("Lighthouse is not installed: (cd tools/audit && npm ci)")
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="hocso-audit-") as data_dir:
        env = {
            **os.environ,
            "HOCSO_DATA_DIR": data_dir,
            "HOCSO_GC_ON_STARTUP": "false",
        }
        env.pop("HOCSO_DATABASE_URL", None)
        for step in ("migrate", "demo"):
            subprocess.run(
                [str(BIN / "hocso"), step], env=env, cwd=ROOT, check=True, capture_output=True
            )
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server = subprocess.Popen(
            [str(BIN / "hocso"), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_until_up(base, server)
            pages, cookies = key_pages(base, env)
            wanted = set(args.pages.split(",")) if args.pages else None
            for page in pages:
                if wanted is None or page.name in wanted:
                    cookie = cookies[page.user] if page.user else None
                    run_lighthouse(base, page, cookie, args.out)
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(f"reports in {args.out}")


if __name__ == "__main__":
    main()
