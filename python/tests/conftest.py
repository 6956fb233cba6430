"""A real broker (and, for jobs, a real foundry-node) per test, started from
the build tree: FOUNDRY_BROKER, FOUNDRY_CTL, FOUNDRY_NODE name the binaries
(tests/meson.build sets them), keys are generated with `foundryctl keygen`
and the admin registered with `foundryctl bootstrap`, as docs/operations.md
does it. Nothing is mocked."""

import os
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def _binary(name):
    path = os.environ.get(name)
    if not path:
        pytest.fail("%s is not set: run the suite through meson test" % name)
    return path


class Broker:
    def __init__(self, root):
        self.root = root
        self.ctl = _binary("FOUNDRY_CTL")
        self.data = os.path.join(root, "data")
        self.keys = os.path.join(root, "keys")
        self.clients = os.path.join(root, "clients")
        self.broker_key = os.path.join(self.keys, "broker.key")
        self.procs = []
        self.run_ctl("keygen", "broker", "--out", self.keys, auth=False)
        self.key("admin")
        self.run_ctl("bootstrap", "--data-dir", self.data,
                     os.path.join(self.clients, "admin.key"), auth=False)
        log = open(os.path.join(root, "broker.log"), "ab")
        self.broker = subprocess.Popen(
            [_binary("FOUNDRY_BROKER"), "--data-dir", self.data, "--keys", self.keys, "--bind",
             "tcp://127.0.0.1:*", "--log-level", "info", "--set", "job_node_timeout_ms=1500"],
            stdout=log, stderr=log)
        self.endpoint = self._wait_ready()

    def _wait_ready(self):
        ready = os.path.join(self.data, "ready")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.broker.poll() is not None:
                pytest.fail("the broker exited %d" % self.broker.returncode)
            try:
                with open(ready) as f:
                    fields = dict(line.split(" ", 1) for line in f.read().splitlines() if " " in line)
                if int(fields.get("pid", "0")) == self.broker.pid and fields.get("endpoint"):
                    return fields["endpoint"]
            except OSError:
                pass
            time.sleep(0.02)  # a poll interval, bounded by the deadline
        pytest.fail("the broker did not become ready")

    def secret(self, name):
        return os.path.join(self.clients, name + ".key_secret")

    def key(self, name, *grants):
        """Generates NAME's key pair; with grants, registers it (key add)."""
        if not os.path.exists(self.secret(name)):
            self.run_ctl("keygen", name, "--out", self.clients, auth=False)
        if grants:
            self.run_ctl("key", "add", os.path.join(self.clients, name + ".key"), *grants)
        return self.secret(name)

    def run_ctl(self, *args, auth=True, check=True):
        cmd = [self.ctl]
        if auth:
            cmd += ["--endpoint", self.endpoint, "--key", self.secret("admin"),
                    "--broker-key", self.broker_key]
        env = {k: v for k, v in os.environ.items() if not k.startswith("FOUNDRY_")}
        env["XDG_CONFIG_HOME"] = os.path.join(self.root, "config")
        done = subprocess.run(cmd + list(args), capture_output=True, text=True, env=env,
                              timeout=60)
        if check and done.returncode != 0:
            pytest.fail("foundryctl %s: exit %d: %s" % (" ".join(args), done.returncode,
                                                          done.stderr))
        return done

    def node(self, name, site, jobs_text):
        """A foundry-node at site taking the jobs of jobs_text."""
        self.key(name, "--role", "node", "--site", site)
        jobs = os.path.join(self.root, name + ".jobs")
        with open(jobs, "w") as f:
            f.write(jobs_text)
        log = open(os.path.join(self.root, name + ".log"), "ab")
        proc = subprocess.Popen(
            [_binary("FOUNDRY_NODE"), "--site", site, "--endpoint", self.endpoint, "--key",
             self.secret(name), "--broker-key", self.broker_key, "--data-dir",
             os.path.join(self.root, name), "--jobs", jobs, "--set", "connect_timeout=200ms",
             "--set", "retry_max=500ms", "--set", "job_heartbeat=200ms"],
            stdout=log, stderr=log)
        self.procs.append(proc)
        return proc

    def stop(self):
        for proc in self.procs + [self.broker]:
            proc.terminate()
        for proc in self.procs + [self.broker]:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        return self.broker.returncode


@pytest.fixture
def broker(tmp_path):
    b = Broker(str(tmp_path))
    yield b
    assert b.stop() == 0, "the broker did not stop cleanly"
