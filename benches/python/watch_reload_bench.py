"""Python baseline for `reload_default_p50_us`: watch + reload a module from a zip, as a user would.

The same rename-over as `benches/reload.rs` (part `default`): a zip holding the module
`hp_watch_mod` sits in a watched directory and is on `sys.path`; each swap renames a NEW
zip (prepared before timing, a new `VALUE`) over it. A watcher thread reacts to the
inotify event for that path with `importlib.invalidate_caches()` (drops zipimport's cached
central directory) + `importlib.reload(module)`, then signals; the main thread's clock stops
when the reloaded module answers the new value. Nothing is tuned: watchdog's own inotify
observer when `watchdog` can be imported (the xtask installs it into a venv under
`target/` when PyPI is reachable), otherwise a small ctypes inotify reader (IN_MOVED_TO |
IN_CLOSE_WRITE on the directory). Bytecode writing is off (a zip gets none anyway).
Prints one JSON object on stdout.
"""

import argparse
import ctypes
import importlib
import json
import os
import statistics
import struct
import sys
import threading
import time
import zipfile
from pathlib import Path

MODULE = "hp_watch_mod"
BODY = '''"""A module that changes."""
VALUE = {value}


def add(a, b):
    return (a + b) * VALUE
'''


def make_zip(path: Path, value: int) -> None:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr(MODULE + ".py", BODY.format(value=value))


class Reloader:
    """Reloads the module on each change of the zip and signals the main thread."""

    def __init__(self, target: Path):
        self.target = str(target)
        self.module = importlib.import_module(MODULE)
        self.done = threading.Event()

    def changed(self, path: str) -> None:
        if path != self.target:
            return
        importlib.invalidate_caches()
        self.module = importlib.reload(self.module)
        self.done.set()


def start_watchdog(live: Path, reloader: Reloader):
    from watchdog.events import FileSystemEventHandler
    from watchdog.observers import Observer

    class Handler(FileSystemEventHandler):
        def on_any_event(self, event):
            if event.event_type in ("created", "moved", "modified", "closed"):
                reloader.changed(getattr(event, "dest_path", "") or event.src_path)

    observer = Observer()
    observer.schedule(Handler(), str(live), recursive=False)
    observer.start()
    return "watchdog " + __import__("watchdog.version").version.VERSION_STRING


def start_inotify(live: Path, reloader: Reloader):
    libc = ctypes.CDLL(None, use_errno=True)
    fd = libc.inotify_init1(0)
    if fd < 0:
        raise OSError(ctypes.get_errno(), "inotify_init1")
    in_close_write, in_moved_to = 0x8, 0x80
    if libc.inotify_add_watch(fd, str(live).encode(), in_close_write | in_moved_to) < 0:
        raise OSError(ctypes.get_errno(), "inotify_add_watch")

    def loop():
        while True:
            buf = os.read(fd, 65536)  # blocks without the GIL
            off = 0
            while off < len(buf):
                _wd, _mask, _cookie, length = struct.unpack_from("iIII", buf, off)
                name = buf[off + 16: off + 16 + length].rstrip(b"\0").decode()
                off += 16 + length
                reloader.changed(str(live / name))

    threading.Thread(target=loop, daemon=True).start()
    return "ctypes inotify"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", required=True, help="an empty scratch directory")
    parser.add_argument("--swaps", type=int, default=20)
    args = parser.parse_args()
    sys.dont_write_bytecode = True

    live, staging = Path(args.dir) / "live", Path(args.dir) / "staging"
    live.mkdir(parents=True, exist_ok=True)
    staging.mkdir(parents=True, exist_ok=True)
    target = live / "pymod.zip"
    make_zip(target, 0)
    staged = []
    for i in range(1, args.swaps + 1):
        path = staging / f"next-{i}.zip"
        make_zip(path, i)
        staged.append(path)
    sys.path.insert(0, str(target))
    reloader = Reloader(target)
    try:
        watcher = start_watchdog(live, reloader)
    except ImportError:
        watcher = start_inotify(live, reloader)
    time.sleep(0.05)

    times_us = []
    for i, path in enumerate(staged, start=1):
        time.sleep(0.02)
        reloader.done.clear()
        start = time.perf_counter()
        os.rename(path, target)
        while reloader.module.VALUE != i:
            if not reloader.done.wait(30):
                raise SystemExit(f"swap {i} did not arrive within 30 s")
            reloader.done.clear()
        times_us.append((time.perf_counter() - start) * 1e6)
        assert reloader.module.add(1, 2) == 3 * i

    print(json.dumps({
        "watch_reload_us": {
            "median": statistics.median(times_us),
            "min": min(times_us),
            "max": max(times_us),
            "mean": statistics.fmean(times_us),
            "n": len(times_us),
        },
        "samples_us": times_us,
        "watcher": watcher,
    }))
    sys.stdout.flush()
    os._exit(0)  # the watcher threads never end


if __name__ == "__main__":
    main()
