"""Failover: masters' votes, replicas' elections, manual failover (Redis 7.0.15 rules).

Pure decisions over `ClusterState`, with time passed in; the bus engine
(`aikv/bus/gossip.py`) calls them and turns their verdicts into messages.

Why an election at all: a replica may only take its failed master's slots once a
majority of the slot-serving masters agreed, each voting at most once per epoch. Two
replicas can then never both win the same epoch, and the winner's claim carries that
epoch as its configEpoch, which beats the old master's everywhere.

The replica's side, in the order it happens:
  1. its master is FAIL: schedule the election a little later (500 ms for the FAIL to
     spread, up to 500 ms of jitter so sibling replicas do not collide, and one second
     per sibling that has more of the master's data, so the best copy usually wins);
  2. at that time: currentEpoch += 1, ask every node for a vote (FAILOVER_AUTH_REQUEST);
  3. with a majority of acks before the election expires: take the master's slots with
     the election epoch as configEpoch, save, and tell everyone (PONG broadcast);
  4. otherwise wait until a retry is allowed and start over from 1.
A manual failover (CLUSTER FAILOVER) runs the same election at once, with FORCEACK so
masters vote although the master is up; its default mode first has the master pause
writes and waits until this replica has processed everything the master had.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import Enum

from aikv.cluster import nodeflags as nf
from aikv.cluster.epochs import iter_set_bits
from aikv.cluster.state import ClusterState, NodeRecord

# Auth timeout = max(AUTH_TIMEOUT_MULT * node_timeout, MIN_AUTH_TIMEOUT_MS): how long an
# election collects votes. A new one may start RETRY_MULT times that after the last.
AUTH_TIMEOUT_MULT = 2
MIN_AUTH_TIMEOUT_MS = 2000
AUTH_RETRY_MULT = 2
# Election delay: fixed part (lets the FAIL message reach every master first, or they
# refuse to vote), random part, and the per-rank penalty.
ELECTION_FIXED_DELAY_MS = 500
ELECTION_JITTER_MS = 500
RANK_DELAY_MS = 1000
# A master votes for replicas of one master at most once per this multiple of the node
# timeout: not needed for safety (one vote per epoch is), but keeps retries orderly.
VOTE_AGAIN_MULT = 2
# Manual failover: the whole attempt must finish within MF_TIMEOUT_MS; the master
# pauses writes for MF_PAUSE_MULT times that.
MF_TIMEOUT_MS = 5000
MF_PAUSE_MULT = 2
# With no replication link at all, the data is as old as it can be (Redis: "down since
# ever"), so only a manual failover can promote such a replica.
NEVER_SYNCED_AGE_MS = 1 << 62

# Why a replica of a failed master is not (yet) failing over: Redis's log texts.
CANT_DATA_AGE = ("Disconnected from master for longer than allowed. Please check the "
                 "'cluster-replica-validity-factor' configuration option.")
CANT_WAITING_DELAY = "Waiting the delay before I can start a new failover."
CANT_EXPIRED = "Failover attempt expired."
CANT_WAITING_VOTES = "Waiting for votes, but majority still not reached."
# The one refusal Redis does not log: we have no vote to give.
NOT_A_VOTER = "not a master serving slots"


@dataclass
class FailoverState:
    """The failover bookkeeping of one node (Redis keeps it in clusterState)."""

    # Replica side: the current or last election.
    auth_time: int = 0  # when it starts (scheduled) or started; 0 = never
    auth_count: int = 0  # acks received
    auth_sent: bool = False  # requests sent for this election
    auth_rank: int = 0
    auth_epoch: int = 0  # currentEpoch of the election
    # Manual failover, both sides. mf_end != 0 means one is in progress.
    mf_end: int = 0
    mf_can_start: bool = False  # replica: may run the election now
    mf_replica: NodeRecord | None = None  # master: the replica that asked (MFSTART)
    mf_master_offset: int = -1  # replica: the paused master's offset, -1 = not known yet
    mf_pause_end: int = 0  # master: end of the write pause we imposed


@dataclass
class FailoverSettings:
    """The configuration the replica's side reads (cluster-replica-validity-factor,
    repl-ping-replica-period in ms)."""

    validity_factor: int = 10
    repl_ping_period_ms: int = 10_000


class Step(Enum):
    IDLE = "idle"  # no failover to run (or one that cannot start: see `reason`)
    SCHEDULED = "scheduled"  # a new election was scheduled: tell sibling replicas our offset
    REQUEST_VOTES = "request-votes"  # currentEpoch was raised: broadcast the request now
    PROMOTE = "promote"  # majority reached: replace the master now


@dataclass
class Outcome:
    step: Step
    reason: str = ""  # set when a failover is wanted but cannot proceed yet


def auth_timeout(node_timeout: int) -> int:
    return max(node_timeout * AUTH_TIMEOUT_MULT, MIN_AUTH_TIMEOUT_MS)


def auth_retry_time(node_timeout: int) -> int:
    return auth_timeout(node_timeout) * AUTH_RETRY_MULT


def quorum(state: ClusterState) -> int:
    """Votes needed: a majority of the masters serving slots."""
    return state.size // 2 + 1


# --- the master's side: voting ------------------------------------------------------------


def vote_refusal(
    state: ClusterState,
    requester: NodeRecord,
    request_current_epoch: int,
    request_config_epoch: int,
    claimed_slots: bytes,
    force_ack: bool,
    now_ms: int,
) -> str | None:
    """Why we must not vote for `requester`'s FAILOVER_AUTH_REQUEST, or None to grant it.

    Expects our currentEpoch to have been raised from the request's header already (as
    every message's header does), so the request can never be newer than us here."""
    myself = state.myself
    if not myself.is_master or myself.num_slots == 0:
        # Only slot-serving masters count in the cluster size, so only they vote.
        return NOT_A_VOTER
    if request_current_epoch < state.current_epoch:
        return f"reqEpoch ({request_current_epoch}) < curEpoch({state.current_epoch})"
    if state.last_vote_epoch == state.current_epoch:
        return f"already voted for epoch {state.current_epoch}"
    master = state.master_of(requester) if requester.is_replica else None
    if requester.is_master:
        return "it is a master node"
    if master is None:
        return "I don't know its master"
    if not master.has(nf.FAIL) and not force_ack:
        return "its master is up"
    wait = state.node_timeout * VOTE_AGAIN_MULT - (now_ms - master.voted_time)
    if wait > 0:
        return f"can't vote about this master before {wait} milliseconds"
    # The replica claims its master's slots at its master's configEpoch. If any of them
    # has since gone to a newer owner, the replica's view is stale: promoting it would
    # take those slots back with an old epoch.
    for slot in iter_set_bits(int.from_bytes(claimed_slots, "little")):
        owner = state.slot_owner[slot]
        if owner is None or state.slot_unclaimed(slot) or owner.config_epoch <= request_config_epoch:
            continue
        return f"slot {slot} epoch ({owner.config_epoch}) > reqEpoch ({request_config_epoch})"
    return None


def record_vote(state: ClusterState, requester: NodeRecord, now_ms: int) -> None:
    """Remember the vote before it leaves: a master that restarts must not vote twice in
    one epoch, so lastVoteEpoch is saved and fsynced before the ack is sent."""
    state.last_vote_epoch = state.current_epoch
    master = state.master_of(requester)
    if master is not None:
        master.voted_time = now_ms
    state.mark_dirty(fsync=True)


def counts_as_vote(state: ClusterState, fo: FailoverState, voter: NodeRecord, voter_current_epoch: int) -> bool:
    """A FAILOVER_AUTH_ACK counts if a slot-serving master sent it from our election's
    epoch or later (an ack for an older election must not be carried over)."""
    return voter.is_master and voter.num_slots > 0 and voter_current_epoch >= fo.auth_epoch


# --- the replica's side: the election -----------------------------------------------------


def replica_rank(state: ClusterState) -> int:
    """How many sibling replicas that may fail over claim more of the master's data than
    we do: 0 for the best copy. Equal offsets share a rank."""
    myself = state.myself
    master = state.master_of(myself)
    if master is None:
        return 0
    return sum(
        1
        for sibling in state.replicas_of(master)
        if sibling is not myself and not sibling.has(nf.NOFAILOVER) and sibling.repl_offset > myself.repl_offset
    )


def election_step(
    state: ClusterState,
    fo: FailoverState,
    now_ms: int,
    *,
    data_age_ms: int,
    settings: FailoverSettings,
    rng: random.Random,
) -> Outcome:
    """One pass of the replica's failover state machine (clusterHandleSlaveFailover).

    `data_age_ms`: how long ago the replication link last heard from the master (or went
    down). Mutates `state` (currentEpoch when votes are requested, configEpoch when the
    election is won) and `fo`; the caller sends what the outcome says."""
    myself = state.myself
    master = state.master_of(myself) if myself.is_replica else None
    manual = fo.mf_end != 0 and fo.mf_can_start
    timeout = auth_timeout(state.node_timeout)
    auth_age = now_ms - fo.auth_time

    if (
        master is None
        or (not master.has(nf.FAIL) and not manual)
        or (myself.has(nf.NOFAILOVER) and not manual)
        or master.num_slots == 0
    ):
        return Outcome(Step.IDLE)

    # Being cut off from the master for as long as it took to flag it FAIL is expected;
    # beyond the allowed window our copy is too old to be worth promoting.
    if data_age_ms > state.node_timeout:
        data_age_ms -= state.node_timeout
    if (
        settings.validity_factor
        and data_age_ms > settings.repl_ping_period_ms + state.node_timeout * settings.validity_factor
        and not manual
    ):
        return Outcome(Step.IDLE, CANT_DATA_AGE)

    if auth_age > auth_retry_time(state.node_timeout):
        fo.auth_count = 0
        fo.auth_sent = False
        if fo.mf_end:
            # A manual failover has nothing to wait for: the master agreed (or was forced).
            fo.auth_time = now_ms
            fo.auth_rank = 0
        else:
            fo.auth_rank = replica_rank(state)
            fo.auth_time = (now_ms + ELECTION_FIXED_DELAY_MS + rng.randrange(ELECTION_JITTER_MS)
                            + fo.auth_rank * RANK_DELAY_MS)
        return Outcome(Step.SCHEDULED)

    if not fo.auth_sent and not fo.mf_end:
        # Siblings' offsets keep arriving while we wait: fall back if we were overtaken.
        rank = replica_rank(state)
        if rank > fo.auth_rank:
            fo.auth_time += (rank - fo.auth_rank) * RANK_DELAY_MS
            fo.auth_rank = rank

    if now_ms < fo.auth_time:
        return Outcome(Step.IDLE, CANT_WAITING_DELAY)
    if auth_age > timeout:
        return Outcome(Step.IDLE, CANT_EXPIRED)

    if not fo.auth_sent:
        state.current_epoch += 1
        fo.auth_epoch = state.current_epoch
        fo.auth_sent = True
        state.mark_dirty(fsync=True, update_state=True)
        return Outcome(Step.REQUEST_VOTES)

    if fo.auth_count >= quorum(state):
        if myself.config_epoch < fo.auth_epoch:
            myself.config_epoch = fo.auth_epoch
        return Outcome(Step.PROMOTE)
    return Outcome(Step.IDLE, CANT_WAITING_VOTES)


def replace_master(state: ClusterState) -> NodeRecord | None:
    """The end of every failover: we become a master and take all of our old master's
    slots (the caller already gave us the new configEpoch). Returns the old master, or
    None if there was nothing to replace."""
    myself = state.myself
    old_master = state.master_of(myself) if myself.is_replica else None
    if old_master is None:
        return None
    state.set_node_as_master(myself)
    for slot in iter_set_bits(int.from_bytes(old_master.slots, "little")):
        state.bind_slot(slot, myself)
    # A crash after the others learned our claim must not bring us back as a replica.
    state.mark_dirty(fsync=True, update_state=True)
    return old_master


# --- manual failover ----------------------------------------------------------------------


def mf_reset(fo: FailoverState) -> int:
    """Abort or finish a manual failover. Returns the end of the write pause this node
    imposed as the master of one (the caller lifts it), else 0."""
    pause_end = fo.mf_pause_end if fo.mf_replica is not None else 0
    fo.mf_end = 0
    fo.mf_can_start = False
    fo.mf_replica = None
    fo.mf_master_offset = -1
    fo.mf_pause_end = 0
    return pause_end


def mf_start_as_master(fo: FailoverState, replica: NodeRecord, now_ms: int) -> int:
    """MFSTART from one of our replicas. Returns the end of the write pause to impose:
    with writes stopped our offset is final, and the replica can catch up to it."""
    fo.mf_end = now_ms + MF_TIMEOUT_MS
    fo.mf_replica = replica
    fo.mf_pause_end = now_ms + MF_TIMEOUT_MS * MF_PAUSE_MULT
    return fo.mf_pause_end


def mf_observe_paused_offset(state: ClusterState, fo: FailoverState, sender: NodeRecord, paused: bool) -> bool:
    """A message from our master flagged PAUSED carries its final offset: remember the
    first one. True if it was taken."""
    myself = state.myself
    if (
        fo.mf_end
        and myself.is_replica
        and myself.master_id == sender.node_id
        and paused
        and fo.mf_master_offset == -1
    ):
        fo.mf_master_offset = sender.repl_offset
        return True
    return False


def mf_progress(state: ClusterState, fo: FailoverState) -> bool:
    """Replica: the election of a manual failover may start once we processed all that
    the paused master had. True when that just became the case."""
    if not fo.mf_end or fo.mf_can_start or fo.mf_master_offset == -1:
        return False
    if fo.mf_master_offset == state.myself.repl_offset:
        fo.mf_can_start = True
        return True
    return False


__all__ = [
    "NOT_A_VOTER",
    "FailoverSettings",
    "FailoverState",
    "Outcome",
    "Step",
    "auth_retry_time",
    "auth_timeout",
    "counts_as_vote",
    "election_step",
    "mf_observe_paused_offset",
    "mf_progress",
    "mf_reset",
    "mf_start_as_master",
    "quorum",
    "record_vote",
    "replace_master",
    "replica_rank",
    "vote_refusal",
]
