"""The stages a document passes, by one name each: headers name the hops with them, metrics
record under them, SLO gates (``p99(send_to_arrived)``), the reports, the HTML report and the
max-rate search read them. In the order a document meets them."""

from __future__ import annotations

from enum import StrEnum


class Stage(StrEnum):
    """A latency or cost measured per document (or per delivery), in microseconds."""

    SCHEDULE_LAG = "schedule_lag"
    """Intended send time → submitted to the producer (the generator's own lateness)."""
    SIGN = "sign"
    """CPU cost of a document's signatures."""
    PRODUCE_ACK = "produce_ack"
    """Produce → the broker's acknowledgement."""
    HOP_SUBMIT = "hop.submit"
    """Sender → its home platform."""
    HOP_LGSP_TO_VDXP = "hop.lgsp_to_vdxp"
    """A province's LGSP → the national axis."""
    HOP_VDXP_TO_LGSP = "hop.vdxp_to_lgsp"
    """The national axis → the recipient's LGSP."""
    HOP_LGSP_TO_LGSP = "hop.lgsp_to_lgsp"
    """One LGSP → another without the axis (not in the modelled routes; kept for traces)."""
    HOP_DELIVER = "hop.deliver"
    """The last platform → the recipient agency."""
    VERIFY = "verify"
    """CPU cost of verifying a delivery's signatures at the recipient."""
    SEAL = "seal"
    """CPU cost of sealing a business status at the recipient (``--status-seals``)."""
    SEAL_CHECK = "seal_check"
    """CPU cost of checking a business status's seal at the sender's tracker."""
    SEND_TO_ARRIVED = "send_to_arrived"
    """Intended send time → status 01 back at the sender (one clock: the sender's)."""
    SEND_TO_COMPLETED = "send_to_completed"
    """Intended send time → status 06 back at the sender."""
    EXTERNAL_SEND_TO_ARRIVED = "external_send_to_arrived"
    """Intended send time → status 01 back, for deliveries to the user's own services
    (``--external``): the load as the system under test answers it."""
    EXTERNAL_HOP = "external_hop"
    """A record on an outside router's inbound topic → what the router wrote for it (broker
    timestamps; ``--external platform=…``/``vdxp``)."""

    @property
    def is_hop(self) -> bool:
        return self.value.startswith("hop.")

    @property
    def warmup_excluded(self) -> bool:
        """Whether documents of the warm-up are left out of it: they are of the latencies, not
        of the schedule lag and the sign and verify costs (which cover every document)."""
        return self not in _COVER_WARMUP

    @property
    def label(self) -> str:
        """How reports name it for people."""
        return _LABELS.get(self) or f"hop: {self.value[4:].replace('_', ' ')}"

    @classmethod
    def hop(cls, here: str | None, there: str, national_axis: str) -> Stage:
        """The hop from platform ``here`` (None: the sender) to ``there`` (a platform, or
        ``"recipient"``)."""
        if here is None:
            return cls.HOP_SUBMIT
        if there == "recipient":
            return cls.HOP_DELIVER
        return cls("hop." + ("vdxp" if here == national_axis else "lgsp") + "_to_"
                   + ("vdxp" if there == national_axis else "lgsp"))


_COVER_WARMUP = frozenset({Stage.SCHEDULE_LAG, Stage.SIGN, Stage.VERIFY, Stage.SEAL,
                           Stage.SEAL_CHECK})

_LABELS = {
    Stage.SCHEDULE_LAG: "schedule lag (intended → submitted)",
    Stage.SIGN: "sign (cost per document)",
    Stage.PRODUCE_ACK: "produce → broker ack",
    Stage.VERIFY: "verify (cost per delivery)",
    Stage.SEAL: "seal (cost per status)",
    Stage.SEAL_CHECK: "seal check (cost per status)",
    Stage.SEND_TO_ARRIVED: "send → arrived (status 01 back)",
    Stage.SEND_TO_COMPLETED: "send → completed (status 06 back)",
    Stage.EXTERNAL_SEND_TO_ARRIVED: "send → arrived at an external recipient (01 back)",
    Stage.EXTERNAL_HOP: "an outside router's hop (read → written)",
}


def stage_label(name: str) -> str:
    """A stage's label for people; a name that is not a ``Stage`` (an older report's) as is."""
    try:
        return Stage(name).label
    except ValueError:
        return name.replace("_", " ")
