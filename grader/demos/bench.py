"""Time the demos: ``python -m grader.demos.bench [--repeat N]``.

For each demo it prints the size of its control grid, the time to compute every frame
(what making the widget costs, in a kernel or when the book is built), the size of the
frames as embedded in a page, and the time of one live update: a control change
recomputed in Python with ``grader.reference`` and encoded, as a kernel does it. The
issue asks for well under 50 ms per update; this measures, it does not assert.
"""

import argparse
import json
import random
import statistics
import time

from . import DEMOS


def bench(demo, repeat, rng):
    start = time.perf_counter()
    table = demo.table()
    table_seconds = time.perf_counter() - start
    size = len(json.dumps(table, separators=(",", ":")).encode())
    keys = list(demo.grid())
    times = []
    for indices in [rng.choice(keys) for _ in range(repeat)]:
        start = time.perf_counter()
        demo.frame(indices)
        times.append(1000 * (time.perf_counter() - start))
    return {
        "frames": len(table), "table_s": table_seconds, "size_kb": size / 1024,
        "median_ms": statistics.median(times), "p90_ms": sorted(times)[int(0.9 * (len(times) - 1))],
        "max_ms": max(times),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=40, help="live updates timed per demo")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random control positions")
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    header = f"{'chapter / demo':44} {'frames':>6} {'all frames':>10} {'embedded':>9} " \
             f"{'update median':>13} {'p90':>7} {'max':>7}"
    print(header)
    print("-" * len(header))
    for chapter, cls in DEMOS.items():
        result = bench(cls(), args.repeat, rng)
        print(f"{chapter + ' / ' + cls.name:44} {result['frames']:6d} {result['table_s']:9.2f}s "
              f"{result['size_kb']:7.0f}KB {result['median_ms']:11.1f}ms {result['p90_ms']:5.1f}ms "
              f"{result['max_ms']:5.1f}ms")


if __name__ == "__main__":
    main()
