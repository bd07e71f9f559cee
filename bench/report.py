"""The results of one invocation: rows of figures with median/min/max and targets, a table, and JSON."""
import datetime
import json
import os
import platform
import sys

from .stats import summary

SYMBOLS = {"<=": "≤", ">=": "≥", "==": "="}
CHECKS = {"<=": lambda a, b: a <= b, ">=": lambda a, b: a >= b, "==": lambda a, b: a == b}


def fmt(value):
    """A number in at most five characters or so, or a dash."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if abs(value) >= 1e6:
        return f"{value / 1e6:.3g}M"
    if abs(value) >= 1e5:
        return f"{value / 1e3:.3g}k"
    if value == int(value) or abs(value) >= 1000:
        return str(round(value))
    return f"{value:.3g}"


class Report:
    """Collects rows (one per figure and variant), free-form details, errors and timings."""

    def __init__(self, size, directory):
        """An empty report for benchmarks run at `size`; images go to `directory`."""
        self.size = size
        self.directory = directory
        self.rows = []
        self.details = {}
        self.errors = {}
        self.durations = {}
        # Other work on the machine skews every figure; the load average shows whether there was any.
        self.load_at_start = os.getloadavg()

    def add(self, figure, key, name, unit, values, target=None, note=None, path=None):
        """Add a row summarising per-run values; `key` is stable for machines, `name` is for people;
        `target` is (op, number), checked against the median; `path` is the chat path a server row measures
        ("stored" or "messages"), None for every other row."""
        row = {"figure": figure, "key": key, "name": name, "unit": unit, "path": path, **summary(values),
               "target": None, "met": None, "note": note}
        if target:
            op, limit = target
            row["target"] = f"{SYMBOLS[op]} {fmt(limit)}"
            row["met"] = None if row["median"] is None else CHECKS[op](row["median"], limit)
        self.rows.append(row)
        return row

    def unmeasurable(self, figure, key, name, reason, target=None):
        """Add a row for a figure that cannot be measured yet, saying why."""
        row = self.add(figure, key, name, None, [], note=reason)
        row["target"] = target
        return row

    def table(self):
        """The rows as a plain-text table."""
        header = ("fig", "measure", "median", "min", "max", "unit", "target", "met", "note")
        lines = [header] + [
            (str(r["figure"]), r["name"], fmt(r["median"]), fmt(r["min"]), fmt(r["max"]), r["unit"] or "",
             r["target"] or "", fmt(r["met"]) if r["met"] is not None else "", r["note"] or "")
            for r in self.rows
        ]
        lines += [("!", f"{name} failed", "", "", "", "", "", "", text.strip().splitlines()[-1])
                  for name, text in self.errors.items()]
        widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
        return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip() for line in lines)

    def markdown(self):
        """The rows as a Markdown table, for bench/README.md."""
        out = ["| fig | measure | median | min | max | unit | target | met | note |", "|---|---|---|---|---|---|---|---|---|"]
        for r in self.rows:
            met = fmt(r["met"]) if r["met"] is not None else ""
            out.append(f"| {r['figure']} | {r['name']} | {fmt(r['median'])} | {fmt(r['min'])} | {fmt(r['max'])} | "
                       f"{r['unit'] or ''} | {r['target'] or ''} | {met} | {r['note'] or ''} |")
        return "\n".join(out)

    def to_json(self):
        """Everything, for bench/results/latest.json."""
        return {
            "generated_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "size": self.size,
            "machine": {
                "cpus": os.cpu_count(),
                "python": sys.version.split()[0],
                "platform": platform.platform(),
                "loadavg_at_start": self.load_at_start,
                "loadavg_at_end": os.getloadavg(),
            },
            "durations_s": self.durations,
            "rows": self.rows,
            "details": self.details,
            "errors": self.errors,
        }

    def write(self):
        """Write latest.json and latest.md (the table for bench/README.md) into the results folder."""
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / "latest.json").write_text(json.dumps(self.to_json(), indent=2, ensure_ascii=False) + "\n")
        (self.directory / "latest.md").write_text(self.markdown() + "\n")
