"""The bus engine's failover half: votes, elections, manual failovers.

`aikv/cluster/election.py` decides (pure, time passed in); this module carries the
decisions out on the bus for one `Gossip` engine, with the engine's own sending helpers,
and returns the same kind of actions. It is part of the engine, kept apart for size: the
engine calls `observe_header` and `on_message` for every message, `cron` from its tick,
and exposes `manual_failover` for CLUSTER FAILOVER.

Three actions exist for failover only, for the runtime to carry out: `DurableSave`
(the change must be fsynced before the sends that follow), and `PauseWrites` /
`ResumeWrites` (the master's side of a manual failover).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aikv.bus.builders import failover_auth_ack, failover_auth_request, mfstart_message
from aikv.bus.protocol import MFLAG0_FORCEACK, MFLAG0_PAUSED, MsgType
from aikv.bus.wire import Header
from aikv.cluster import election, failure, migration
from aikv.cluster import nodeflags as nf
from aikv.cluster.epochs import bump_epoch_without_consensus
from aikv.cluster.state import NodeRecord

if TYPE_CHECKING:
    from aikv.bus.gossip import Action, Gossip, Link

log = logging.getLogger("aikv.bus")

# "Currently unable to failover" is logged again for the same reason after this long.
CANT_FAILOVER_RELOG_MS = 300_000
# ... and not during this long (plus the node timeout) after the master failed: an
# election normally completes by then, so only a stuck replica gets logged.
CANT_FAILOVER_QUIET_MS = 5000


@dataclass
class DurableSave:
    """What this event changed must be saved and fsynced before any Send of the same
    batch leaves: a vote (lastVoteEpoch), an election's epoch, a promotion's claim. A
    crash must never let this node deny what its peers already heard."""


@dataclass
class PauseWrites:
    """Master of a manual failover: hold clients' writes until `end_ms`, so the offset
    we advertise stays final while our replica catches up."""

    end_ms: int


@dataclass
class ResumeWrites:
    """The manual failover that imposed the pause ending at `end_ms` is over."""

    end_ms: int


class FailoverDriver:
    def __init__(self, engine: Gossip) -> None:
        self.engine = engine
        self.state = election.FailoverState()
        # Kept current by the runtime: the settings, and how old our replicated data is
        # (ms since the link to our master last heard from it).
        self.settings = election.FailoverSettings()
        self.data_age_ms: Callable[[], int] = lambda: 0
        self._cant_failover_logged: tuple[str, int] = ("", 0)

    # --- what the engine asks ----------------------------------------------------------

    @property
    def paused_master(self) -> bool:
        """We are a master with writes paused for a replica's manual failover: every
        header we send carries PAUSED."""
        return self.engine.state.myself.is_master and bool(self.state.mf_end)

    def pings_every_tick(self, node: NodeRecord) -> bool:
        """The replica running a manual failover with us waits for our paused offset:
        keep it coming every tick."""
        return self.paused_master and self.state.mf_replica is node

    def observe_header(self, sender: NodeRecord, hdr: Header) -> bool:
        """Every message from a known node, after its header's epochs and offset were
        taken: our master's first PAUSED offset lets a manual failover proceed. True if
        the election may progress now."""
        fo = self.state
        if election.mf_observe_paused_offset(self.engine.state, fo, sender, bool(hdr.mflags & MFLAG0_PAUSED)):
            log.warning("Received replication offset for paused master manual failover: %d",
                        fo.mf_master_offset)
            return True
        return False

    def on_message(self, link: Link, sender: NodeRecord, hdr: Header, now_ms: int, actions: list[Action]) -> bool:
        """FAILOVER_AUTH_REQUEST, FAILOVER_AUTH_ACK or MFSTART from a known node. True if
        the election may progress now."""
        st = self.engine.state
        fo = self.state
        if hdr.type == MsgType.FAILOVER_AUTH_REQUEST:
            self._on_auth_request(sender, hdr, now_ms, actions)
        elif hdr.type == MsgType.FAILOVER_AUTH_ACK:
            if election.counts_as_vote(st, fo, sender, hdr.current_epoch):
                fo.auth_count += 1
                return True
        elif hdr.type == MsgType.MFSTART:
            if sender.master_id != st.myself.node_id:
                return False  # only our own replicas may pause us
            self.reset_manual_failover(actions)
            actions.append(PauseWrites(election.mf_start_as_master(fo, sender, now_ms)))
            log.warning("Manual failover requested by replica %s.", sender.node_id)
            # Answer at once on the same link: this ping carries our final offset.
            self.engine._send_ping(link, MsgType.PING, now_ms, actions)
        return False

    def cron(self, now_ms: int, actions: list[Action]) -> None:
        fo = self.state
        if fo.mf_end and fo.mf_end < now_ms:
            log.warning("Manual failover timed out.")
            self.reset_manual_failover(actions)
        if self.engine.state.myself.is_replica:
            self.engine.refresh_repl_offset()
            self.step(now_ms, actions)
            # After the election step, as clusterCron: a promotion just now leaves us a
            # master, and decide() then does nothing.
            self.migrate(now_ms, actions)

    # --- replica migration ---------------------------------------------------------------

    def migrate(self, now_ms: int, actions: list[Action]) -> None:
        """Become a replica of an orphaned master if migration.decide() says so; the
        runtime points the replication link at it in the same cron run."""
        st = self.engine.state
        decision = migration.decide(st, now_ms)
        if decision.target is None:
            return
        log.warning("Migrating to orphaned master %s", decision.target.node_id)
        migration.migrate_to(st, decision.target)
        self.reset_manual_failover(actions)

    # --- CLUSTER FAILOVER --------------------------------------------------------------

    def manual_failover(self, mode: str, now_ms: int) -> list[Action]:
        """CLUSTER FAILOVER on a replica whose master is known (the command checked
        that). `mode`: "takeover" (no vote: a fresh epoch and the slots at once),
        "force" (an election now, voters told to ignore that the master is up), or ""
        (ask the master to pause writes first, so no acknowledged write is lost)."""
        engine = self.engine
        st = engine.state
        fo = self.state
        actions: list[Action] = []
        self.reset_manual_failover(actions)
        fo.mf_end = now_ms + election.MF_TIMEOUT_MS
        if mode == "takeover":
            log.warning("Taking over the master (user request).")
            bump_epoch_without_consensus(st)
            self.promote(now_ms, actions)
        elif mode == "force":
            log.warning("Forced failover user request accepted.")
            fo.mf_can_start = True
        else:
            log.warning("Manual failover user request accepted.")
            master = st.master_of(st.myself)
            link = engine.outbound.get(master) if master is not None else None
            if link is not None:
                engine._send(link, mfstart_message(engine.header()), actions)
        return actions

    # --- votes ---------------------------------------------------------------------------

    def _on_auth_request(self, requester: NodeRecord, hdr: Header, now_ms: int, actions: list[Action]) -> None:
        engine = self.engine
        st = engine.state
        reason = election.vote_refusal(
            st, requester, hdr.current_epoch, hdr.config_epoch, hdr.myslots.bits,
            bool(hdr.mflags & MFLAG0_FORCEACK), now_ms,
        )
        if reason is not None:
            if reason != election.NOT_A_VOTER:
                log.warning("Failover auth denied to %s: %s", requester.node_id, reason)
            return
        election.record_vote(st, requester, now_ms)
        actions.append(DurableSave())
        link = engine.outbound.get(requester)
        if link is not None:
            engine._send(link, failover_auth_ack(engine.header()), actions)
        log.warning("Failover auth granted to %s for epoch %d", requester.node_id, st.current_epoch)

    # --- our own election ----------------------------------------------------------------

    def step(self, now_ms: int, actions: list[Action]) -> None:
        """One step of our election as a replica (election.election_step), carried out."""
        engine = self.engine
        st = engine.state
        fo = self.state
        if not st.myself.is_replica:
            return
        if election.mf_progress(st, fo):
            log.warning("All master replication stream processed, manual failover can start.")
        outcome = election.election_step(
            st, fo, now_ms, data_age_ms=self.data_age_ms(), settings=self.settings, rng=engine.rng
        )
        if outcome.step is election.Step.SCHEDULED:
            log.warning("Start of election delayed for %d milliseconds (rank #%d, offset %d).",
                        fo.auth_time - now_ms, fo.auth_rank, st.myself.repl_offset)
            actions.extend(engine.broadcast_pong(now_ms, local_replicas_only=True))
            if fo.mf_end:
                # A manual failover's election starts right away.
                self.step(now_ms, actions)
        elif outcome.step is election.Step.REQUEST_VOTES:
            log.warning("Starting a failover election for epoch %d.", st.current_epoch)
            actions.append(DurableSave())
            engine._broadcast(failover_auth_request(engine.header(), force_ack=bool(fo.mf_end)), actions)
        elif outcome.step is election.Step.PROMOTE:
            log.warning("Failover election won: I'm the new master.")
            self.promote(now_ms, actions)
        else:
            self._log_cant_failover(outcome.reason, now_ms)

    def promote(self, now_ms: int, actions: list[Action]) -> None:
        """Replace our master (our configEpoch is already the winning one), then tell
        everyone. The claim is saved and fsynced before the PONGs leave."""
        st = self.engine.state
        old_master = election.replace_master(st)
        if old_master is None:
            return
        log.warning("Took over the %d slots of %s with configEpoch %d", st.myself.num_slots,
                    old_master.node_id, st.myself.config_epoch)
        failure.update_state(st, now_ms)
        actions.append(DurableSave())
        actions.extend(self.engine.broadcast_pong(now_ms))
        # Reset only now: as in Redis, the PONGs of a manual failover's winner still
        # carry PAUSED.
        self.reset_manual_failover(actions)

    def reset_manual_failover(self, actions: list[Action]) -> None:
        pause_end = election.mf_reset(self.state)
        if pause_end:
            actions.append(ResumeWrites(pause_end))

    def _log_cant_failover(self, reason: str, now_ms: int) -> None:
        """Log why a wanted failover does not proceed, rate-limited as Redis does: when
        the reason changes or every few minutes, and not in the first seconds after the
        master failed."""
        last_reason, last_time = self._cant_failover_logged
        if reason == last_reason and now_ms - last_time < CANT_FAILOVER_RELOG_MS:
            return
        self._cant_failover_logged = (reason, last_time)
        if not reason:
            return
        st = self.engine.state
        master = st.master_of(st.myself)
        if (master is not None and master.has(nf.FAIL)
                and now_ms - master.fail_time < st.node_timeout + CANT_FAILOVER_QUIET_MS):
            return
        self._cant_failover_logged = (reason, now_ms)
        log.warning("Currently unable to failover: %s", reason)
