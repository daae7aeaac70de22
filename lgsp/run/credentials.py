"""The one place a run issues its PKI: the CA (new, or the one of ``--pki DIR``), each sending
agency's personal and agency certificates, the faulty seals fault injection asks for
(``--inject``), and the seal of each agency an outside service plays (``--external
recipient=CODE``); with ``--pki-out DIR`` it is written there, the outside agencies' seal keys
included, before the first document (and the readiness probe) is sent.
A bus-only run issues nothing: it only trusts (``trust_run_pki``)."""

from __future__ import annotations

import structlog

from lgsp.codec.capture import CaptureReader
from lgsp.domain.topology import Topology
from lgsp.errors import ConfigError
from lgsp.run.config import SimulationConfig
from lgsp.signing.pki import Pki, PkiExport
from lgsp.signing.pki_files import load_authority, load_trust, trust_from_anchors, write_pki
from producers.faults import issue_faulty_seals
from producers.sender import issue_credentials, issue_seal

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
    # an outside recipient seals its statuses with the key of a seal this CA issued it
    outside = [issue_seal(pki, topology, code) for code in config.external.recipients]
    log.info("pki_ready", algorithm=pki.algorithm.value, agencies=len(senders),
             keys_generated=generated, issued_from=str(config.pki_dir or "a new CA"),
             outside_seals=len(outside))
    if config.pki_out is not None:
        files = write_pki(pki, config.pki_out, seals=outside)
        log.info("pki_published", directory=str(files.directory),
                 certificates=files.certificates, faulty=files.faulty, revoked=files.revoked,
                 seal_keys=files.seal_keys)
    return pki


def trusted_exports(config: SimulationConfig) -> tuple[PkiExport, ...]:
    """The CAs a bus-only run trusts: that of ``--pki DIR`` (its key is not needed) or those a
    capture carries (``--trust-capture``). One line (``ConfigError``, ``CaptureError``) when
    they cannot be read or do not chain."""
    bus_only = config.bus_only
    if bus_only is not None and bus_only.trust_capture is not None:
        anchors = CaptureReader(bus_only.trust_capture).info.trust_anchors
        return trust_from_anchors(anchors, str(bus_only.trust_capture))
    if config.pki_dir is not None:
        return (load_trust(config.pki_dir),)
    raise ConfigError("--bus-only needs the senders' trust anchors: --pki DIR (written by "
                      "lgsp simulate --pki-out) or --trust-capture FILE (a capture of "
                      "lgsp simulate --record)")


def trust_run_pki(config: SimulationConfig) -> tuple[Pki, tuple[PkiExport, ...]]:
    """A bus-only run's PKI: it issues nothing and trusts ``trusted_exports``; the first CA is
    the run's own, the others are trusted beside it."""
    exports = trusted_exports(config)
    pki = Pki(cache_dir=config.pki_cache, restore=exports[0])
    log.info("pki_trusted", anchors=len(exports), known=len(exports[0].known),
             revoked=len(exports[0].revoked))
    return pki, exports[1:]
