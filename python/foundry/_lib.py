"""Loading libfoundry and declaring the C signatures used by the binding.

The library is found, in order: the path in FOUNDRY_LIB; a build tree next
to this checkout (any */lib/client/libfoundry.so.0 under the directories
above the package, e.g. build/ or /tmp/bld-*/ named by FOUNDRY_BUILD_DIR);
then the system's loader (libfoundry.so.0).
"""

import ctypes
import ctypes.util
import glob
import os

c_char_p = ctypes.c_char_p
c_void_p = ctypes.c_void_p
c_size_t = ctypes.c_size_t
c_int = ctypes.c_int
c_uint32 = ctypes.c_uint32
c_uint64 = ctypes.c_uint64


class ClientOpts(ctypes.Structure):
    _fields_ = [
        ("endpoint", c_char_p),
        ("broker_key_file", c_char_p),
        ("secret_key_file", c_char_p),
        ("connect_timeout_ms", c_uint32),
        ("ack_timeout_ms", c_uint32),
        ("resend_after_ms", c_uint32),
        ("max_in_flight", c_uint32),
        ("batch_max_msgs", c_uint32),
        ("batch_max_bytes", c_uint32),
        ("linger_us", c_uint32),
    ]


class Ack(ctypes.Structure):
    _fields_ = [
        ("msg_id", ctypes.POINTER(ctypes.c_uint8)),
        ("msg_id_len", c_size_t),
        ("stream", c_char_p),
        ("seq", c_uint64),
        ("duplicate", c_int),
        ("err", c_int),
        ("reason", c_char_p),
        ("user", c_void_p),
    ]


class SubOpts(ctypes.Structure):
    _fields_ = [
        ("stream", c_char_p),
        ("consumer", c_char_p),
        ("filter", c_char_p),
        ("credit_msgs", c_uint32),
        ("credit_bytes", c_uint64),
        ("max_msgs", c_uint64),
    ]


class Msg(ctypes.Structure):
    _fields_ = [
        ("stream", c_char_p),
        ("seq", c_uint64),
        ("delivery_count", c_uint32),
        ("subject", c_char_p),
        ("data", ctypes.POINTER(ctypes.c_uint8)),
        ("len", c_size_t),
        ("msg_id", ctypes.POINTER(ctypes.c_uint8)),
        ("msg_id_len", c_size_t),
        ("timestamp_ns", c_uint64),
        ("stored_ns", c_uint64),
        ("publisher", c_char_p),
    ]


class JobSpec(ctypes.Structure):
    _fields_ = [
        ("type", c_char_p),
        ("payload", c_void_p),
        ("payload_len", c_size_t),
        ("sites", ctypes.POINTER(c_char_p)),
        ("site_count", c_size_t),
        ("labels", ctypes.POINTER(c_char_p)),
        ("label_count", c_size_t),
        ("priority", c_uint32),
        ("timeout_ms", c_uint32),
        ("max_attempts", c_uint32),
        ("backoff_initial_ms", c_uint32),
        ("backoff_factor", c_uint32),
        ("backoff_max_ms", c_uint32),
        ("idempotency_key", c_char_p),
        ("deadline_ms", c_uint64),
        ("result_ttl_ms", c_uint32),
    ]


class JobAttempt(ctypes.Structure):
    _fields_ = [
        ("attempt", c_uint32),
        ("fence", c_uint64),
        ("node", c_char_p),
        ("started_ms", c_uint64),
        ("ended_ms", c_uint64),
        ("state", c_char_p),
        ("error", c_char_p),
    ]


class JobInfo(ctypes.Structure):
    _fields_ = [
        ("id", c_uint64),
        ("state", c_int),
        ("state_name", c_char_p),
        ("type", c_char_p),
        ("tenant", c_char_p),
        ("submitter", c_char_p),
        ("sites", ctypes.POINTER(c_char_p)),
        ("site_count", c_size_t),
        ("labels", ctypes.POINTER(c_char_p)),
        ("label_count", c_size_t),
        ("priority", c_uint32),
        ("attempt", c_uint32),
        ("max_attempts", c_uint32),
        ("fence", c_uint64),
        ("node", c_char_p),
        ("created_ms", c_uint64),
        ("updated_ms", c_uint64),
        ("result", c_void_p),
        ("result_len", c_size_t),
        ("error", c_char_p),
        ("log_tail", c_char_p),
        ("progress", c_char_p),
        ("waiting", c_char_p),
        ("attempts", ctypes.POINTER(JobAttempt)),
        ("attempt_count", c_size_t),
    ]


ACK_FN = ctypes.CFUNCTYPE(None, ctypes.POINTER(Ack), c_void_p)


def _candidates():
    explicit = os.environ.get("FOUNDRY_LIB")
    if explicit:
        yield explicit
        return
    build = os.environ.get("FOUNDRY_BUILD_DIR")
    if build:
        yield os.path.join(build, "lib", "client", "libfoundry.so.0")
    here = os.path.dirname(os.path.abspath(__file__))
    # a checkout: python/foundry -> the repository, and build dirs in it
    root = os.path.dirname(os.path.dirname(here))
    for path in sorted(glob.glob(os.path.join(root, "*", "lib", "client", "libfoundry.so.0"))):
        yield path
    found = ctypes.util.find_library("foundry")
    if found:
        yield found
    yield "libfoundry.so.0"


def _load():
    errors = []
    for path in _candidates():
        try:
            return ctypes.CDLL(path)
        except OSError as exc:
            errors.append("%s: %s" % (path, exc))
    raise OSError("libfoundry not found (set FOUNDRY_LIB to its path): " + "; ".join(errors))


lib = _load()


def _declare(name, restype, argtypes):
    fn = getattr(lib, name)
    fn.restype = restype
    fn.argtypes = argtypes
    return fn


P = ctypes.POINTER
_declare("foundry_strerror", c_char_p, [c_int])
_declare("foundry_version", c_char_p, [])
_declare("foundry_client_opts_init", None, [P(ClientOpts)])
_declare("foundry_client_new", c_int, [P(ClientOpts), P(c_void_p)])
_declare("foundry_client_last_error", c_char_p, [c_void_p])
_declare("foundry_client_set_ack_handler", c_int, [c_void_p, ACK_FN, c_void_p])
_declare("foundry_client_publish", c_int,
         [c_void_p, c_char_p, c_void_p, c_size_t, c_void_p, c_size_t, P(Ack)])
_declare("foundry_client_publish_async", c_int,
         [c_void_p, c_char_p, c_void_p, c_size_t, c_void_p, c_size_t, c_void_p])
_declare("foundry_client_poll", c_int, [c_void_p, c_int])
_declare("foundry_client_flush", c_int, [c_void_p, c_int])
_declare("foundry_client_unacked", c_size_t, [c_void_p])
_declare("foundry_client_close", c_int, [P(c_void_p), c_int, P(c_size_t)])
_declare("foundry_sub_opts_init", None, [P(SubOpts)])
_declare("foundry_client_subscribe", c_int, [c_void_p, P(SubOpts), P(c_void_p)])
_declare("foundry_sub_receive", c_int, [c_void_p, c_int, P(P(Msg))])
_declare("foundry_sub_ack", c_int, [c_void_p, c_uint64])
_declare("foundry_sub_ack_upto", c_int, [c_void_p, c_uint64])
_declare("foundry_sub_dropped", c_uint64, [c_void_p])
_declare("foundry_sub_close", None, [P(c_void_p)])
_declare("foundry_job_spec_init", None, [P(JobSpec)])
_declare("foundry_job_submit", c_int, [c_void_p, P(JobSpec), P(c_uint64), P(c_int)])
_declare("foundry_job_status", c_int, [c_void_p, c_uint64, P(P(JobInfo))])
_declare("foundry_job_wait", c_int, [c_void_p, c_uint64, c_int, P(P(JobInfo))])
_declare("foundry_job_cancel", c_int, [c_void_p, c_uint64])
