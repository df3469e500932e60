"""Python baselines for `cargo xtask bench`: importlib.reload of a changed module, and an import hit.

reload: a small module is rewritten (a new value, outside the timing) and
`importlib.reload` is timed until the new value is visible. Bytecode caching is off, so
every reload finds, reads, compiles and executes the new source (with a .pyc, a rewrite in
the same second with the same size could silently reload the old code).
import hit: `importlib.import_module` of a module already in `sys.modules`.
Prints one JSON object on stdout.
"""

import argparse
import importlib
import json
import statistics
import sys
import tempfile
import time
import timeit
from pathlib import Path

BODY = '''"""A module that changes."""
VALUE = {value}


def add(a, b):
    return (a + b) * VALUE


def greet(name):
    return "hello, %s (v%d)" % (name, VALUE)
'''


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    sys.dont_write_bytecode = True

    with tempfile.TemporaryDirectory(prefix="hotpack-bench-py-") as tmp:
        path = Path(tmp) / "hp_bench_mod.py"
        path.write_text(BODY.format(value=0))
        sys.path.insert(0, tmp)
        module = importlib.import_module("hp_bench_mod")

        times_us = []
        for i in range(1, args.repeat + 1):
            path.write_text(BODY.format(value=i))
            start = time.perf_counter()
            module = importlib.reload(module)
            elapsed = time.perf_counter() - start
            assert module.VALUE == i, "reload returned the old code"
            times_us.append(elapsed * 1e6)

        number = 200_000
        hit_s = min(timeit.repeat(lambda: importlib.import_module("hp_bench_mod"), number=number, repeat=5))

    print(json.dumps({
        "reload_us": {
            "median": statistics.median(times_us),
            "min": min(times_us),
            "mean": statistics.fmean(times_us),
            "n": len(times_us),
        },
        "import_hit_ns": hit_s / number * 1e9,
    }))


if __name__ == "__main__":
    main()
