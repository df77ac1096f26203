"""The Lighthouse gate of ``make audit`` (scripts/lighthouse_gate.py): it passes good reports,
fails a page below a threshold or one that ended elsewhere (not signed in), and records rows
in its section of docs/benchmarks.md without touching the rest."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest


def _report(tmp: Path, name: str, scores: dict[str, float], final: str = "/x") -> None:
    audits = {
        "total-byte-weight": {"numericValue": 12345},
        "largest-contentful-paint": {"numericValue": 900.0},
        "total-blocking-time": {"numericValue": 0.0},
        "cumulative-layout-shift": {"numericValue": 0.0},
        "network-requests": {"details": {"items": [{}, {}, {}]}},
        "meta-description": {"score": 0, "scoreDisplayMode": "binary"},
    }
    report = {
        "requestedUrl": "http://127.0.0.1:1/x",
        "finalDisplayedUrl": f"http://127.0.0.1:1{final}",
        "lighthouseVersion": "12.8.2",
        "environment": {"hostUserAgent": "Mozilla/5.0 HeadlessChrome/150.0.0.0 Safari/537.36"},
        "categories": {
            key: {"score": value, "auditRefs": [{"id": "meta-description", "weight": 1}]}
            for key, value in scores.items()
        },
        "audits": audits,
    }
    (tmp / f"{name}.json").write_text(json.dumps(report), encoding="utf-8")


@pytest.fixture(scope="module")
def gate() -> ModuleType:
    path = Path(__file__).resolve().parents[2] / "scripts" / "lighthouse_gate.py"
    spec = importlib.util.spec_from_file_location("lighthouse_gate", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_the_lighthouse_gate_passes_and_records(gate: Any, tmp_path: Path) -> None:
    good = {"performance": 0.97, "accessibility": 1.0, "best-practices": 0.96}
    _report(tmp_path, "home", good)
    assert gate.main([str(tmp_path)]) == 0
    benchmarks = tmp_path / "benchmarks.md"
    benchmarks.write_text("# Benchmarks\n\nearlier text\n", encoding="utf-8")
    results = [gate.read(tmp_path / "home.json")]
    gate.record(results, benchmarks)
    gate.record(results, benchmarks)
    text = benchmarks.read_text(encoding="utf-8")
    assert text.startswith("# Benchmarks\n\nearlier text\n")
    assert text.count("## Lighthouse") == 1
    assert text.count("| home | 97 | 100 | 96 | 12.1 KB | 3 |") == 2
    assert text.rstrip().endswith(gate.MARKER)


@pytest.mark.parametrize(
    ("scores", "final"),
    [
        ({"performance": 0.94, "accessibility": 1.0, "best-practices": 1.0}, "/x"),
        ({"performance": 1.0, "accessibility": 0.99, "best-practices": 1.0}, "/x"),
        ({"performance": 1.0, "accessibility": 1.0, "best-practices": 0.94}, "/x"),
        ({"performance": 1.0, "accessibility": 1.0, "best-practices": 1.0}, "/login"),
    ],
)
def test_the_lighthouse_gate_fails_below_a_threshold_or_off_the_page(
    gate: Any, tmp_path: Path, scores: dict[str, float], final: str
) -> None:
    _report(tmp_path, "home", {"performance": 1.0, "accessibility": 1.0, "best-practices": 1.0})
    _report(tmp_path, "lesson", scores, final)
    assert gate.main([str(tmp_path)]) == 1
    assert not gate.read(tmp_path / "lesson.json").passed
    assert gate.read(tmp_path / "home.json").passed
