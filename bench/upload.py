"""Benchmark: streaming upload and Range reads of the content library (local storage).

1. A 1 GiB upload through POST /api/v1/content/{id}/versions (curl, multipart) against
   ``cp`` of the same file on the same disk, in the same run: throughput ratio (target ≥ 0.8)
   and the server's peak RSS growth during the upload (target < 64 MB).
2. 200 random 1 MiB Range reads of the uploaded video: p50/p95 beside the same reads from a
   plain static-file endpoint of the same server.
3. Re-uploading identical bytes: new bytes stored (target 0).

Run: ``make bench`` (or ``.venv/bin/python bench/upload.py [--size-mb N]``). Appends a row to
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.import_users import machine  # noqa: E402
from tests.support.live import free_port  # noqa: E402

SERVE = """
import sys
from fastapi.staticfiles import StaticFiles
import uvicorn
from app.core.config import Settings
from app.main import create_app
app = create_app(Settings())
app.mount("/bench-static", StaticFiles(directory=sys.argv[2]), name="bench-static")
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""


def rss_kib(pid: int, field: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(field)


def reset_peak(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def make_video(path: Path, size: int) -> None:
    """An MP4 header (ftyp isom) followed by incompressible bytes up to ``size``."""
    ftyp = (24).to_bytes(4, "big") + b"ftypisom" + (512).to_bytes(4, "big") + b"isomiso2"
    with path.open("wb") as fh:
        fh.write(ftyp + (size - len(ftyp)).to_bytes(4, "big") + b"mdat")
        remaining = size - len(ftyp) - 8
        block = os.urandom(8 * 1024 * 1024)
        while remaining > 0:
            fh.write(block[: min(len(block), remaining)])
            remaining -= len(block)


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--reads", type=int, default=200)
    args = parser.parse_args()
    size = args.size_mb * 1024 * 1024
    with tempfile.TemporaryDirectory(dir=ROOT / "var" if (ROOT / "var").is_dir() else None) as t:
        tmp = Path(t)
        data_dir, static_dir = tmp / "data", tmp / "static"
        static_dir.mkdir()
        source = tmp / "video.mp4"
        make_video(source, size)
        env = {
            **os.environ,
            "HOCSO_DATA_DIR": str(data_dir),
            "HOCSO_MAX_UPLOAD_MB": "4096",
            "HOCSO_GC_ON_STARTUP": "false",
        }
        subprocess.run(
            [sys.executable, "-m", "app.cli", "migrate"],
            env=env,
            check=True,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
        )
        subprocess.run(
            [
                sys.executable,
                "-m",
                "app.cli",
                "create-admin",
                "--email",
                "bench@bench.edu.vn",
                "--password",
                "Bench-2026!",
            ],
            env=env,
            check=True,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
        )
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-c", SERVE, str(port), str(static_dir)], env=env, cwd=ROOT
        )
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(100):
                try:
                    httpx.get(f"{base}/healthz")
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            token = httpx.post(
                f"{base}/api/v1/auth/token",
                data={"username": "bench@bench.edu.vn", "password": "Bench-2026!"},
            ).json()
            headers = {"Authorization": f"Bearer {token['access_token']}"}
            item = httpx.post(
                f"{base}/api/v1/content",
                headers=headers,
                json={"title": "Video bench", "kind": "video"},
            ).json()
            upload_url = f"{base}/api/v1/content/{item['id']}/versions"
            curl = [
                "curl",
                "-sS",
                "-f",
                "-o",
                "/dev/null",
                "-H",
                f"Authorization: {headers['Authorization']}",
                "-F",
                f"file=@{source};type=video/mp4",
                upload_url,
            ]

            # Baselines on the same disk, same run: cp, and cp + fsync (the app fsyncs).
            cp_dst = data_dir / "cp-copy.mp4"
            cp_s = timed(["cp", str(source), str(cp_dst)])
            cp_dst.unlink()
            cp_sync_s = timed(
                ["dd", f"if={source}", f"of={cp_dst}", "bs=4M", "conv=fsync", "status=none"]
            )
            cp_dst.unlink()

            rss_before = rss_kib(server.pid)
            reset_peak(server.pid)
            upload_s = timed(curl)
            peak_growth_mb = (rss_kib(server.pid, "VmHWM") - rss_before) / 1024
            blobs = data_dir / "blobs"
            stored_before = dir_bytes(blobs)
            timed(curl)  # identical bytes again
            new_bytes = dir_bytes(blobs) - stored_before
            versions = httpx.get(upload_url, headers=headers).json()
            assert versions["total"] == 2, versions

            # Range reads: the app's file endpoint vs a plain static file of the same server.
            shutil.copy(source, static_dir / "video.mp4")
            file_url = f"{upload_url}/1/file"
            rng = random.Random(57)
            offsets = [rng.randrange(0, size - 1024 * 1024) for _ in range(args.reads)]
            results: dict[str, list[float]] = {"app": [], "static": []}
            with httpx.Client(headers=headers) as client:
                for name, url in (("static", f"{base}/bench-static/video.mp4"), ("app", file_url)):
                    client.get(url, headers={"Range": "bytes=0-1023"})  # warm up
                    for off in offsets:
                        t0 = time.perf_counter()
                        r = client.get(url, headers={"Range": f"bytes={off}-{off + 1048575}"})
                        results[name].append((time.perf_counter() - t0) * 1000)
                        assert r.status_code == 206
                        assert len(r.content) == 1048576
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(timeout=20)

    mib = size / 1024 / 1024
    ratio = cp_s / upload_s
    ratio_sync = cp_sync_s / upload_s
    app_p50, app_p95 = percentile(results["app"], 50), percentile(results["app"], 95)
    st_p50, st_p95 = percentile(results["static"], 50), percentile(results["static"], 95)
    print(
        f"upload {mib:.0f} MiB: {upload_s:.2f} s ({mib / upload_s:.0f} MiB/s); "
        f"cp {cp_s:.2f} s ({mib / cp_s:.0f} MiB/s), cp+fsync {cp_sync_s:.2f} s; "
        f"throughput vs cp {ratio:.2f}× (target ≥ 0.8), vs cp+fsync {ratio_sync:.2f}×"
    )
    print(f"server peak RSS growth during upload: {peak_growth_mb:.1f} MB (target < 64)")
    print(f"identical re-upload stored {new_bytes} new bytes (target 0)")
    print(
        f"{args.reads} random 1 MiB Range reads: app p50 {app_p50:.1f} ms p95 {app_p95:.1f} ms;"
        f" static p50 {st_p50:.1f} ms p95 {st_p95:.1f} ms"
    )
    row = (
        f"| {datetime.now(UTC):%Y-%m-%d} | {mib:.0f} MiB | {upload_s:.2f} s | {cp_s:.2f} s | "
        f"{cp_sync_s:.2f} s | {ratio:.2f}× / {ratio_sync:.2f}× | {peak_growth_mb:.1f} MB | "
        f"{new_bytes} | {app_p50:.1f} / {app_p95:.1f} ms | {st_p50:.1f} / {st_p95:.1f} ms | "
        f"{machine()} |"
    )
    out = ROOT / "docs" / "benchmarks.md"
    text = out.read_text(encoding="utf-8")
    marker = "<!-- upload-rows -->"
    if marker in text:
        out.write_text(text.replace(marker, row + "\n" + marker), encoding="utf-8")
        print(f"recorded in {out}")


if __name__ == "__main__":
    main()
