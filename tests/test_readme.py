"""README.md and .ci/run agree on how the project is tested."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_ci_runs_exactly_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Test", 1)[1]
    command = re.search(r"```sh\n(.+?)\n```", section, re.S).group(1).strip()
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert ci_lines[-1] == command


def test_every_setting_is_documented():
    from webui.config import DEFAULTS

    readme = (ROOT / "README.md").read_text()
    assert [key for key in DEFAULTS if f"`{key}`" not in readme] == []
