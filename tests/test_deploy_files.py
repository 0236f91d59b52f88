"""The files of docs/deploy.md: the systemd units pass `systemd-analyze verify` and are
hardened, the environment example names every variable the settings read and the settings
load from it, logrotate reads its file."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import sys

import pytest

from tests.live import ROOT

UNITS = ROOT / "deploy" / "systemd"
EXAMPLE = ROOT / "deploy" / "chat.env.example"
# What the settings read that production does not set: tests and SQLite only.
NOT_FOR_PRODUCTION = {"DATABASE_TEST_NAME", "SQLITE_PATH"}
ENV_LINE = re.compile(r"(#\s*)?([A-Z][A-Z0-9_]*)=(.*)")
# A value systemd's EnvironmentFile= and the shell (bin/manage) read alike.
PLAIN_VALUE = re.compile(r"[^\s'\"$`\\]*")


def example() -> dict[str, tuple[bool, str]]:
    """Name -> (set, not a commented default; value)."""
    variables = {}
    for line in EXAMPLE.read_text().splitlines():
        match = ENV_LINE.fullmatch(line.strip())
        if match:
            commented, name, value = match.groups()
            variables[name] = (commented is None, value)
    return variables


def settings_variables() -> set[str]:
    source = (ROOT / "chatsite" / "settings.py").read_text()
    return set(re.findall(r'(?:envbool|envint|envlist|os\.environ\.get)\("([A-Z0-9_]+)"', source))


@pytest.mark.skipif(
    shutil.which("systemd-analyze") is None,
    reason="systemd-analyze is not installed (Debian: apt-get install systemd)",
)
def test_the_units_pass_systemd_analyze_verify(tmp_path):
    # The units name /srv/chat, where docs/deploy.md puts the code: here it is a stand-in
    # with the programs the units start, since verify checks that they exist.
    code = tmp_path / "srv-chat"
    (code / ".venv" / "bin").mkdir(parents=True)
    (code / "bin").mkdir()
    (code / ".venv" / "bin" / "python").symlink_to(sys.executable)
    (code / "bin" / "wait-ready").symlink_to(ROOT / "bin" / "wait-ready")
    units = tmp_path / "units"
    units.mkdir()
    for unit in UNITS.iterdir():
        (units / unit.name).write_text(unit.read_text().replace("/srv/chat", str(code)))
    names = ["chat-web@8001.service", "chat-worker.service", "chat-backup.service"]
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *names, "chat-backup.timer"],
        cwd=units,
        capture_output=True,
        text=True,
        timeout=60,
    )
    # Unknown keys and bad values are only warnings: none may be printed.
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


@pytest.mark.parametrize(
    "unit", ["chat-web@.service", "chat-worker.service", "chat-backup.service"]
)
def test_each_unit_runs_as_the_chat_user_hardened(unit):
    text = (UNITS / unit).read_text()
    for setting in [
        "User=chat",
        "EnvironmentFile=/etc/chat/chat.env",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "CapabilityBoundingSet=\n",
        "SystemCallFilter=@system-service",
    ]:
        assert setting in text, f"{unit}: {setting.strip()}"
    if unit != "chat-backup.service":
        assert "Restart=always" in text


def test_the_web_unit_answers_its_health_check_before_it_counts_as_started():
    text = (UNITS / "chat-web@.service").read_text()
    assert "ExecStartPost=/srv/chat/bin/wait-ready http://127.0.0.1:%i/healthz" in text
    assert "--host 127.0.0.1 --port %i" in text
    # The same server, with the same options, as bin/serve runs.
    unit = re.search(r"^ExecStart=\S+ -m uvicorn (.*)$", text, re.M)
    serve = re.search(
        r'"\$py" -m uvicorn (.*?) &$', (ROOT / "bin" / "serve").read_text(), re.S | re.M
    )
    assert unit and serve
    options = [part.replace("\\\n", " ").split() for part in (unit[1], serve[1])]
    assert options[0][:-4] == options[1][:-4] and "--loop" in options[0]
    assert "PROMETHEUS_MULTIPROC_DIR=/run/chat-metrics" in text


def test_the_env_example_names_every_variable_the_settings_read():
    missing = settings_variables() - set(example())
    assert not missing, f"not in deploy/chat.env.example: {sorted(missing)}"


def test_the_guide_documents_every_variable_the_settings_read():
    guide = (ROOT / "docs" / "deploy.md").read_text()
    missing = {name for name in settings_variables() if f"`{name}`" not in guide}
    assert not missing, f"not in docs/deploy.md's configuration table: {sorted(missing)}"


def test_every_value_in_the_env_example_reads_the_same_to_systemd_and_the_shell():
    for name, (_, value) in example().items():
        assert PLAIN_VALUE.fullmatch(value), f"{name}={value}"


def test_the_settings_load_from_the_env_example(tmp_path):
    """Filled in as docs/deploy.md says (the secret key), the example passes every check
    of `check --deploy`, read by bin/manage as the units read it."""
    filled = EXAMPLE.read_text().replace(
        "DJANGO_SECRET_KEY=\n", f"DJANGO_SECRET_KEY={secrets.token_urlsafe(50)}\n"
    )
    env_file = tmp_path / "chat.env"
    env_file.write_text(filled)
    env = {"PATH": os.environ["PATH"], "CHAT_ENV_FILE": str(env_file)}
    result = subprocess.run(
        [str(ROOT / "bin" / "manage"), "check", "--deploy", "--fail-level", "WARNING"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout

    # Unfilled, it says what is missing.
    env_file.write_text(EXAMPLE.read_text())
    unfilled = subprocess.run(
        [str(ROOT / "bin" / "manage"), "check"], env=env, capture_output=True, text=True
    )
    assert unfilled.returncode != 0
    assert "DJANGO_SECRET_KEY" in unfilled.stderr


@pytest.mark.skipif(shutil.which("logrotate") is None, reason="logrotate is not installed")
def test_logrotate_reads_its_file(tmp_path):
    # The user chat of docs/deploy.md does not exist here.
    config = tmp_path / "chat"
    config.write_text(
        (ROOT / "deploy" / "logrotate.conf").read_text().replace("su chat chat", "su root root")
    )
    config.chmod(0o644)
    result = subprocess.run(
        ["logrotate", "--debug", "--state", str(tmp_path / "state"), str(config)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert "error" not in result.stderr.lower()
