"""Python baseline for `cargo xtask bench`: zipimport.zipimporter on hotpack's 10,000-entry bundle.

Times `zipimport.zipimporter(path)` (reads and parses the zip's central directory) with the
directory cache cleared before each run, so every run parses the archive again, as
hotpack's `Bundle::open` does. Prints one JSON object on stdout.

With `--pairs` it is the other half of `benches/archive.rs`'s `open-round`: it reads one line
per open from stdin and answers each with the milliseconds of one zipimporter open, so the
Rust bench alternates hotpack's open and python's one by one (each pair within ~40 ms of
each other, both sides on the same machine state).
"""

import argparse
import json
import statistics
import sys
import time
import zipimport


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bundle", required=True, help="the bundle-10k.zip the Rust bench wrote")
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--pairs", action="store_true", help="time one open per stdin line")
    args = parser.parse_args()
    if args.pairs:
        pairs(args.bundle)
        return

    times_ms = []
    for _ in range(args.repeat + 2):
        zipimport._zip_directory_cache.clear()
        start = time.perf_counter()
        importer = zipimport.zipimporter(args.bundle)
        times_ms.append((time.perf_counter() - start) * 1e3)
    entries = len(zipimport._zip_directory_cache[importer.archive])
    times_ms = times_ms[2:]  # warm-up: imports, page cache
    print(json.dumps({
        "zipimporter_ms": {
            "median": statistics.median(times_ms),
            "min": min(times_ms),
            "mean": statistics.fmean(times_ms),
            "n": len(times_ms),
        },
        "entries": entries,
    }))


def open_once(bundle: str) -> tuple[float, int]:
    """One zipimporter open with the directory cache cleared: (ms, entries)."""
    zipimport._zip_directory_cache.clear()
    start = time.perf_counter()
    importer = zipimport.zipimporter(bundle)
    ms = (time.perf_counter() - start) * 1e3
    return ms, len(zipimport._zip_directory_cache[importer.archive])


def pairs(bundle: str) -> None:
    for line in sys.stdin:
        if line.strip() != "open":
            break
        ms, entries = open_once(bundle)
        sys.stdout.write(json.dumps({"ms": ms, "entries": entries}) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
