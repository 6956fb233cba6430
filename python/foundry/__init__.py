"""foundry: the Python binding of libfoundry (docs/python.md).

    from foundry import Client, FoundryError
    with Client("tcp://broker:7700", "keys/acme.key_secret", "broker.key") as c:
        print(c.publish("acme.robot1.temp", b"21.5"))
"""

from . import errors, telemetry
from ._lib import lib as _libfoundry
from .client import Ack, Client, Job, Message, Subscription
from .errors import FoundryError


def version():
    """libfoundry's version, "MAJOR.MINOR.PATCH"."""
    return _libfoundry.foundry_version().decode()


__all__ = ["Ack", "Client", "FoundryError", "Job", "Message", "Subscription", "errors",
           "telemetry", "version"]
