#!/usr/bin/env python3
"""Time a node's restart over a record log of N records (docs/BENCHMARKS.md).

    python3 scripts/restart_time.py target/release/herd-node [N] [RUNS]

Writes DIR/Solo/records.log with N distinct clients (entries as the node
writes them: length u32 LE | CRC-32 u32 LE | AT line), then RUNS times
starts `herd-node --config examples/solo.toml` on it and measures, from the
spawn, when the start-up line comes and when the first WHATSAT is
answered; also with an empty log, for the part that is not the records.
Uses 127.0.0.1:13000-13200 (examples/solo.toml); stops each node it starts.
"""

import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

CONFIG = Path(__file__).resolve().parent.parent / "examples" / "solo.toml"


def write_log(path: Path, records: int) -> None:
    out = bytearray()
    for i in range(records):
        line = f"AT Solo +0.000100000 load-{i} +34.068930-118.445127 1700000000.{i:09}".encode()
        out += struct.pack("<II", len(line), zlib.crc32(line)) + line
    path.write_bytes(bytes(out))


def one_start(node: str, data: Path) -> tuple[float, float]:
    began = time.monotonic()
    proc = subprocess.Popen(
        [node, "--config", str(CONFIG), "--data-dir", str(data), "Solo"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        proc.stderr.readline()
        said = time.monotonic() - began
        while True:
            try:
                with socket.create_connection(("127.0.0.1", 13000), timeout=0.2) as conn:
                    conn.settimeout(5)
                    conn.sendall(b"WHATSAT nobody 1 1\n")
                    if conn.recv(100):
                        return said, time.monotonic() - began
            except OSError:
                time.sleep(0.005)
    finally:
        proc.terminate()
        proc.wait()


def main() -> None:
    node = sys.argv[1]
    records = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        (data / "Solo").mkdir(parents=True)
        log = data / "Solo" / "records.log"
        original = Path(tmp) / "records.log"
        write_log(original, records)
        for label, source in (("empty log", None), (f"{records} records", original)):
            times = []
            for _ in range(runs):
                if source is None:
                    log.write_bytes(b"")
                else:
                    shutil.copy(source, log)
                times.append(one_start(node, data))
            shown = ", ".join(f"{answered:.2f}" for _, answered in times)
            print(f"{label}: answering after {shown} s (start-up line {times[-1][0]:.2f} s in the last)")


if __name__ == "__main__":
    main()
