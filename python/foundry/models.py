"""Models and rollouts: Client.push_model, keygen_model and the rollout
helpers (docs/python.md, docs/models.md, docs/rollouts.md).

A push goes through foundry_model_push; rollouts are the rollouts
service's admin commands (rollout.start/status/ls/pause/resume/abort),
sent with foundry_admin, so the key must be an admin key.
"""

import ctypes
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional

from . import _lib
from .errors import FoundryError, check, EINVAL, ENOTFOUND, ETIMEDOUT

_L = _lib.lib
PHASES = {0: "hashing", 1: "uploading", 2: "publishing"}
ENDED = ("succeeded", "aborted")
# How often wait_rollout asks the broker: a rollout moves in seconds.
_WAIT_POLL_S = 0.2


def _b(text):
    return text.encode() if isinstance(text, str) else bytes(text)


def _s(raw):
    return raw.decode(errors="replace") if raw else ""


def _array(items):
    encoded = [_b(str(item)) for item in items]
    return (ctypes.c_char_p * max(len(encoded), 1))(*encoded), len(encoded)


def _pairs(items, what):
    """key=value strings from a dict or an iterable of "k=v" strings."""
    if isinstance(items, dict):
        items = ["%s=%s" % (k, v) for k, v in items.items()]
    items = list(items)
    for item in items:
        if "=" not in str(item):
            raise FoundryError(EINVAL, "%s %r is not key=value" % (what, item))
    return items


@dataclass
class Pushed:
    """What a push did (foundry_model_pushed_t)."""
    version: int
    log_index: int
    artifact: str     # hex
    size: int
    chunk_count: int
    chunks_held: int  # already on the broker: not sent
    chunks_sent: int
    bytes_sent: int


@dataclass
class PushProgress:
    phase: str        # "hashing", "uploading", "publishing"
    done_bytes: int
    total_bytes: int
    sent_bytes: int
    chunk_count: int
    chunks_held: int
    chunks_sent: int


@dataclass
class RolloutNode:
    """One node of a rollout (a rollout.status row)."""
    wave: str
    site: str
    node: str
    state: str        # pending, downloading, verified, waiting-interlock, installed, healthy, failed
    done_bytes: int
    total_bytes: int
    reason: str


@dataclass
class Rollout:
    """A rollout now: its rollout.ls row and its nodes."""
    id: int
    target: str
    state: str        # running, paused, succeeded, aborted
    wave: str         # "2/3"
    healthy: int
    failed: int
    reason: str
    nodes: List[RolloutNode] = field(default_factory=list)

    @property
    def done(self):
        return self.state in ENDED


def keygen_model(dir, name):
    """Makes a model-signing key pair dir/NAME.sign (0600) and
    dir/NAME.sign.pub; returns the public key as 64 hex digits."""
    pub = ctypes.create_string_buffer(65)
    check(_L.foundry_model_keygen(_b(str(dir)), _b(name), pub),
          lambda: "model keygen %s in %s" % (name, dir))
    return pub.value.decode()


def _int(text):
    try:
        return int(text)
    except ValueError:
        return 0


class ModelsMixin:
    """The model and rollout calls of Client (needs _handle, _last_error)."""

    def push_model(self, path, name, version, sign, sites=(), labels=(), metadata=(),
                   expires_ms=0, chunk_size=0, window=0, progress=None):
        """Pushes the file at path as model name@version, signed by every
        key file of sign (NAME.sign), and waits until the broker accepted
        it. labels and metadata: "key=value" strings or a dict. progress:
        called with a PushProgress after each chunk (must not call the
        client). Returns a Pushed; raises FoundryError (EDENIED: no grant,
        no trust policy, too few trusted signatures, version not above)."""
        if isinstance(sign, (str, bytes)):
            sign = [sign]
        opts = _lib.ModelPushOpts()
        _L.foundry_model_push_opts_init(ctypes.byref(opts))
        signers, sign_count = _array(sign)
        site_array, site_count = _array(sites)
        label_array, label_count = _array(_pairs(labels, "label"))
        meta_array, meta_count = _array(_pairs(metadata, "metadata item"))
        keep = [_b(str(path)), _b(name), signers, site_array, label_array, meta_array]
        opts.file, opts.name = keep[0], keep[1]
        opts.version = version
        opts.chunk_size, opts.window = chunk_size, window
        opts.sign_key_files, opts.sign_key_count = signers, sign_count
        opts.sites, opts.site_count = site_array, site_count
        opts.labels, opts.label_count = label_array, label_count
        opts.metadata, opts.metadata_count = meta_array, meta_count
        opts.expires_ms = expires_ms
        failure = []

        def on_progress(p_ptr, _user):
            if failure:
                return
            p = p_ptr.contents
            try:
                progress(PushProgress(PHASES.get(p.phase, str(p.phase)), p.done_bytes,
                                      p.total_bytes, p.sent_bytes, p.chunk_count,
                                      p.chunks_held, p.chunks_sent))
            except BaseException as exc:  # raised after the push, not through C
                failure.append(exc)

        callback = _lib.PROGRESS_FN(on_progress) if progress else _lib.PROGRESS_FN()
        pushed = _lib.ModelPushed()
        err = _L.foundry_model_push(self._handle(), ctypes.byref(opts), callback, None,
                                    ctypes.byref(pushed))
        del keep
        if failure:
            raise failure[0]
        check(err, self._last_error)
        return Pushed(pushed.version, pushed.log_index, bytes(pushed.artifact).hex(),
                      pushed.size, pushed.chunk_count, pushed.chunks_held, pushed.chunks_sent,
                      pushed.bytes_sent)

    def admin(self, command, *args):
        """Runs one admin command ("rollout.ls", "model.ls", ...) with
        "key=value" args; returns its rows as dicts of text."""
        arg_array, count = _array(args)
        table = ctypes.POINTER(_lib.AdminTable)()
        check(_L.foundry_admin(self._handle(), _b(command), arg_array, count,
                               ctypes.byref(table)), self._last_error)
        t = table.contents
        columns = [_s(t.columns[i]) for i in range(t.column_count)]
        rows = []
        for r in range(t.row_count):
            row = {}
            for c, name in enumerate(columns):
                i = r * t.column_count + c
                row[name] = _s(ctypes.string_at(t.cells[i], t.cell_lens[i]))
            rows.append(row)
        return rows

    def start_rollout(self, model=None, version=None, job=None, waves="*", rate=0, soak_ms=0,
                      success=0, abort_failures=0, abort_rate=0, gates=(), sites=(),
                      labels=(), data=None, run_timeout_ms=0):
        """Starts a rollout of model@version (or a fleet job of type job)
        and returns its id. waves: "site-a;50%;*" as docs/rollouts.md;
        rate: nodes started a minute (0: no limit); gates: "METRIC<VALUE"."""
        if (model is None) == (job is None):
            raise FoundryError(EINVAL, "give model and version, or job")
        if model is not None:
            if version is None and "@" not in model:
                raise FoundryError(EINVAL, "model %r needs a version" % model)
            args = ["model=%s" % (model if version is None else "%s@%d" % (model, version))]
        else:
            args = ["job=%s" % job]
            if data is not None:
                args.append("data=%s" % data)
            if run_timeout_ms:
                args.append("timeout=%d" % run_timeout_ms)
        if waves:
            args.append("waves=%s" % waves)
        for key, value in (("rate", rate), ("soak", soak_ms), ("success", success),
                           ("abort_failures", abort_failures), ("abort_rate", abort_rate)):
            if value:
                args.append("%s=%d" % (key, value))
        args += ["gate=%s" % g for g in gates]
        args += ["site=%s" % s for s in sites]
        args += ["label=%s" % item for item in _pairs(labels, "label")]
        rows = self.admin("rollout.start", *args)
        if len(rows) != 1 or not rows[0].get("id", "").isdigit():
            raise FoundryError(3, "the broker's rollout.start reply has no id")
        return int(rows[0]["id"])

    def rollouts(self):
        """Every rollout (without its nodes), as Rollout."""
        return [Rollout(_int(r.get("id", "0")), r.get("target", ""), r.get("state", ""),
                        r.get("wave", ""), _int(r.get("healthy", "0")),
                        _int(r.get("failed", "0")), r.get("reason", ""))
                for r in self.admin("rollout.ls")]

    def rollout(self, rollout_id):
        """Rollout rollout_id now, with its nodes' states."""
        found = [r for r in self.rollouts() if r.id == rollout_id]
        if not found:
            raise FoundryError(ENOTFOUND, "no rollout %d" % rollout_id)
        rollout = found[0]
        rollout.nodes = [
            RolloutNode(r.get("wave", ""), r.get("site", ""), r.get("node", ""),
                        r.get("state", ""), _int(r.get("done_bytes", "0")),
                        _int(r.get("total_bytes", "0")), r.get("reason", ""))
            for r in self.admin("rollout.status", "id=%d" % rollout_id)]
        return rollout

    def wait_rollout(self, rollout_id, timeout_ms=60000):
        """Waits until the rollout ended (succeeded or aborted) and returns
        it. Raises ETIMEDOUT when it is still going after timeout_ms."""
        deadline = time.monotonic() + timeout_ms / 1000.0
        while True:
            rollout = self.rollout(rollout_id)
            if rollout.done:
                return rollout
            if time.monotonic() >= deadline:
                raise FoundryError(ETIMEDOUT, "rollout %d is still %s (wave %s%s) after %d ms"
                                   % (rollout_id, rollout.state, rollout.wave,
                                      ": " + rollout.reason if rollout.reason else "",
                                      timeout_ms))
            time.sleep(_WAIT_POLL_S)

    def _rollout_change(self, verb, rollout_id):
        rows = self.admin("rollout." + verb, "id=%d" % rollout_id)
        return rows[0].get("state", "") if rows else ""

    def pause_rollout(self, rollout_id):
        """Pauses it; returns its state."""
        return self._rollout_change("pause", rollout_id)

    def resume_rollout(self, rollout_id):
        return self._rollout_change("resume", rollout_id)

    def abort_rollout(self, rollout_id):
        return self._rollout_change("abort", rollout_id)
