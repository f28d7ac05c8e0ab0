"""Failover, as Redis 7.0.15 does it: the pure rules of aikv/cluster/election.py (votes,
rank, the election's schedule and quorum, the promotion), the bus engine carrying them
out on real encoded messages (captured redis-server traffic where there is some), and
whole failovers in an in-memory network of engines. Time is always passed in."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from aikv.bus.builders import failover_auth_ack, failover_auth_request
from aikv.bus.gossip import DurableSave, Gossip, Link, PauseWrites, ResumeWrites, Send
from aikv.bus.protocol import MFLAG0_FORCEACK, MFLAG0_PAUSED, MsgType
from aikv.bus.wire import HeaderOnlyMessage, Message, decode, encode
from aikv.cluster import election, failure
from aikv.cluster import nodeflags as nf
from aikv.cluster.announce import Announce, my_header
from aikv.cluster.election import (
    CANT_DATA_AGE,
    CANT_EXPIRED,
    CANT_WAITING_DELAY,
    CANT_WAITING_VOTES,
    FailoverSettings,
    FailoverState,
    Step,
)
from aikv.cluster.epochs import set_config_epoch, update_slots_config_with
from aikv.cluster.runtime import ClusterNode
from aikv.cluster.state import LINK_CONNECTED, ClusterState, NodeRecord
from tests.harness import shared_dir
from tests.unit.test_cluster_persist_order import make_node
from tests.unit.test_gossip import Net

TIMEOUT = 2000
NOW = 10_000_000
A, B, C = "a" * 40, "b" * 40, "c" * 40  # masters
R1, R2 = "1" * 40, "2" * 40  # replicas of A
THIRDS = {A: (0, 5460), B: (5461, 10922), C: (10923, 16383)}


def build(myself_id: str) -> ClusterState:
    """Three masters (A, B, C: epochs 1, 2, 3) and two replicas of A, seen from `myself_id`."""
    st = ClusterState(myself_id, node_timeout=TIMEOUT)
    for node_id in (A, B, C, R1, R2):
        node = st.lookup(node_id)
        if node is None:
            node = NodeRecord(node_id, 0)
            st.add_node(node)
        node.flags = (node.flags & nf.MYSELF) | (nf.MASTER if node_id in THIRDS else nf.SLAVE)
        if node_id in THIRDS:
            node.config_epoch = "abc".index(node_id[0]) + 1
            lo, hi = THIRDS[node_id]
            for slot in range(lo, hi + 1):
                st.add_slot(node, slot)
        else:
            node.master_id = A
    st.current_epoch = 3
    failure.update_state(st, NOW)
    st.state_ok = True
    st.take_dirty()
    return st


def request(st: ClusterState, *, epoch: int | None = None, config_epoch: int = 1,
            force: bool = False, now: int = NOW) -> str | None:
    """vote_refusal for R1's request, as it would arrive (header epochs taken first)."""
    req_epoch = st.current_epoch + 1 if epoch is None else epoch
    st.current_epoch = max(st.current_epoch, req_epoch)
    claimed = bytes(st.nodes[A].slots)
    return election.vote_refusal(st, st.nodes[R1], req_epoch, config_epoch, claimed, force, now)


# --- votes --------------------------------------------------------------------------------


def test_vote_granted_when_master_failed_and_recorded_for_fsync() -> None:
    st = build(B)
    st.nodes[A].flags |= nf.FAIL
    assert request(st) is None
    election.record_vote(st, st.nodes[R1], NOW)
    assert st.last_vote_epoch == st.current_epoch == 4
    assert st.nodes[A].voted_time == NOW
    assert st.take_dirty() == (True, True)


def test_no_vote_from_a_replica_or_a_master_without_slots() -> None:
    st = build(R2)
    st.nodes[A].flags |= nf.FAIL
    assert request(st) == election.NOT_A_VOTER
    st = build(B)
    st.nodes[A].flags |= nf.FAIL
    st.del_node_slots(st.myself)
    assert request(st) == election.NOT_A_VOTER


def test_no_vote_for_an_older_epoch() -> None:
    st = build(B)
    st.nodes[A].flags |= nf.FAIL
    st.current_epoch = 9
    assert request(st, epoch=8) == "reqEpoch (8) < curEpoch(9)"


def test_one_vote_per_epoch() -> None:
    st = build(B)
    st.nodes[A].flags |= nf.FAIL
    assert request(st, epoch=4) is None
    election.record_vote(st, st.nodes[R1], NOW)
    # R2 asks in the same epoch (2 x node_timeout later, so only the epoch rule applies)
    assert election.vote_refusal(st, st.nodes[R2], 4, 1, bytes(st.nodes[A].slots), False,
                                 NOW + 2 * TIMEOUT + 1) == "already voted for epoch 4"


def test_no_vote_for_a_master_or_a_replica_of_an_unknown_master() -> None:
    st = build(B)
    st.nodes[A].flags |= nf.FAIL
    assert election.vote_refusal(st, st.nodes[C], 4, 3, bytes(st.nodes[C].slots), True, NOW) == "it is a master node"
    st.nodes[R1].master_id = "f" * 40
    assert request(st) == "I don't know its master"


def test_no_vote_while_the_master_is_up_unless_forceack() -> None:
    st = build(B)
    assert request(st) == "its master is up"
    st.nodes[A].flags |= nf.PFAIL  # only FAIL counts
    assert request(st) == "its master is up"
    assert request(st, force=True) is None


def test_no_second_vote_about_one_master_within_two_node_timeouts() -> None:
    st = build(B)
    st.nodes[A].flags |= nf.FAIL
    assert request(st) is None
    election.record_vote(st, st.nodes[R1], NOW)
    later = NOW + 2 * TIMEOUT - 1
    assert request(st, now=later) == "can't vote about this master before 1 milliseconds"
    assert request(st, now=NOW + 2 * TIMEOUT) is None


def test_no_vote_when_a_claimed_slot_has_a_newer_owner() -> None:
    st = build(B)
    st.nodes[A].flags |= nf.FAIL
    # C took slot 7 at epoch 3 > the request's configEpoch 1: R1's view is stale
    st.bind_slot(7, st.nodes[C])
    claimed = bytearray(st.nodes[A].slots)
    claimed[0] |= 0x80
    reason = election.vote_refusal(st, st.nodes[R1], 4, 1, bytes(claimed), False, NOW)
    assert reason == "slot 7 epoch (3) > reqEpoch (1)"
    # equal epochs are fine, and so is a slot whose owner stopped claiming it
    assert election.vote_refusal(st, st.nodes[R1], 4, 3, bytes(claimed), False, NOW) is None
    st.not_claiming.add(7)
    assert election.vote_refusal(st, st.nodes[R1], 4, 1, bytes(claimed), False, NOW) is None


# --- rank and the election ----------------------------------------------------------------


def test_rank_counts_siblings_with_more_data_that_may_fail_over() -> None:
    st = build(R1)
    st.myself.repl_offset = 100
    st.nodes[R2].repl_offset = 100
    assert election.replica_rank(st) == 0  # equal offsets share a rank
    st.nodes[R2].repl_offset = 101
    assert election.replica_rank(st) == 1
    st.nodes[R2].flags |= nf.NOFAILOVER  # it will never compete
    assert election.replica_rank(st) == 0


def step(st: ClusterState, fo: FailoverState, now: int, *, age: int = 0, factor: int = 10,
         seed: int = 1) -> election.Outcome:
    return election.election_step(st, fo, now, data_age_ms=age, settings=FailoverSettings(factor, 10_000),
                                  rng=random.Random(seed))


def test_no_election_unless_the_master_failed_and_serves_slots() -> None:
    st = build(R1)
    fo = FailoverState()
    assert step(st, fo, NOW).step is Step.IDLE and fo.auth_time == 0
    st.nodes[A].flags |= nf.FAIL
    st.myself.flags |= nf.NOFAILOVER  # cluster-replica-no-failover
    assert step(st, fo, NOW).step is Step.IDLE and fo.auth_time == 0
    st.myself.flags &= ~nf.NOFAILOVER
    st.del_node_slots(st.nodes[A])
    assert step(st, fo, NOW).step is Step.IDLE and fo.auth_time == 0


def test_too_old_data_blocks_an_automatic_failover_unless_factor_zero() -> None:
    st = build(R1)
    st.nodes[A].flags |= nf.FAIL
    limit = 10_000 + TIMEOUT * 10  # repl-ping-replica-period + node_timeout * factor
    fo = FailoverState()
    # the node timeout it took to flag the master FAIL does not count
    assert step(st, fo, NOW, age=limit + TIMEOUT + 1).reason == CANT_DATA_AGE
    assert step(st, fo, NOW, age=limit + TIMEOUT).step is Step.SCHEDULED
    fo = FailoverState()
    assert step(st, fo, NOW, age=10**12, factor=0).step is Step.SCHEDULED


def test_election_schedule_request_quorum_and_promotion() -> None:
    st = build(R1)
    st.nodes[A].flags |= nf.FAIL
    st.myself.repl_offset = 50
    st.nodes[R2].repl_offset = 80  # a better copy: we are rank 1
    fo = FailoverState()
    assert step(st, fo, NOW, seed=7).step is Step.SCHEDULED
    jitter = random.Random(7).randrange(500)
    assert fo.auth_time == NOW + 500 + jitter + 1000 and fo.auth_rank == 1
    assert not fo.auth_sent and fo.auth_count == 0

    out = step(st, fo, fo.auth_time - 1)
    assert out.step is Step.IDLE and out.reason == CANT_WAITING_DELAY
    start = fo.auth_time
    assert step(st, fo, start).step is Step.REQUEST_VOTES
    assert st.current_epoch == fo.auth_epoch == 4 and fo.auth_sent
    assert st.take_dirty() == (True, True)  # the new currentEpoch is fsynced first

    assert st.size == 3 and election.quorum(st) == 2
    fo.auth_count = 1
    assert step(st, fo, start + 100).reason == CANT_WAITING_VOTES
    fo.auth_count = 2
    assert step(st, fo, start + 200).step is Step.PROMOTE
    assert st.myself.config_epoch == 4

    old = election.replace_master(st)
    assert old is st.nodes[A]
    me = st.myself
    assert me.is_master and not me.is_replica and me.master_id is None
    assert me.num_slots == 5461 and all(st.slot_owner[s] is me for s in range(0, 5461))
    assert st.nodes[A].num_slots == 0
    assert st.take_dirty() == (True, True)
    assert st.state_eval_needed


def test_rank_falls_back_while_waiting_but_never_moves_forward() -> None:
    st = build(R1)
    st.nodes[A].flags |= nf.FAIL
    fo = FailoverState()
    step(st, fo, NOW)
    scheduled = fo.auth_time
    st.nodes[R2].repl_offset = 10  # R2's newer offset arrives: we drop to rank 1
    step(st, fo, NOW + 100)
    assert fo.auth_rank == 1 and fo.auth_time == scheduled + 1000
    st.nodes[R2].repl_offset = 0
    step(st, fo, NOW + 200)
    assert fo.auth_rank == 1 and fo.auth_time == scheduled + 1000


def test_election_expires_and_is_retried_after_twice_the_timeout() -> None:
    st = build(R1)
    st.nodes[A].flags |= nf.FAIL
    fo = FailoverState()
    step(st, fo, NOW)
    start = fo.auth_time
    assert step(st, fo, start).step is Step.REQUEST_VOTES
    timeout = election.auth_timeout(TIMEOUT)
    assert timeout == 4000 and election.auth_timeout(500) == 2000
    assert step(st, fo, start + timeout).reason == CANT_WAITING_VOTES
    assert step(st, fo, start + timeout + 1).reason == CANT_EXPIRED
    fo.auth_count = 5  # acks arriving too late change nothing
    assert step(st, fo, start + 2 * timeout).reason == CANT_EXPIRED
    assert step(st, fo, start + 2 * timeout + 1).step is Step.SCHEDULED
    assert fo.auth_count == 0 and not fo.auth_sent


def test_acks_count_only_from_slot_serving_masters_of_the_election_epoch() -> None:
    st = build(R1)
    fo = FailoverState(auth_epoch=5)
    assert election.counts_as_vote(st, fo, st.nodes[B], 5)
    assert election.counts_as_vote(st, fo, st.nodes[B], 6)
    assert not election.counts_as_vote(st, fo, st.nodes[B], 4)
    assert not election.counts_as_vote(st, fo, st.nodes[R2], 5)
    st.del_node_slots(st.nodes[C])
    assert not election.counts_as_vote(st, fo, st.nodes[C], 5)


def test_manual_failover_skips_delay_and_data_age() -> None:
    st = build(R1)  # master A is up
    fo = FailoverState(mf_end=NOW + 5000)
    assert step(st, fo, NOW).step is Step.IDLE  # mf_can_start not set yet
    fo.mf_can_start = True
    st.nodes[R2].repl_offset = 99  # rank is ignored too
    assert step(st, fo, NOW, age=10**12).step is Step.SCHEDULED
    assert fo.auth_time == NOW and fo.auth_rank == 0
    assert step(st, fo, NOW).step is Step.REQUEST_VOTES


def test_manual_failover_waits_for_the_paused_masters_offset() -> None:
    st = build(R1)
    fo = FailoverState(mf_end=NOW + 5000)
    master = st.nodes[A]
    master.repl_offset = 30
    st.myself.repl_offset = 20
    assert not election.mf_observe_paused_offset(st, fo, master, paused=False)
    assert not election.mf_observe_paused_offset(st, fo, st.nodes[B], paused=True)
    assert election.mf_observe_paused_offset(st, fo, master, paused=True)
    master.repl_offset = 40  # only the first paused offset counts
    assert not election.mf_observe_paused_offset(st, fo, master, paused=True)
    assert fo.mf_master_offset == 30
    assert not election.mf_progress(st, fo)
    st.myself.repl_offset = 30
    assert election.mf_progress(st, fo) and fo.mf_can_start
    assert not election.mf_progress(st, fo)


def test_master_side_of_manual_failover() -> None:
    st = build(A)
    fo = FailoverState()
    end = election.mf_start_as_master(fo, st.nodes[R1], NOW)
    assert end == NOW + 10_000 and fo.mf_end == NOW + 5000 and fo.mf_replica is st.nodes[R1]
    assert election.mf_reset(fo) == end
    assert fo.mf_end == 0 and fo.mf_replica is None and election.mf_reset(fo) == 0


# --- slot updates: the old master follows the winner ----------------------------------------


def test_master_that_lost_all_its_slots_becomes_a_replica_and_closes_open_slots() -> None:
    st = build(A)
    winner = st.nodes[R1]
    st.migrating_to[3] = st.nodes[B]
    st.set_node_as_master(winner)
    result = update_slots_config_with(st, winner, 4, bytes(st.myself.slots))
    assert result.new_master is winner
    assert st.myself.is_replica and st.myself.master_id == R1 and st.myself.num_slots == 0
    assert not st.migrating_to
    assert all(st.slot_owner[s] is winner for s in range(5461))


def test_replica_of_a_replica_moves_to_the_top_master() -> None:
    st = build(R2)
    a = st.nodes[A]
    # A became a replica of R1 (which took its slots); any later slot update re-points us
    st.set_node_as_master(st.nodes[R1])
    for slot in range(5461):
        st.bind_slot(slot, st.nodes[R1])
    st.set_node_as_replica(a, st.nodes[R1])
    result = update_slots_config_with(st, st.nodes[C], 3, bytes(st.nodes[C].slots))
    assert result.new_master is st.nodes[R1] and st.myself.master_id == R1


# --- the bus engine, on captured redis-server 7.0.15 traffic --------------------------------

BUS_FIXTURE = shared_dir() / "fixtures" / "bus" / "bus-messages.json"
N7101, N7102, N7103, N7104 = (
    "d6db14b3d426415295516ece82eda168b8cc20c7",
    "0e222c93ae9952f37985684d936da2b796c0f8d7",
    "d73c88c9ca1148e37b9d6eddcc37e96bc3f4cf84",
    "c6851030a09d2138b9e3fac8917afb2d9f2a786e",
)


def captured(seq: int) -> bytes:
    for m in json.loads(BUS_FIXTURE.read_text())["messages"]:
        if m["seq"] == seq:
            return bytes.fromhex(m["hex"])
    raise AssertionError(seq)


def capture_cluster(me: str) -> Gossip:
    """The cluster of the capture just before `CLUSTER FAILOVER` on 7104: 7101 (epoch 6,
    slots 0-5461) replicated by 7104, 7102 (epoch 2) and 7103 (epoch 5); currentEpoch 6;
    every offset 14 in 7101's shard. Seen from `me`, with outbound links to everyone."""
    st = ClusterState(me, node_timeout=2000)
    layout = {N7101: (7101, [(0, 5461)], 6), N7102: (7102, [(5462, 10922)], 2),
              N7103: (7103, [(10923, 16383)], 5), N7104: (7104, [], 0)}
    eng = Gossip(st, Announce(), rng=random.Random(1))
    for node_id, (port, ranges, epoch) in layout.items():
        node = st.lookup(node_id) or NodeRecord(node_id, 0)
        st.add_node(node)
        node.flags = (node.flags & nf.MYSELF) | (nf.SLAVE if node_id == N7104 else nf.MASTER)
        node.ip, node.port, node.cport, node.config_epoch = "127.0.0.1", port, port + 10000, epoch
        node.master_id = N7101 if node_id == N7104 else None
        node.repl_offset = 14 if node_id in (N7101, N7104) else 0
        for lo, hi in ranges:
            for slot in range(lo, hi + 1):
                st.add_slot(node, slot)
        if node is not st.myself:
            node.link = LINK_CONNECTED
            eng.outbound[node] = Link(inbound=False, node=node)
    st.current_epoch = 6
    failure.update_state(st, NOW)
    st.state_ok = True
    st.take_dirty()
    return eng


def sends_to(actions: list, eng: Gossip, msg_type: int | None = None) -> dict[str, bytes]:
    """node id -> the bytes sent to it (of `msg_type` if given; one message each)."""
    out: dict[str, bytes] = {}
    for act in actions:
        if isinstance(act, Send) and act.link.node is not None:
            if msg_type is not None and decode(act.data).header.type != msg_type:
                continue
            assert act.link.node.node_id not in out
            out[act.link.node.node_id] = act.data
    return out


def test_master_votes_exactly_as_redis_did() -> None:
    eng = capture_cluster(N7102)
    st = eng.state
    inbound = Link(inbound=True, node=st.nodes[N7104])
    actions = eng.on_message(inbound, decode(captured(106)), NOW)  # AUTH_REQUEST, FORCEACK
    assert isinstance(actions[0], DurableSave)  # lastVoteEpoch on disk before the ack
    assert sends_to(actions, eng) == {N7104: captured(108)}  # the ACK, byte for byte
    assert st.last_vote_epoch == 7 and st.nodes[N7101].voted_time == NOW
    assert st.save_needed and st.fsync_needed
    # the same request again (a retransmission): no second vote in epoch 7
    assert eng.on_message(inbound, decode(captured(106)), NOW + 1) == []
    assert eng.stats.sent[MsgType.FAILOVER_AUTH_ACK] == 1
    assert eng.stats.received[MsgType.FAILOVER_AUTH_REQUEST] == 2


def test_replica_runs_a_manual_failover_exactly_as_redis_did() -> None:
    eng = capture_cluster(N7104)
    st = eng.state
    now = NOW
    actions = eng.manual_failover("", now)
    assert sends_to(actions, eng) == {N7101: captured(104)}  # MFSTART, byte for byte
    assert eng.tick(now + 100) and eng.failover.state.mf_master_offset == -1  # nothing yet

    # 7101's PING flagged PAUSED carries its final offset (14 = ours): election at once
    paused_ping = decode(captured(105))
    actions = eng.on_message(eng.outbound[st.nodes[N7101]], paused_ping, now + 150)
    requests = sends_to(actions, eng, MsgType.FAILOVER_AUTH_REQUEST)
    assert set(requests) == {N7101, N7102, N7103}
    assert requests[N7102] == captured(106)  # currentEpoch 7, FORCEACK
    assert DurableSave() in actions
    assert st.current_epoch == 7 and eng.failover.state.auth_epoch == 7

    actions = eng.on_message(Link(inbound=True, node=st.nodes[N7102]), decode(captured(108)), now + 160)
    assert not st.myself.is_master and actions == []
    actions = eng.on_message(Link(inbound=True, node=st.nodes[N7103]), decode(captured(109)), now + 170)
    assert st.myself.is_master and st.myself.config_epoch == 7
    assert st.myself.num_slots == 5462 and st.nodes[N7101].num_slots == 0
    assert isinstance(actions[0], DurableSave)
    pongs = sends_to(actions, eng)
    assert set(pongs) == {N7101, N7102, N7103}
    mine = decode(pongs[N7103]).header
    theirs = decode(captured(112)).header  # 7104's PONG to 7103 after winning
    for field in ("type", "sender", "current_epoch", "config_epoch", "offset", "myslots", "slaveof",
                  "port", "cport", "flags", "state", "mflags"):
        assert getattr(mine, field) == getattr(theirs, field), field
    assert mine.mflags == MFLAG0_PAUSED  # Redis's quirk: reset after the broadcast
    assert eng.failover.state.mf_end == 0
    assert my_header(st, Announce()).mflags == 0


def test_paused_master_answers_mfstart_and_pings_every_tick() -> None:
    eng = capture_cluster(N7101)
    st = eng.state
    st.myself.repl_offset = 14
    inbound = Link(inbound=True, node=st.nodes[N7104])
    actions = eng.on_message(inbound, decode(captured(104)), NOW)
    assert actions[0] == PauseWrites(NOW + 10_000)
    (ping,) = [a for a in actions if isinstance(a, Send)]
    assert ping.link is inbound  # answered on the link the request came in on
    hdr = decode(ping.data).header
    assert hdr.type == MsgType.PING and hdr.mflags == MFLAG0_PAUSED and hdr.offset == 14
    replica = st.nodes[N7104]
    for t in (100, 200, 300):
        replica.pong_received = NOW + t  # its pongs keep coming: the cron would not ping
        replica.ping_sent = 0
        pings = sends_to(eng.tick(NOW + t), eng)
        assert N7104 in pings and decode(pings[N7104]).header.mflags == MFLAG0_PAUSED
    # the manual failover times out after 5 s: writes resume, PAUSED disappears
    actions = eng.tick(NOW + 5001)
    assert ResumeWrites(NOW + 10_000) in actions
    assert eng.header().mflags == 0


def test_old_master_paused_for_a_manual_failover_resumes_when_it_follows_the_winner() -> None:
    eng = capture_cluster(N7101)
    st = eng.state
    eng.on_message(Link(inbound=True, node=st.nodes[N7104]), decode(captured(104)), NOW)
    # 7104's PONG after winning: slaveof none, epoch 7, 7101's slots
    actions = eng.on_message(Link(inbound=True, node=st.nodes[N7104]), decode(captured(112)), NOW + 40)
    assert ResumeWrites(NOW + 10_000) in actions
    assert st.myself.is_replica and st.myself.master_id == N7104 and st.myself.num_slots == 0
    assert st.nodes[N7104].is_master and st.nodes[N7104].config_epoch == 7


def test_takeover_needs_no_vote_and_force_skips_the_master() -> None:
    eng = capture_cluster(N7104)
    st = eng.state
    actions = eng.manual_failover("takeover", NOW)
    assert st.myself.is_master and st.myself.config_epoch == 7 == st.current_epoch
    assert isinstance(actions[0], DurableSave)
    assert {decode(d).header.type for d in sends_to(actions, eng).values()} == {MsgType.PONG}

    eng = capture_cluster(N7104)
    st = eng.state
    assert [a for a in eng.manual_failover("force", NOW) if isinstance(a, Send)] == []  # no MFSTART
    requests = sends_to(eng.tick(NOW + 100), eng, MsgType.FAILOVER_AUTH_REQUEST)
    assert set(requests) == {N7101, N7102, N7103}
    hdr = decode(requests[N7102]).header
    assert hdr.type == MsgType.FAILOVER_AUTH_REQUEST and hdr.mflags == MFLAG0_FORCEACK
    assert hdr.current_epoch == 7


def test_auth_messages_from_unknown_nodes_are_ignored() -> None:
    eng = capture_cluster(N7102)
    st = eng.state
    stranger = my_header(ClusterState("e" * 40, node_timeout=2000), Announce())
    link = Link(inbound=True)
    for msg in (failover_auth_request(stranger, force_ack=True), failover_auth_ack(stranger)):
        assert eng.on_message(link, decode(encode(msg)), NOW) == []
    assert st.last_vote_epoch == 0


def test_mfstart_from_a_node_that_is_not_our_replica_is_ignored() -> None:
    eng = capture_cluster(N7102)
    actions = eng.on_message(Link(inbound=True, node=eng.state.nodes[N7104]), decode(captured(104)), NOW)
    assert actions == [] and eng.failover.state.mf_end == 0


def test_header_only_builders_round_trip() -> None:
    hdr = my_header(build(R1), Announce())
    for msg in (failover_auth_request(hdr), failover_auth_request(hdr, force_ack=True), failover_auth_ack(hdr)):
        data = encode(msg)
        assert len(data) == 2256
        back = decode(data)
        assert isinstance(back, HeaderOnlyMessage) and back == msg


# --- whole failovers in a network of engines -----------------------------------------------


def six_node_cluster() -> tuple[Net, dict[int, int]]:
    """3 masters (7101-7103) and one replica each (7201-7203), converged; returns the
    net and replica port -> master port."""
    net = Net()
    ranges = {7101: (0, 5460), 7102: (5461, 10922), 7103: (10923, 16383)}
    for i, port in enumerate((7101, 7102, 7103, 7201, 7202, 7203), 1):
        eng = net.add(port)
        if port in ranges:
            lo, hi = ranges[port]
            for s in range(lo, hi + 1):
                eng.state.add_slot(eng.state.myself, s)
        set_config_epoch(eng.state, i)
    for port in (7102, 7103, 7201, 7202, 7203):
        net.meet(port, 7101)
    net.run(4000)
    pairs = {7201: 7101, 7202: 7102, 7203: 7103}
    for rport, mport in pairs.items():
        rst = net.engines[rport].state
        rst.set_node_as_replica(rst.myself, rst.nodes[net.engines[mport].state.myself.node_id])
    net.run(4000)
    for eng in net.engines.values():
        assert eng.state.state_ok and len(eng.state.nodes) == 6
    return net, pairs


def test_killed_master_is_replaced_by_its_replica_and_rejoins_as_its_replica() -> None:
    net, _ = six_node_cluster()
    old_id = net.engines[7101].state.myself.node_id
    new_id = net.engines[7201].state.myself.node_id
    net.kill(7101)
    net.run(6000)
    alive = [p for p in net.engines if p != 7101]
    winner = net.engines[7201].state
    assert winner.myself.is_master and winner.myself.num_slots == 5461
    epoch = winner.myself.config_epoch
    assert epoch == max(e.state.current_epoch for e in net.engines.values()) == 7
    for port in alive:
        st = net.engines[port].state
        assert st.nodes[new_id].is_master and st.nodes[new_id].config_epoch == epoch, port
        assert st.slot_owner[0] is st.nodes[new_id] and st.nodes[old_id].num_slots == 0, port
        assert st.state_ok, port
    # exactly one vote per surviving master, all in the election's epoch
    assert sorted(net.engines[p].state.last_vote_epoch for p in (7102, 7103)) == [epoch, epoch]
    assert len(net.signatures()) == 1

    # the old master comes back with its old view: it learns it lost and follows the winner
    net.down.discard(7101)
    net.run(6000)
    old = net.engines[7101].state
    assert old.myself.is_replica and old.myself.master_id == new_id and old.myself.num_slots == 0
    for port in net.engines:
        st = net.engines[port].state
        assert st.nodes[old_id].is_replica and st.nodes[old_id].master_id == new_id, port
        assert not st.nodes[old_id].flags & (nf.FAIL | nf.PFAIL), port
    assert len(net.signatures()) == 1


def test_replica_with_nofailover_never_takes_over() -> None:
    net, _ = six_node_cluster()
    net.engines[7201].state.myself.flags |= nf.NOFAILOVER
    net.kill(7101)
    net.run(8000)
    st = net.engines[7201].state
    assert st.myself.is_replica and st.current_epoch == 6
    assert not net.engines[7102].state.state_ok  # nobody covers slots 0-5460


def test_forced_failover_in_a_healthy_cluster() -> None:
    net, _ = six_node_cluster()
    eng = net.engines[7202]
    old_id = net.engines[7102].state.myself.node_id
    net.apply(eng, eng.manual_failover("force", net.now))
    net.run(3000)
    assert eng.state.myself.is_master and eng.state.myself.num_slots == 5462
    old = net.engines[7102].state
    assert old.myself.is_replica and old.myself.master_id == eng.state.myself.node_id
    assert len(net.signatures()) == 1
    assert all(e.state.nodes[old_id].is_replica for e in net.engines.values())


def test_default_manual_failover_pauses_the_master_then_swaps_roles() -> None:
    net, _ = six_node_cluster()
    eng = net.engines[7203]
    master = net.engines[7103]
    master_id = master.state.myself.node_id
    paused: list[object] = []
    original = net.apply

    def spy(e: Gossip, actions: list) -> None:
        paused.extend(a for a in actions if isinstance(a, PauseWrites | ResumeWrites) and e is master)
        original(e, actions)

    net.apply = spy  # type: ignore[method-assign,assignment]
    net.apply(eng, eng.manual_failover("", net.now))
    net.run(2000)
    assert eng.state.myself.is_master and eng.state.myself.num_slots == 5461
    assert master.state.myself.is_replica and master.state.myself.master_id == eng.state.myself.node_id
    assert isinstance(paused[0], PauseWrites) and isinstance(paused[-1], ResumeWrites)
    assert paused[0].end_ms == paused[-1].end_ms
    assert all(e.state.nodes[master_id].is_replica for e in net.engines.values())
    assert len(net.signatures()) == 1


# --- the runtime: a vote is durable before the ack leaves -----------------------------------


def runtime_voter(
    tmp_path: Path, events: list[str], monkeypatch: pytest.MonkeyPatch
) -> tuple[ClusterNode, NodeRecord, Message]:
    """A ClusterNode (no sockets) whose myself is a slot-serving master, with a replica
    R1 of a FAIL master A it has a link to; saves and sends are recorded in `events`."""
    node, _peer = make_node(tmp_path, events, monkeypatch)
    st = node.state
    for slot in range(100):
        st.add_slot(st.myself, slot)
    failed = NodeRecord(A, nf.MASTER | nf.FAIL, config_epoch=1)
    st.add_node(failed)
    for slot in range(100, 200):
        st.add_slot(failed, slot)
    replica = NodeRecord(R1, nf.SLAVE, ip="127.0.0.1", port=7003, cport=17003, master_id=A)
    st.add_node(replica)
    node.gossip.outbound[replica] = Link(inbound=False, node=replica)
    failure.update_state(st, NOW)
    st.save_needed = st.fsync_needed = False
    req_state = ClusterState(R1, node_timeout=TIMEOUT)
    req_state.add_node(NodeRecord(A, nf.MASTER, config_epoch=1))
    req_state.set_node_as_replica(req_state.myself, req_state.nodes[A])
    for slot in range(100, 200):
        req_state.add_slot(req_state.nodes[A], slot)
    req_state.current_epoch = st.current_epoch + 1
    msg = decode(encode(failover_auth_request(my_header(req_state, Announce()))))
    return node, replica, msg


def test_vote_is_fsynced_before_the_ack_leaves(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[str] = []
    node, replica, msg = runtime_voter(tmp_path, events, monkeypatch)
    # a bus event: other changes are written in place and made durable by the cron,
    # but a vote must be durable before the ack (a restarted master must not vote twice)
    node._on_message(Link(inbound=True, node=replica), msg)
    assert events == ["save+fsync", "send"]
    assert node.state.last_vote_epoch == 8


def test_vote_reaches_nodes_conf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from aikv.persist.nodesconf import load_nodes_conf

    events: list[str] = []
    node, replica, msg = runtime_voter(tmp_path, events, monkeypatch)
    monkeypatch.undo()  # the real nodes.conf writer from here on
    node._on_message(Link(inbound=True, node=replica), msg)
    assert events == ["send"]
    conf = load_nodes_conf(node.path)
    assert conf is not None and conf.last_vote_epoch == 8 and conf.current_epoch == 8
    assert "vars currentEpoch 8 lastVoteEpoch 8" in Path(node.path).read_text()


# --- CLUSTER FAILOVER: replies ---------------------------------------------------------------


def test_cluster_failover_replies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from types import SimpleNamespace

    from aikv.commands.cluster import cluster_failover
    from aikv.resp import OK, CommandError

    events: list[str] = []
    node, master = make_node(tmp_path, events, monkeypatch)
    client = SimpleNamespace(server=SimpleNamespace(cluster=node))

    def reply(*args: str) -> bytes | str:
        try:
            return cluster_failover(client, [b"CLUSTER", b"FAILOVER", *(a.encode() for a in args)])  # type: ignore[arg-type]
        except CommandError as exc:
            return str(exc)

    assert reply() == "ERR You should send CLUSTER FAILOVER to a replica"
    assert reply("soon") == "ERR syntax error"
    assert reply("force", "now") == ("ERR unknown subcommand or wrong number of arguments for 'FAILOVER'. "
                                     "Try CLUSTER HELP.")
    st = node.state
    st.set_node_as_replica(st.myself, None)
    st.myself.config_epoch = 0  # a replica has none of its own
    st.myself.master_id = "f" * 40
    assert reply() == "ERR I'm a replica but my master is unknown to me"
    st.myself.master_id = master.node_id
    master.link = 0  # no link to it
    assert reply() == "ERR Master is down or failed, please use CLUSTER FAILOVER FORCE"
    master.link = LINK_CONNECTED
    master.flags |= nf.FAIL
    assert reply() == "ERR Master is down or failed, please use CLUSTER FAILOVER FORCE"
    assert reply("FORCE") == OK
    assert node.gossip.failover.state.mf_can_start and node.gossip.failover.state.mf_end
    for slot in range(10):
        st.add_slot(master, slot)
    events.clear()
    assert reply("takeover") == OK
    assert st.myself.is_master and st.myself.num_slots == 10
    assert st.myself.config_epoch == st.current_epoch == 8
    assert events == ["save+fsync", "send"]  # the claim is durable before the PONG leaves
