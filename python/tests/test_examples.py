"""examples/partner.c and examples/partner.py, run as a partner would, with
FOUNDRY_* settings and a tenant set up as docs/security.md's walk-through."""

import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLES = os.path.join(HERE, "..", "..", "examples")


def _partner_env(broker, name):
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOUNDRY_")}
    env.update(FOUNDRY_ENDPOINT=broker.endpoint, FOUNDRY_KEY=broker.secret(name),
               FOUNDRY_BROKER_KEY=broker.broker_key,
               PYTHONPATH=os.path.join(HERE, ".."))
    for keep in ("FOUNDRY_LIB", "FOUNDRY_BUILD_DIR"):
        if keep in os.environ:
            env[keep] = os.environ[keep]
    return env


def _check(done):
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [l for l in lines if l.startswith("stored ")] == \
        ["stored tenant-acme 1", "stored tenant-acme 2", "stored tenant-acme 3"]
    assert [l for l in lines if l.startswith("read ")] == \
        ["read 1 acme.robot1.temp 21.5", "read 2 acme.robot1.temp 21.7",
         "read 3 acme.robot1.temp 22.0"]


def _tenant(broker):
    broker.key("acme", "--role", "partner", "--tenant", "acme", "--allow-publish", "acme.>",
               "--create-stream")


def test_c_example(broker):
    program = os.environ.get("FOUNDRY_EXAMPLE_PARTNER")
    if not program:
        pytest.fail("FOUNDRY_EXAMPLE_PARTNER is not set: run through meson test")
    _tenant(broker)
    _check(subprocess.run([program, "acme.robot1.temp", "tenant-acme", "acme"],
                          capture_output=True, text=True, env=_partner_env(broker, "acme"),
                          timeout=60))


def test_python_example(broker):
    _tenant(broker)
    _check(subprocess.run([sys.executable, os.path.join(EXAMPLES, "partner.py"),
                           "acme.robot1.temp", "tenant-acme", "acme"],
                          capture_output=True, text=True, env=_partner_env(broker, "acme"),
                          timeout=60))
