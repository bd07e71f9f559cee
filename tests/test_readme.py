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


def test_the_proxy_examples_set_or_clear_every_forwarded_header_webui_believes():
    # werkzeug's ProxyFix believes these from a trusted proxy; one the proxy leaves alone is the client's.
    believed = ("X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Forwarded-Prefix")
    deploy = (ROOT / "docs" / "deploy.md").read_text()
    nginx = re.search(r"```nginx\n(.+?)\n```", deploy, re.S).group(1)
    set_by_nginx = {name for name, _value in re.findall(r"^\s*proxy_set_header\s+(\S+)\s+(.+?);", nginx, re.M)}
    assert set_by_nginx >= set(believed)
    caddy = re.search(r"```caddy\n(.+?)\n```", deploy, re.S).group(1)
    assert re.search(r"^\s*header_up X-Forwarded-Prefix /chat$", caddy, re.M)
    # Served as the whole site, without a prefix, the header must still be cleared, in both.
    assert 'proxy_set_header X-Forwarded-Prefix "";' in nginx and "header_up -X-Forwarded-Prefix" in caddy
    assert "drop the prefix lines" not in deploy
