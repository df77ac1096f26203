"""The Lighthouse gate of ``make audit``: reads the JSON reports scripts/lighthouse_audit.py
wrote and fails unless every page has performance ≥ 95, accessibility = 100 and best practices
≥ 95. Prints a table; with ``--record`` adds the scores and transfer sizes to
docs/benchmarks.md (its last section, one row per page and run).

    .venv/bin/python scripts/lighthouse_gate.py [--record] [REPORT_DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ROOT / "docs" / "benchmarks.md"
MARKER = "<!-- lighthouse-rows -->"
THRESHOLDS = {"performance": 95, "accessibility": 100, "best-practices": 95}
PAGE_ORDER = (
    "sign-in",
    "home",
    "catalogue",
    "course",
    "lesson",
    "my-learning",
    "certificate-verify",
    "dashboard",
    "events",
    "clubs",
    "contests",
)
SECTION = f"""
## Lighthouse (`make audit`)

`make audit` serves the demo data (`hocso demo`) from a temporary data directory on a free port
and runs Lighthouse (npm `lighthouse`, pinned in `tools/audit/package-lock.json`) on Debian
Chromium (`--headless=new --no-sandbox --disable-gpu`) with its defaults: mobile emulation
(Moto G Power screen) and simulated throttling (slow 4G, 150 ms RTT, 1.6 Mbit/s, 4× CPU
slowdown). Pages behind sign-in are opened as the demo teacher `gv.thcs` (the dashboard as the
school manager `quanly.thcs`) with the session cookie. `scripts/lighthouse_gate.py` fails the
run unless performance ≥ 95, accessibility = 100 and best practices ≥ 95 on every page.
Transfer is everything the page loaded, as Lighthouse counts it (headers included, gzip);
LCP, TBT and CLS are the simulated values. CI does not run `make audit` (it needs Node and
takes minutes); the page-weight budgets (`tests/core/test_page_weight.py`) do run in
`make test`.

{{header}}
{MARKER}
"""
COLUMNS = (
    "date",
    "page",
    "performance",
    "accessibility",
    "best practices",
    "transfer",
    "requests",
    "LCP",
    "TBT",
    "CLS",
    "Lighthouse / Chromium",
)
HEADER = "| " + " | ".join(COLUMNS) + " |\n" + "|---" * len(COLUMNS) + "|"


@dataclass(frozen=True)
class Result:
    page: str
    scores: dict[str, int]
    transfer: int
    requests: int
    lcp_ms: float
    tbt_ms: float
    cls: float
    versions: str
    problems: list[str]

    @property
    def passed(self) -> bool:
        return not self.problems


def _audit_value(report: dict[str, Any], audit: str) -> float:
    value = report["audits"].get(audit, {}).get("numericValue")
    return float(value) if value is not None else float("nan")


def read(path: Path) -> Result:
    report = json.loads(path.read_text(encoding="utf-8"))
    page = path.stem
    problems: list[str] = []
    if report.get("runtimeError"):
        problems.append(f"runtime error: {report['runtimeError'].get('message', '?')}")
    requested = urlsplit(report["requestedUrl"]).path
    final = urlsplit(report.get("finalDisplayedUrl") or report["finalUrl"]).path
    if requested != final:
        problems.append(f"ended on {final} instead of {requested} (not signed in?)")
    scores: dict[str, int] = {}
    for category, minimum in THRESHOLDS.items():
        raw = report["categories"].get(category, {}).get("score")
        score = -1 if raw is None else round(raw * 100)
        scores[category] = score
        if score < minimum:
            failing = [
                ref["id"]
                for ref in report["categories"][category]["auditRefs"]
                if ref.get("weight")
                and (report["audits"][ref["id"]].get("score") or 0) < 1
                and report["audits"][ref["id"]].get("scoreDisplayMode") in ("binary", "numeric")
            ]
            problems.append(f"{category} {score} < {minimum} ({', '.join(failing[:6])})")
    requests = report["audits"].get("network-requests", {}).get("details", {}).get("items", [])
    chrome = report.get("environment", {}).get("hostUserAgent", "")
    chrome_version = next(
        (
            p.split("/")[1].split(".")[0]  # the user agent only carries the major version
            for p in chrome.split()
            if p.startswith(("Chrome/", "HeadlessChrome/"))
        ),
        "?",
    )
    return Result(
        page=page,
        scores=scores,
        transfer=int(_audit_value(report, "total-byte-weight")),
        requests=len(requests),
        lcp_ms=_audit_value(report, "largest-contentful-paint"),
        tbt_ms=_audit_value(report, "total-blocking-time"),
        cls=_audit_value(report, "cumulative-layout-shift"),
        versions=f"{report.get('lighthouseVersion', '?')} / {chrome_version}",
        problems=problems,
    )


def order(path: Path) -> tuple[int, str]:
    name = path.stem
    return (PAGE_ORDER.index(name) if name in PAGE_ORDER else len(PAGE_ORDER), name)


def table(results: list[Result]) -> str:
    lines = [
        f"{'page':<20} {'perf':>4} {'a11y':>4} {'bp':>4} {'transfer':>9} {'req':>4} "
        f"{'LCP':>7} {'TBT':>6} {'CLS':>6}  result"
    ]
    for r in results:
        lines.append(
            f"{r.page:<20} {r.scores['performance']:>4} {r.scores['accessibility']:>4} "
            f"{r.scores['best-practices']:>4} {r.transfer / 1024:>6.1f} KB {r.requests:>4} "
            f"{r.lcp_ms:>5.0f}ms {r.tbt_ms:>4.0f}ms {r.cls:>6.3f}  "
            + ("ok" if r.passed else "FAIL: " + "; ".join(r.problems))
        )
    return "\n".join(lines)


def rows(results: list[Result], day: str) -> str:
    return "".join(
        f"| {day} | {r.page} | {r.scores['performance']} | {r.scores['accessibility']} | "
        f"{r.scores['best-practices']} | {r.transfer / 1024:.1f} KB | {r.requests} | "
        f"{r.lcp_ms / 1000:.1f} s | {r.tbt_ms:.0f} ms | {r.cls:.3f} | {r.versions} |\n"
        for r in results
    )


def record(results: list[Result], benchmarks: Path = BENCHMARKS) -> None:
    """Add this run's rows to the Lighthouse section (created at the end the first time)."""
    text = benchmarks.read_text(encoding="utf-8")
    if MARKER not in text:
        text = text.rstrip("\n") + "\n" + SECTION.replace("{header}", HEADER)
    text = text.replace(MARKER, rows(results, date.today().isoformat()) + MARKER, 1)
    benchmarks.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "reports", nargs="?", type=Path, default=ROOT / "test-artifacts" / "lighthouse"
    )
    parser.add_argument("--record", action="store_true", help="append to docs/benchmarks.md")
    args = parser.parse_args(argv)
    paths = sorted(args.reports.glob("*.json"), key=order)
    if not paths:
        print(f"no Lighthouse reports in {args.reports}", file=sys.stderr)
        return 1
    results = [read(p) for p in paths]
    print(table(results))
    print(f"thresholds: {THRESHOLDS}")
    if args.record:
        record(results)
        print(f"recorded in {BENCHMARKS.relative_to(ROOT)}")
    failed = [r.page for r in results if not r.passed]
    if failed:
        print(f"Lighthouse gate FAILED on: {', '.join(failed)}", file=sys.stderr)
        return 1
    print("Lighthouse gate passed.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
