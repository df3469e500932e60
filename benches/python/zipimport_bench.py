"""Python baseline for `cargo xtask bench`: zipimport.zipimporter on hotpack's 10,000-entry bundle.

Times `zipimport.zipimporter(path)` (reads and parses the zip's central directory) with the
directory cache cleared before each run, so every run parses the archive again, as
hotpack's `Bundle::open` does. Prints one JSON object on stdout.
"""

import argparse
import json
import statistics
import time
import zipimport


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bundle", required=True, help="the bundle-10k.zip the Rust bench wrote")
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()

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


if __name__ == "__main__":
    main()
