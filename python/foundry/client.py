"""Client, Subscription and jobs over libfoundry (ctypes).

One Client is one CURVE connection; like libfoundry it is single-threaded:
use it from one thread. Every failure raises FoundryError.
"""

import ctypes
from dataclasses import dataclass, field
from typing import Callable, List, Optional

from . import _lib
from .errors import FoundryError, check, ETIMEDOUT, ECLOSED

_L = _lib.lib


def _b(text):
    if text is None:
        return None
    return text.encode() if isinstance(text, str) else bytes(text)


def _s(raw):
    return raw.decode(errors="replace") if raw else ""


def _bytes(pointer, length):
    return ctypes.string_at(pointer, length) if length else b""


@dataclass
class Ack:
    """The outcome of one published message."""
    stream: str
    seq: int
    duplicate: bool
    msg_id: bytes
    error: Optional[FoundryError] = None  # set for a refused message (async acks)
    tag: object = None


@dataclass
class Message:
    """One delivered message (copied out of the library)."""
    stream: str
    seq: int
    subject: str
    data: bytes
    msg_id: bytes
    delivery_count: int
    timestamp_ns: int
    stored_ns: int
    publisher: str


@dataclass
class JobAttempt:
    attempt: int
    fence: int
    node: str
    state: str
    error: str


@dataclass
class Job:
    """A job's status, as foundry_job_info_t."""
    id: int
    state: str
    type: str
    tenant: str
    sites: List[str]
    attempt: int
    max_attempts: int
    node: str
    result: bytes
    error: str
    progress: str
    waiting: str
    attempts: List[JobAttempt] = field(default_factory=list)

    @property
    def done(self):
        return self.state in ("succeeded", "dead", "cancelled", "expired")


def _job(info_p):
    info = info_p.contents
    return Job(
        id=info.id,
        state=_s(info.state_name),
        type=_s(info.type),
        tenant=_s(info.tenant),
        sites=[_s(info.sites[i]) for i in range(info.site_count)],
        attempt=info.attempt,
        max_attempts=info.max_attempts,
        node=_s(info.node),
        result=_bytes(info.result, info.result_len),
        error=_s(info.error),
        progress=_s(info.progress),
        waiting=_s(info.waiting),
        attempts=[JobAttempt(a.attempt, a.fence, _s(a.node), _s(a.state), _s(a.error))
                  for a in (info.attempts[i] for i in range(info.attempt_count))],
    )


class Client:
    """A connection to a broker, authenticated by a CURVE key pair.

    endpoint: "tcp://host:7700" (or "host:7700"); secret_key_file: our
    NAME.key_secret (mode 0600); broker_key_file: the broker's public key.
    connect_timeout_ms / ack_timeout_ms as foundry_client_opts_t. A stopped
    broker raises at once (EIO, "connection refused at ..."), an unreachable
    one after connect_timeout_ms (ETIMEDOUT)."""

    def __init__(self, endpoint, secret_key_file, broker_key_file, connect_timeout_ms=5000,
                 ack_timeout_ms=10000, max_in_flight=None):
        if "://" not in endpoint:
            endpoint = "tcp://" + endpoint
        opts = _lib.ClientOpts()
        _L.foundry_client_opts_init(ctypes.byref(opts))
        self._keep = [_b(endpoint), _b(str(secret_key_file)), _b(str(broker_key_file))]
        opts.endpoint, opts.secret_key_file, opts.broker_key_file = self._keep
        opts.connect_timeout_ms = connect_timeout_ms
        opts.ack_timeout_ms = ack_timeout_ms
        if max_in_flight:
            opts.max_in_flight = max_in_flight
        self._client = ctypes.c_void_p()
        err = _L.foundry_client_new(ctypes.byref(opts), ctypes.byref(self._client))
        check(err, lambda: _s(_L.foundry_client_last_error(None)))
        self._pending = {}  # tag number -> (user tag, msg_id) for async publishes
        self._next_tag = 1
        self._acks = []     # async outcomes not yet handed to the caller
        self._ack_cb = _lib.ACK_FN(self._on_ack)  # kept alive as long as the client
        check(_L.foundry_client_set_ack_handler(self._client, self._ack_cb, None),
              self._last_error)

    # ---- lifecycle -------------------------------------------------------
    def close(self, flush_timeout_ms=5000):
        """Flushes, ends subscriptions and closes. Returns the number of
        messages never acknowledged (each also reported as an ECLOSED ack)."""
        if not self._client:
            return 0
        unacked = ctypes.c_size_t(0)
        _L.foundry_client_close(ctypes.byref(self._client), flush_timeout_ms,
                                ctypes.byref(unacked))
        self._client = ctypes.c_void_p()
        return unacked.value

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close(0)
        except Exception:
            pass

    def _last_error(self):
        return _s(_L.foundry_client_last_error(self._client))

    def _handle(self):
        if not self._client:
            raise FoundryError(ECLOSED, "the client is closed")
        return self._client

    # ---- publishing ------------------------------------------------------
    def publish(self, subject, data, msg_id=None):
        """Publishes one message and waits for its durable ack. Returns an
        Ack; raises FoundryError (EDENIED, ENOSTREAM, ETIMEDOUT, ...)."""
        data, msg_id = _b(data), _b(msg_id)
        ack = _lib.Ack()
        err = _L.foundry_client_publish(self._handle(), _b(subject), data, len(data), msg_id,
                                        len(msg_id) if msg_id else 0, ctypes.byref(ack))
        reason = _s(ack.reason) if ack.reason else ""
        check(err, lambda: reason or self._last_error())
        return Ack(_s(ack.stream), ack.seq, bool(ack.duplicate),
                   _bytes(ack.msg_id, ack.msg_id_len))

    def publish_async(self, subject, data, msg_id=None, tag=None):
        """Queues one message (pipelined); its Ack comes later from
        poll_acks() or flush(), carrying `tag`. Raises on what is refused
        before sending (EINVAL, ETOOBIG, a full window: ETIMEDOUT)."""
        data, msg_id = _b(data), _b(msg_id)
        number = self._next_tag
        self._next_tag += 1
        self._pending[number] = tag
        err = _L.foundry_client_publish_async(self._handle(), _b(subject), data, len(data),
                                              msg_id, len(msg_id) if msg_id else 0,
                                              ctypes.c_void_p(number))
        if err != 0:
            self._pending.pop(number, None)
            check(err, self._last_error)

    def _on_ack(self, ack_p, _user):
        ack = ack_p.contents
        tag = self._pending.pop(ack.user or 0, None)
        error = None
        if ack.err != 0:
            error = FoundryError(ack.err, _s(ack.reason))
        self._acks.append(Ack(_s(ack.stream), ack.seq, bool(ack.duplicate),
                              _bytes(ack.msg_id, ack.msg_id_len), error, tag))

    def poll_acks(self, timeout_ms=0):
        """Sends what is due, takes acks for up to timeout_ms, and returns
        the Acks of pipelined messages that arrived (refusals carry .error)."""
        check(_L.foundry_client_poll(self._handle(), timeout_ms), self._last_error)
        acks, self._acks = self._acks, []
        return acks

    def flush(self, timeout_ms=10000):
        """Waits until every pipelined message is acknowledged; returns
        their Acks. Raises ETIMEDOUT when some are still unacknowledged."""
        err = _L.foundry_client_flush(self._handle(), timeout_ms)
        acks, self._acks = self._acks, []
        if err != 0:
            self._acks = acks  # keep them for the next call
            check(err, self._last_error)
        return acks

    @property
    def unacked(self):
        return _L.foundry_client_unacked(self._handle())

    # ---- subscriptions ---------------------------------------------------
    def subscribe(self, filter=None, stream=None, consumer=None, credit=0, max_msgs=0):
        """A live tail (filter) or a durable consumer (stream, consumer).
        Returns a Subscription."""
        if (filter is None) == (stream is None or consumer is None):
            raise FoundryError(2, "give filter, or stream and consumer")
        opts = _lib.SubOpts()
        _L.foundry_sub_opts_init(ctypes.byref(opts))
        keep = [_b(stream), _b(consumer), _b(filter)]
        opts.stream, opts.consumer, opts.filter = keep
        if credit:
            opts.credit_msgs = credit
        opts.max_msgs = max_msgs
        sub = ctypes.c_void_p()
        check(_L.foundry_client_subscribe(self._handle(), ctypes.byref(opts), ctypes.byref(sub)),
              self._last_error)
        return Subscription(self, sub, durable=stream is not None)

    # ---- jobs ------------------------------------------------------------
    def submit_job(self, type, payload=b"", sites=(), labels=(), priority=0, timeout_ms=0,
                   max_attempts=0, idempotency_key=None):
        """Submits a job; returns (job id, duplicate)."""
        spec = _lib.JobSpec()
        _L.foundry_job_spec_init(ctypes.byref(spec))
        payload = _b(payload)
        site_array = (ctypes.c_char_p * max(len(sites), 1))(*[_b(s) for s in sites])
        label_array = (ctypes.c_char_p * max(len(labels), 1))(*[_b(s) for s in labels])
        keep = [_b(type), payload, _b(idempotency_key), site_array, label_array]
        spec.type = keep[0]
        spec.payload = ctypes.cast(ctypes.c_char_p(payload), ctypes.c_void_p)
        spec.payload_len = len(payload)
        spec.sites, spec.site_count = site_array, len(sites)
        spec.labels, spec.label_count = label_array, len(labels)
        spec.priority = priority
        if timeout_ms:
            spec.timeout_ms = timeout_ms
        if max_attempts:
            spec.max_attempts = max_attempts
        spec.idempotency_key = keep[2]
        job_id = ctypes.c_uint64()
        duplicate = ctypes.c_int()
        check(_L.foundry_job_submit(self._handle(), ctypes.byref(spec), ctypes.byref(job_id),
                                    ctypes.byref(duplicate)), self._last_error)
        return job_id.value, bool(duplicate.value)

    def job(self, job_id):
        """The job's status now (a Job)."""
        info = ctypes.POINTER(_lib.JobInfo)()
        check(_L.foundry_job_status(self._handle(), job_id, ctypes.byref(info)),
              self._last_error)
        return _job(info)

    def wait_job(self, job_id, timeout_ms=60000):
        """Waits until the job ended and returns it (a Job; .result holds a
        succeeded job's output). Raises ETIMEDOUT when it has not ended."""
        info = ctypes.POINTER(_lib.JobInfo)()
        check(_L.foundry_job_wait(self._handle(), job_id, timeout_ms, ctypes.byref(info)),
              self._last_error)
        return _job(info)

    def cancel_job(self, job_id):
        check(_L.foundry_job_cancel(self._handle(), job_id), self._last_error)


class Subscription:
    """Messages of one subscription; ack durable ones once handled."""

    def __init__(self, client, handle, durable):
        self._client = client
        self._sub = handle
        self.durable = durable

    def receive(self, timeout_ms=-1):
        """The next Message, or None when nothing came within timeout_ms.
        Raises FoundryError(ECLOSED) once the subscription ended."""
        msg = ctypes.POINTER(_lib.Msg)()
        err = _L.foundry_sub_receive(self._sub, timeout_ms, ctypes.byref(msg))
        if err == ETIMEDOUT:
            return None
        check(err, self._client._last_error)
        m = msg.contents
        return Message(_s(m.stream), m.seq, _s(m.subject), _bytes(m.data, m.len),
                       _bytes(m.msg_id, m.msg_id_len), m.delivery_count, m.timestamp_ns,
                       m.stored_ns, _s(m.publisher))

    def __iter__(self):
        """Messages until the subscription ends (max_msgs, or the broker)."""
        while True:
            try:
                msg = self.receive(-1)
            except FoundryError as exc:
                if exc.code == ECLOSED:
                    return
                raise
            if msg is not None:
                yield msg

    def ack(self, msg_or_seq):
        seq = msg_or_seq.seq if isinstance(msg_or_seq, Message) else int(msg_or_seq)
        check(_L.foundry_sub_ack(self._sub, seq), self._client._last_error)

    def ack_upto(self, msg_or_seq):
        seq = msg_or_seq.seq if isinstance(msg_or_seq, Message) else int(msg_or_seq)
        check(_L.foundry_sub_ack_upto(self._sub, seq), self._client._last_error)

    @property
    def dropped(self):
        return _L.foundry_sub_dropped(self._sub)

    def close(self):
        if self._sub:
            _L.foundry_sub_close(ctypes.byref(self._sub))
            self._sub = ctypes.c_void_p()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
