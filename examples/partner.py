#!/usr/bin/env python3
"""partner.py: a partner's first program with the Python binding. Publishes
three readings pipelined (one ack each), then reads its tenant's stream back
through its durable consumer and acks what it printed.

Settings as foundryctl's: FOUNDRY_ENDPOINT, FOUNDRY_KEY, FOUNDRY_BROKER_KEY.
Usage: partner.py SUBJECT STREAM CONSUMER   e.g. partner.py acme.robot1.temp tenant-acme acme
"""

import os
import sys

from foundry import Client, FoundryError


def main(subject, stream, consumer):
    with Client(os.environ["FOUNDRY_ENDPOINT"], os.environ["FOUNDRY_KEY"],
                os.environ["FOUNDRY_BROKER_KEY"]) as client:
        for reading in (b"21.5", b"21.7", b"22.0"):
            client.publish_async(subject, reading)
        for ack in client.flush(10000):
            if ack.error:
                print("refused:", ack.error, file=sys.stderr)
                return 1
            print("stored", ack.stream, ack.seq)
        with client.subscribe(stream=stream, consumer=consumer, max_msgs=3) as sub:
            for msg in sub:
                print("read", msg.seq, msg.subject, msg.data.decode())
                sub.ack(msg)
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit("usage: partner.py SUBJECT STREAM CONSUMER")
    try:
        sys.exit(main(*sys.argv[1:]))
    except FoundryError as exc:
        sys.exit("partner.py: %s" % exc)
