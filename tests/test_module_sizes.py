"""No first-party module is long: Python in webui/, tests/, bench/, translations/ and scripts/, and the page's scripts."""
from pathlib import Path

from test_modules import MOST_LINES

ROOT = Path(__file__).resolve().parent.parent
PYTHON_FOLDERS = ("webui", "tests", "bench", "translations", "scripts")


def first_party_modules():
    """The project's own Python modules, and its scripts in static/ (static/vendor/ holds other projects')."""
    for folder in PYTHON_FOLDERS:
        yield from (path for path in sorted((ROOT / folder).rglob("*.py")) if "__pycache__" not in path.parts)
    yield from sorted((ROOT / "static").glob("*.js"))


def test_no_first_party_module_is_longer_than_most_lines():
    lengths = {str(path.relative_to(ROOT)): len(path.read_text(encoding="utf-8").splitlines()) for path in first_party_modules()}
    assert {"webui/__init__.py", "tests/conftest.py", "bench/__init__.py", "static/chat.js"} <= set(lengths), "modules not found"
    too_long = sorted(f"{path} ({length} lines)" for path, length in lengths.items() if length > MOST_LINES)
    assert too_long == [], f"longer than {MOST_LINES} lines, each to be split by concern: " + ", ".join(too_long)
