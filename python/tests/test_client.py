"""The binding against a real broker: connect, publish one and pipelined,
durable and live subscriptions with acks, jobs, errors, typed telemetry."""

import json

import pytest

import foundry
from foundry import Client, FoundryError, errors, telemetry


def _admin(broker, **kw):
    return Client(broker.endpoint, broker.secret("admin"), broker.broker_key, **kw)


def test_connect_refused_at_once_and_unknown_key(broker):
    with pytest.raises(FoundryError) as info:
        Client("127.0.0.1:1", broker.secret("admin"), broker.broker_key,
               connect_timeout_ms=60000)
    assert info.value.code == errors.EIO
    assert "connection refused at tcp://127.0.0.1:1" in info.value.reason
    stranger = broker.key("stranger")
    with pytest.raises(FoundryError) as info:
        Client(broker.endpoint, stranger, broker.broker_key)
    assert info.value.code == errors.EAUTH


def test_publish_one_and_pipelined(broker):
    broker.run_ctl("stream", "add", "plant", "--subject", "plant.>")
    with _admin(broker) as client:
        ack = client.publish("plant.robot1.temp", b"21.5", msg_id="m-1")
        assert (ack.stream, ack.seq, ack.duplicate) == ("plant", 1, False)
        again = client.publish("plant.robot1.temp", b"21.5", msg_id="m-1")
        assert again.duplicate and again.seq == 1
        for i in range(100):
            client.publish_async("plant.robot1.rpm", str(i).encode(), tag=i)
        acks = client.flush(10000)
        assert sorted(a.tag for a in acks) == list(range(100))
        assert all(a.error is None and a.stream == "plant" for a in acks)
        assert sorted(a.seq for a in acks) == list(range(2, 102))
        # a subject no stream captures: refused in its ack, named
        client.publish_async("nowhere.x", b"1", tag="lost")
        refused = client.flush(10000)
        assert refused[0].tag == "lost" and refused[0].error.code == errors.ENOSTREAM
        with pytest.raises(FoundryError) as info:
            client.publish("nowhere.x", b"1")
        assert info.value.code == errors.ENOSTREAM and "nowhere.x" in info.value.reason
    info = json.loads(broker.run_ctl("--json", "stream", "info", "plant").stdout)
    assert info["messages"] == 101


def test_durable_consumer_with_acks_and_live_tail(broker):
    broker.run_ctl("stream", "add", "plant", "--subject", "plant.>")
    broker.run_ctl("consumer", "add", "plant", "reader")
    with _admin(broker, ack_timeout_ms=5000) as client:
        for i in range(5):
            client.publish("plant.line.count", str(i).encode())
        sub = client.subscribe(stream="plant", consumer="reader", max_msgs=3)
        got = list(sub)
        assert [m.data for m in got] == [b"0", b"1", b"2"]
        assert got[0].publisher == "admin" and got[0].delivery_count == 1
        sub.ack_upto(got[-1])
        sub.close()
        # the acked ones are not redelivered: the next bind starts at 3
        with client.subscribe(stream="plant", consumer="reader", max_msgs=1) as again:
            first = again.receive(10000)
            assert first.data == b"3"
            again.ack(first)
        with client.subscribe(filter="plant.live.>") as tail:
            client.publish("plant.live.x", b"now")
            msg = tail.receive(10000)
            assert (msg.subject, msg.data) == ("plant.live.x", b"now")
    with pytest.raises(FoundryError) as info:
        with _admin(broker) as client:
            client.subscribe(stream="plant", consumer="nosuch")
    assert info.value.code == errors.ENOTFOUND


def test_jobs_submit_and_wait_for_result(broker):
    broker.node("node-hanam", "hanam", "echo exec 1 10s -- /bin/cat\n")
    with _admin(broker) as client:
        job_id, duplicate = client.submit_job("echo", b"hello job", sites=["hanam"],
                                              idempotency_key="py-1")
        assert not duplicate
        done = client.wait_job(job_id, 60000)
        assert done.state == "succeeded", (done.state, done.error, done.waiting)
        assert done.result == b"hello job"
        assert client.submit_job("echo", b"hello job", sites=["hanam"],
                                 idempotency_key="py-1") == (job_id, True)
        with pytest.raises(FoundryError) as info:
            client.job(999999)
        assert info.value.code == errors.ENOTFOUND


def test_typed_telemetry_matches_the_c_side(broker):
    broker.key("pangyo-n", "--role", "node", "--site", "pangyo")
    samples = [telemetry.Sample("robot1.temp", 21.5, "C", 1700000000000000000, {"line": "a"}),
               telemetry.Sample("robot1.rpm", 1200)]
    batch = telemetry.encode(samples)
    with Client(broker.endpoint, broker.secret("pangyo-n"), broker.broker_key) as node:
        node.publish("telemetry.pangyo.robot1", batch)
    # foundryctl decodes it with lib/core/telemetry.c: the same samples
    out = broker.run_ctl("stream", "read", "telemetry-pangyo").stdout
    assert "robot1.temp 21.5 C 1700000000000000000 line=a; robot1.rpm 1200" in out
    with _admin(broker) as client:
        broker.run_ctl("consumer", "add", "telemetry-pangyo", "py")
        with client.subscribe(stream="telemetry-pangyo", consumer="py", max_msgs=1) as sub:
            msg = sub.receive(10000)
            assert telemetry.decode(msg.data) == samples
            sub.ack(msg)
    with pytest.raises(FoundryError) as info:
        telemetry.encode([telemetry.Sample("bad metric", 1.0)])
    assert info.value.code == errors.EINVAL
    with pytest.raises(FoundryError):
        telemetry.decode(b"21.5")


def test_version():
    assert foundry.version().count(".") == 2
