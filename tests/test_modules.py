"""The package's own shape: every module in webui/ opens with a line that says what it holds."""
import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "webui"


def without_a_summary_line():
    """The modules whose docstring is missing or does not open with one sentence alone on its line."""
    for path in sorted(PACKAGE.rglob("*.py")):
        lines = (ast.get_docstring(ast.parse(path.read_text()), clean=False) or "").split("\n")
        if not lines[0].strip().endswith(".") or (len(lines) > 1 and lines[1].strip()):
            yield str(path.relative_to(PACKAGE.parent))


def test_every_module_opens_with_one_line_that_says_what_it_holds():
    assert list(without_a_summary_line()) == []
