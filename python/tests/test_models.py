"""Models and rollouts through the binding, against a real broker and two
real foundry-node agents: a model signed by two keys under a 2-of-2 trust
policy (on the broker and on the agents) is pushed, rolled out, and its
bytes checked where the agents installed it; a push with one signature is
refused with EDENIED and the broker's reason."""

import json
import os

import pytest

from foundry import Client, FoundryError, errors, keygen_model

MODEL = "vision"
SITES = ("pangyo", "siheung")


def _model_file(root, size=150 * 1024):
    """A small artifact over three 64 KiB chunks, not all alike."""
    path = os.path.join(root, "vision-1.onnx")
    with open(path, "wb") as f:
        f.write(bytes((i * 7 + i // 251) & 0xFF for i in range(size)))
    return path


def _trusted_agents(broker, root, pubs):
    """The broker's 2-of-2 policy, and two agents that trust the same keys
    and the broker's release-log key."""
    broker.run_ctl("model", "trust", MODEL, "--signer", pubs[0][1], "--signer", pubs[1][1],
                   "--threshold", "2")
    release = json.loads(broker.run_ctl("--json", "model", "release-key").stdout)
    release = release[0] if isinstance(release, list) else release
    trust = os.path.join(root, "node-trust")
    with open(trust, "w") as f:
        f.write("%s 2 %s %s\n" % (MODEL, pubs[0][0], pubs[1][0]))
    for i, site in enumerate(SITES):
        broker.node("agent%d" % i, site, "",
                    settings=("model_trust_file=" + trust,
                              "model_release_key=" + release["key"]))


def test_push_and_roll_out_a_model_signed_two_of_two(broker, tmp_path):
    root = str(tmp_path)
    pubs = []
    for name in ("alice", "bob"):
        pub_hex = keygen_model(root, name)
        assert len(pub_hex) == 64
        with open(os.path.join(root, name + ".sign.pub")) as f:
            assert pub_hex in f.read()
        pubs.append((pub_hex, os.path.join(root, name + ".sign.pub")))
    with pytest.raises(FoundryError) as exc:
        keygen_model(root, "alice")  # never overwritten
    assert exc.value.code == errors.EEXIST
    _trusted_agents(broker, root, pubs)
    model = _model_file(root)
    signs = [os.path.join(root, "alice.sign"), os.path.join(root, "bob.sign")]

    with Client(broker.endpoint, broker.secret("admin"), broker.broker_key) as client:
        with pytest.raises(FoundryError) as exc:
            client.push_model(model, MODEL, 1, sign=signs[:1])
        assert exc.value.code == errors.EDENIED
        assert "1 of 2 required signatures" in exc.value.reason, exc.value.reason

        phases = []
        pushed = client.push_model(model, MODEL, 1, sign=signs, metadata={"accuracy": "0.93"},
                                   chunk_size=64 * 1024, window=2,
                                   progress=lambda p: phases.append(p.phase))
        assert (pushed.version, pushed.size, pushed.chunk_count) == (1, 150 * 1024, 3)
        assert pushed.chunks_held + pushed.chunks_sent == 3, pushed
        assert pushed.bytes_sent == 64 * 1024 * pushed.chunks_sent - (
            64 * 1024 * 3 - 150 * 1024 if pushed.chunks_sent == 3 else 0), pushed
        assert len(pushed.artifact) == 64
        # a streamed push: chunks leave as they are hashed, no hashing phase first
        assert phases[0] == "uploading" and phases[-1] == "publishing", phases

        with pytest.raises(FoundryError) as exc:
            client.push_model(model, MODEL, 1, sign=signs)
        assert exc.value.code == errors.EDENIED  # version 1 is not above 1

        rollout_id = client.start_rollout(MODEL, 1, waves="pangyo;*")
        rollout = client.wait_rollout(rollout_id, 60000)
        assert rollout.state == "succeeded", rollout
        assert rollout.wave.endswith("2/2") or rollout.wave.startswith("2"), rollout
        assert sorted((n.node, n.site, n.state) for n in rollout.nodes) == [
            ("agent0", "pangyo", "healthy"), ("agent1", "siheung", "healthy")]
        assert [r.id for r in client.rollouts()] == [rollout_id]

        with pytest.raises(FoundryError) as exc:
            client.pause_rollout(rollout_id)  # it has ended
        assert exc.value.code != errors.OK and "succeeded" in exc.value.reason, exc.value
        with pytest.raises(FoundryError) as exc:
            client.rollout(rollout_id + 100)
        assert exc.value.code == errors.ENOTFOUND

    with open(model, "rb") as f:
        want = f.read()
    for i in range(len(SITES)):
        with open(os.path.join(root, "agent%d" % i, "models", MODEL, "current"), "rb") as f:
            assert f.read() == want, "agent%d installed other bytes" % i


def test_rollout_refusals_raise_with_the_reason(broker, tmp_path):
    with Client(broker.endpoint, broker.secret("admin"), broker.broker_key) as client:
        with pytest.raises(FoundryError) as exc:
            client.start_rollout("nosuch", 3)
        assert exc.value.code in (errors.ENOTFOUND, errors.EINVAL), exc.value
        assert "nosuch" in exc.value.reason, exc.value.reason
        with pytest.raises(FoundryError) as exc:
            client.start_rollout()
        assert exc.value.code == errors.EINVAL
        with pytest.raises(FoundryError) as exc:
            client.admin("rollout.nosuch")
        assert exc.value.code != errors.OK and exc.value.reason
    # a key that is no admin may not start rollouts
    partner = broker.key("acme", "--role", "partner", "--tenant", "acme", "--allow-publish",
                         "acme.>", "--create-stream")
    with Client(broker.endpoint, partner, broker.broker_key) as client:
        with pytest.raises(FoundryError) as exc:
            client.rollouts()
        assert exc.value.code == errors.EDENIED, exc.value
