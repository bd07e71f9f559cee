"""The package's own shape: every module in webui/ opens with a line that says what it holds, and none is long."""
import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "webui"
# A module longer than this holds more than one concern: split it.
MOST_LINES = 300


def without_a_summary_line():
    """The modules whose docstring is missing or does not open with one sentence alone on its line."""
    for path in sorted(PACKAGE.rglob("*.py")):
        lines = (ast.get_docstring(ast.parse(path.read_text()), clean=False) or "").split("\n")
        if not lines[0].strip().endswith(".") or (len(lines) > 1 and lines[1].strip()):
            yield str(path.relative_to(PACKAGE.parent))


def test_every_module_opens_with_one_line_that_says_what_it_holds():
    assert list(without_a_summary_line()) == []


def test_no_module_is_longer_than_most_lines():
    lengths = {str(path.relative_to(PACKAGE.parent)): len(path.read_text().splitlines()) for path in PACKAGE.rglob("*.py")}
    assert {path: length for path, length in lengths.items() if length > MOST_LINES} == {}
