"""The one exception of the binding: a foundry error code and its reason."""

from . import _lib

# foundry_err codes (lib/include/foundry.h: append only, never renumbered).
OK = 0
ENOMEM = 1
EINVAL = 2
EPROTO = 3
ETOOBIG = 4
EAUTH = 5
EDENIED = 6
EFULL = 7
ESTORE = 8
EVERSION = 9
ENOSTREAM = 10
ETIMEDOUT = 11
ECLOSED = 12
ENOTFOUND = 13
ECORRUPT = 14
EIO = 15
EEXIST = 16
EKIND = 17
ERATE = 18
ESTALE = 19

_NAMES = {v: k for k, v in globals().items() if k.isupper() and isinstance(v, int)}


class FoundryError(Exception):
    """A libfoundry call failed.

    code: the foundry_err number (foundry.ETIMEDOUT, ...); name: its symbol
    ("ETIMEDOUT"); reason: the broker's or the library's text."""

    def __init__(self, code, reason=""):
        self.code = int(code)
        self.name = _NAMES.get(self.code, "E%d" % self.code)
        text = _lib.lib.foundry_strerror(self.code)
        self.description = text.decode() if text else ""
        self.reason = reason or self.description
        super().__init__("%s: %s" % (self.name, self.reason))


def check(code, reason_fn=None):
    """Raises FoundryError unless code is OK; reason_fn() gives the text."""
    if code != OK:
        reason = reason_fn() if reason_fn else ""
        raise FoundryError(code, reason)
