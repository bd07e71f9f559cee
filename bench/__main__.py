"""`python -m bench [all | NAME | FIGURE ...] [--size tiny|small|full] [--results DIR]`."""
import argparse
import sys
import time
import traceback
from pathlib import Path

from . import RESULTS_DIR, api, concurrency, context_window, latency, local_model, opening, render, say, shared, throughput, workers
from .report import Report

BENCHMARKS = {
    "latency": latency,
    "concurrency": concurrency,
    "throughput": throughput,
    "render": render,
    "opening": opening,
    "local": local_model,
    "context": context_window,
    "api": api,
    "shared": shared,
    "workers": workers,
}
FIGURES = {
    "1": "latency", "2": "latency", "3": "concurrency", "4": "throughput", "5": "render", "6": "opening", "7": "local",
    "8": "context", "9": "workers", "10": "api", "11": "shared",
}


def chosen(names):
    """The benchmarks named (by name or figure number), in the order given, each once."""
    if not names or "all" in names:
        return list(BENCHMARKS)
    picked = []
    for name in names:
        name = FIGURES.get(name, name)
        if name not in BENCHMARKS:
            raise SystemExit(f"unknown benchmark {name!r}: use all, {', '.join(BENCHMARKS)} or a figure number 1-11")
        if name not in picked:
            picked.append(name)
    return picked


def main(argv=None):
    """Run the chosen benchmarks, print the table, write latest.json; exit 1 if any benchmark failed."""
    parser = argparse.ArgumentParser(prog="python -m bench", description="Benchmarks for the chat UI.")
    parser.add_argument("names", nargs="*", help="all (default), a benchmark name or a figure number")
    parser.add_argument("--size", choices=("tiny", "small", "full"), default="small")
    parser.add_argument("--results", type=Path, default=RESULTS_DIR, help="where latest.json and images go")
    args = parser.parse_args(argv)
    report = Report(args.size, args.results)
    for name in chosen(args.names):
        say(f"== {name} ({args.size})")
        started = time.monotonic()
        try:
            BENCHMARKS[name].run(args.size, report)
        except Exception:
            report.errors[name] = traceback.format_exc()
            say(report.errors[name])
        report.durations[name] = round(time.monotonic() - started, 1)
    print(report.table())
    report.write()
    say(f"wrote latest.json and latest.md to {args.results} in {sum(report.durations.values()):.0f} s")
    return 1 if report.errors else 0


if __name__ == "__main__":
    sys.exit(main())
