"""The one place a run issues its PKI: the CA, each sending agency's personal and agency
certificates, and the faulty seals fault injection asks for (``--inject``)."""

from __future__ import annotations

import structlog

from lgsp.domain.topology import Topology
from lgsp.run.config import SimulationConfig
from lgsp.signing.pki import Pki
from producers.faults import issue_faulty_seals
from producers.sender import issue_credentials

log = structlog.get_logger(__name__)


def issue_run_pki(config: SimulationConfig, topology: Topology, senders: list[str]) -> Pki:
    """A new CA with every certificate ``senders`` sign with, issued now (blocking: keys may be
    generated), so the sign cost a run measures is signing, not issuance."""
    pki = Pki(config.signature_algorithm, cache_dir=config.pki_cache)
    generated = pki.prepare(senders)
    for code in senders:
        issue_credentials(pki, topology, code)
    issue_faulty_seals(pki, config.faults, senders, lambda code: topology.agency(code).name)
    log.info("pki_ready", algorithm=pki.algorithm.value, agencies=len(senders),
             keys_generated=generated)
    return pki
