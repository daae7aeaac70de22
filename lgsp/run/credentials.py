"""The one place a run issues its PKI: the CA (new, or the one of ``--pki DIR``), each sending
agency's personal and agency certificates, and the faulty seals fault injection asks for
(``--inject``); with ``--pki-out DIR`` it is written there before the first document is sent."""

from __future__ import annotations

import structlog

from lgsp.domain.topology import Topology
from lgsp.run.config import SimulationConfig
from lgsp.signing.pki import Pki
from lgsp.signing.pki_files import load_authority, write_pki
from producers.faults import issue_faulty_seals
from producers.sender import issue_credentials

log = structlog.get_logger(__name__)


def issue_run_pki(config: SimulationConfig, topology: Topology, senders: list[str]) -> Pki:
    """A CA with every certificate ``senders`` sign with, issued now (blocking: keys may be
    generated), so the sign cost a run measures is signing, not issuance."""
    authority = load_authority(config.pki_dir) if config.pki_dir else None
    pki = Pki(config.signature_algorithm, cache_dir=config.pki_cache, authority=authority)
    generated = pki.prepare(senders)
    for code in senders:
        issue_credentials(pki, topology, code)
    issue_faulty_seals(pki, config.faults, senders, lambda code: topology.agency(code).name)
    log.info("pki_ready", algorithm=pki.algorithm.value, agencies=len(senders),
             keys_generated=generated, issued_from=str(config.pki_dir or "a new CA"))
    if config.pki_out is not None:
        files = write_pki(pki, config.pki_out)
        log.info("pki_published", directory=str(files.directory),
                 certificates=files.certificates, faulty=files.faulty, revoked=files.revoked)
    return pki
