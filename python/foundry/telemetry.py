"""Typed telemetry: the Batch of proto/telemetry.proto, built and decoded
in pure Python (no protobuf package needed), byte-compatible with
foundry-node's and lib/core/telemetry.c's encoding.

    batch = encode([Sample("robot1.temp", 21.5, unit="C", labels={"line": "a"})])
    client.publish("telemetry.pangyo.robot1", batch)
    for s in decode(message.data): print(s.metric, s.value, s.unit)
"""

import math
import re
import struct
from dataclasses import dataclass, field
from typing import Dict, List

from .errors import FoundryError, EINVAL, EPROTO

_METRIC = re.compile(r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$")
_LABEL_KEY = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


@dataclass
class Sample:
    metric: str                 # dot-separated subject tokens: robot1.joint3.temp
    value: float                # finite
    unit: str = ""              # at most 32 bytes; "" = none
    timestamp_ns: int = 0       # ns since the epoch; 0 = unknown
    labels: Dict[str, str] = field(default_factory=dict)


def _varint(value):
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field_bytes(number, payload):
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _check(sample, index):
    def bad(why):
        raise FoundryError(EINVAL, "sample %d: %s" % (index, why))
    if not _METRIC.match(sample.metric or ""):
        bad("metric %r is not dot-separated tokens of [A-Za-z0-9_-]" % sample.metric)
    if not isinstance(sample.value, (int, float)) or not math.isfinite(sample.value):
        bad("value must be a finite number")
    if len(sample.unit.encode()) > 32 or any(c.isspace() or c == "=" for c in sample.unit):
        bad("unit %r: at most 32 bytes, no spaces or '='" % sample.unit)
    if len(sample.labels) > 32:
        bad("more than 32 labels")
    for key, value in sample.labels.items():
        if not _LABEL_KEY.match(key):
            bad("label key %r" % key)
        if not 1 <= len(value.encode()) <= 256:
            bad("label %s: value of 1..256 bytes" % key)


def _sample_bytes(sample):
    out = _field_bytes(1, sample.metric.encode())
    if sample.value != 0:  # proto3 leaves defaults out
        out += _varint(2 << 3 | 1) + struct.pack("<d", float(sample.value))
    if sample.unit:
        out += _field_bytes(3, sample.unit.encode())
    if sample.timestamp_ns:
        out += _varint(4 << 3 | 0) + _varint(sample.timestamp_ns)
    for key, value in sample.labels.items():
        out += _field_bytes(5, _field_bytes(1, key.encode()) + _field_bytes(2, value.encode()))
    return out


def encode(samples: List[Sample]) -> bytes:
    """One Batch of 1..16384 checked samples (FoundryError EINVAL if not)."""
    if not 1 <= len(samples) <= 16384:
        raise FoundryError(EINVAL, "a batch holds 1..16384 samples")
    out = bytearray()
    for index, sample in enumerate(samples):
        _check(sample, index)
        out += _field_bytes(1, _sample_bytes(sample))
    return bytes(out)


def _read_varint(data, at):
    value = shift = 0
    while True:
        if at >= len(data) or shift > 63:
            raise FoundryError(EPROTO, "truncated varint")
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, at


def _fields(data):
    """(number, wire type, value) of each field of a message."""
    at = 0
    while at < len(data):
        key, at = _read_varint(data, at)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, at = _read_varint(data, at)
        elif wire == 1:
            if at + 8 > len(data):
                raise FoundryError(EPROTO, "truncated fixed64")
            value, at = data[at:at + 8], at + 8
        elif wire == 2:
            length, at = _read_varint(data, at)
            if at + length > len(data):
                raise FoundryError(EPROTO, "truncated field")
            value, at = data[at:at + length], at + length
        elif wire == 5:
            if at + 4 > len(data):
                raise FoundryError(EPROTO, "truncated fixed32")
            value, at = data[at:at + 4], at + 4
        else:
            raise FoundryError(EPROTO, "wire type %d" % wire)
        yield number, wire, value


def _text(raw):
    try:
        return bytes(raw).decode()
    except UnicodeDecodeError:
        raise FoundryError(EPROTO, "a string is not UTF-8") from None


def decode(data: bytes) -> List[Sample]:
    """The samples of a Batch; FoundryError EPROTO (not a batch) or EINVAL
    (a sample breaks the rules), as lib/core/telemetry.c decides."""
    samples = []
    for number, wire, value in _fields(data):
        if number != 1 or wire != 2:
            continue
        sample = Sample("", 0.0)
        for n, w, v in _fields(value):
            if n == 1 and w == 2:
                sample.metric = _text(v)
            elif n == 2 and w == 1:
                sample.value = struct.unpack("<d", v)[0]
            elif n == 3 and w == 2:
                sample.unit = _text(v)
            elif n == 4 and w == 0:
                sample.timestamp_ns = v
            elif n == 5 and w == 2:
                key = val = ""
                for ln, lw, lv in _fields(v):
                    if ln == 1 and lw == 2:
                        key = _text(lv)
                    elif ln == 2 and lw == 2:
                        val = _text(lv)
                sample.labels[key] = val
        _check(sample, len(samples))
        samples.append(sample)
    if not samples:
        raise FoundryError(EPROTO, "no samples: not a telemetry batch")
    return samples
