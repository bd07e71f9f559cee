"""Benchmarks for the chat UI: `python -m bench all` (see bench/README.md)."""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROVIDERS_DIR = Path(__file__).resolve().parent / "providers"
RESULTS_DIR = Path(__file__).resolve().parent / "results"


def say(*parts):
    """Progress on stderr, so stdout carries only the table."""
    print(*parts, file=sys.stderr, flush=True)
