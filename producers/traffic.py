"""The traffic model: who sends what to whom, following the tiers, seeded and reproducible.

Each draft picks a sender by the share of documents each kind of unit issues, a fan-out of
``1 + Poisson(mean - 1)`` distinct recipients drawn from the sender's recipient groups (its
children, parent, siblings, its province's departments and districts, central bodies, other
provinces), a Decree 30 type, priority, steering and business type, attachments, and whether
the official and the agency sign (by the sending profile's signed shares).
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lgsp.domain.agency import Agency
from lgsp.domain.document import (
    DOCUMENT_TYPES,
    Attachment,
    BusinessType,
    Priority,
    Secrecy,
    Signer,
    SteeringType,
)
from lgsp.domain.topology import Topology
from lgsp.errors import ConfigError

_SURNAMES = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Vũ", "Đặng", "Bùi", "Đỗ", "Hồ", "Ngô", "Lò"]
_MIDDLE = ["Văn", "Thị", "Đức", "Minh", "Hữu", "Quang", "Ngọc", "Thanh"]
_GIVEN = ["An", "Bình", "Cường", "Dũng", "Hà", "Hải", "Hùng", "Lan", "Long", "Mai", "Nam", "Phong",
          "Quân", "Sơn", "Thảo", "Trung", "Tuấn", "Vinh", "Xuân", "Yến"]
_TOPICS = ["triển khai công tác chuyển đổi số", "báo cáo tình hình kinh tế - xã hội tháng",
           "phòng, chống thiên tai và tìm kiếm cứu nạn", "cải cách thủ tục hành chính",
           "quản lý đất đai và xây dựng", "công tác tuyển sinh năm học mới",
           "phòng, chống dịch bệnh trên gia súc, gia cầm", "giải quyết đơn thư khiếu nại",
           "kế hoạch đầu tư công trung hạn", "tổ chức hội nghị sơ kết 6 tháng"]
_POSITIONS = {"people_committee": ("TM.", "Chủ tịch"), "department": ("", "Giám đốc"),
              "district": ("TM.", "Chủ tịch"), "commune": ("TM.", "Chủ tịch"),
              "central_body": ("", "Bộ trưởng")}


def head_official(agency: Agency) -> Signer:
    """The agency's head, who signs its documents; the name is derived from the code."""
    h = hashlib.sha256(agency.code.value.encode()).digest()
    name = f"{_SURNAMES[h[0] % len(_SURNAMES)]} {_MIDDLE[h[1] % len(_MIDDLE)]} " \
           f"{_GIVEN[h[2] % len(_GIVEN)]}"
    authority, position = _POSITIONS.get(agency.kind, ("", "Thủ trưởng"))
    return Signer(authority, position, name)


@dataclass(frozen=True, slots=True)
class Draft:
    """A document before the clerk numbers it: everything but number, notation and DocumentId."""

    sender: str
    recipients: tuple[str, ...]
    type_name: str
    subject: str
    priority: Priority
    steering_type: SteeringType
    business_type: BusinessType
    due_in_days: int | None
    attachments: tuple[Attachment, ...]
    sign_personal: bool
    sign_agency: bool
    secrecy: Secrecy = Secrecy.NONE


def _weighted(data: Mapping[Any, float]) -> tuple[list[Any], list[float]]:
    keys = list(data)
    weights = [float(data[k]) for k in keys]
    if not keys or sum(weights) <= 0:
        raise ConfigError(f"traffic weights {dict(data)} must be positive")
    return keys, weights


class TrafficModel:
    """Draws drafts; the same seed and topology give the same sequence."""

    def __init__(self, topology: Topology, traffic: Mapping[str, Any], *, seed: int = 1,
                 fan_out_mean: float | None = None, external: tuple[str, ...] = (),
                 external_share: float = 1.0) -> None:
        """``external``: recipients played by the user's services; ``external_share`` of the
        drafts address one of them (in place of a drawn recipient, so the fan-out stays)."""
        self.topology = topology
        self.external = external
        self.external_share = external_share
        self.rng = random.Random(seed)
        self.fan_out_mean = float(traffic.get("fan_out_mean", 2.9) if fan_out_mean is None
                                  else fan_out_mean)
        self.fan_out_max = int(traffic.get("fan_out_max", 12))
        if not 1 <= self.fan_out_mean <= self.fan_out_max:
            raise ConfigError(f"--fan-out {self.fan_out_mean:g} must be from 1 to the traffic "
                              f"profile's fan_out_max {self.fan_out_max} recipients per document")
        self._recipients_cfg = traffic["recipients"]
        self._types = _weighted(traffic["document_types"])
        for name in self._types[0]:
            if name not in DOCUMENT_TYPES:
                raise ConfigError(f"traffic profile names unknown document type {name!r}")
        self._priorities = _weighted({int(k): v for k, v in traffic["priorities"].items()})
        self._steering = _weighted({int(k): v for k, v in traffic["steering_types"].items()})
        self._business = _weighted({int(k): v for k, v in traffic["business_types"].items()})
        self._attachments_mean = float(traffic.get("attachments_mean", 1.0))
        self._due = tuple(traffic.get("due_days", [3, 30]))
        by_kind: dict[str, list[str]] = {}
        for code, agency in topology.agencies.items():
            by_kind.setdefault(agency.kind, []).append(code)
        kinds = {k: w for k, w in traffic["sender_kinds"].items() if by_kind.get(k)}
        self._sender_kinds = _weighted(kinds)
        self._by_kind = by_kind

    def _poisson(self, mean: float) -> int:
        if mean <= 0:
            return 0
        limit, k, p = math.exp(-mean), 0, 1.0
        while True:
            p *= self.rng.random()
            if p <= limit:
                return k
            k += 1

    def _group(self, sender: Agency, group: str) -> list[str]:
        t = self.topology
        province = t.province_of(sender.code.value)
        code = sender.code.value
        if group == "children":
            return t.children(code)
        if group == "parent":
            parent = sender.code.parent
            return [parent.value] if parent and parent.value in t.agencies else []
        if group == "siblings":
            parent = sender.code.parent
            if parent is None or province is None:
                return []
            pool = (t.children(parent.value) if parent.value in province.communes
                    else province.districts)
            return [c for c in pool if c != code]
        if group == "central":
            return [c for c in t.central if c != code]
        if group == "other_province":
            return [p.office for p in t.provinces.values() if p is not province] + [
                d for p in t.provinces.values() if p is not province for d in p.departments]
        # a central body's province-facing groups span every province
        provinces = list(t.provinces.values()) if province is None else [province]
        if group == "province_office":
            return [p.office for p in provinces if p.office != code]
        if group == "departments":
            return [d for p in provinces for d in p.departments if d != code]
        if group == "districts":
            return [d for p in provinces for d in p.districts if d != code]
        raise ConfigError(f"unknown recipient group {group!r} in the traffic profile")

    def _address_external(self, sender: str, recipients: list[str]) -> None:
        """One external recipient among ``recipients`` (unless one is already, or the sender is
        the only one): it takes the place of the last drawn recipient."""
        if any(r in self.external for r in recipients):
            return
        candidates = [c for c in self.external if c != sender]
        if not candidates:
            return
        pick = self.rng.choice(candidates)
        if recipients:
            recipients[-1] = pick
        else:
            recipients.append(pick)

    def draft(self) -> Draft:
        rng = self.rng
        kind = rng.choices(*self._sender_kinds)[0]
        sender = self.topology.agencies[rng.choice(self._by_kind[kind])]
        groups = {g: self._group(sender, g) for g in self._recipients_cfg.get(kind, {})}
        groups = {g: pool for g, pool in groups.items() if pool}
        if not groups:  # e.g. a lone agency: fall back to its province office or VDXP bodies
            groups = {"central": [c for c in self.topology.central if c != sender.code.value]}
        names, weights = _weighted({g: self._recipients_cfg[kind].get(g, 1.0) for g in groups})
        want = min(1 + self._poisson(self.fan_out_mean - 1), self.fan_out_max)
        recipients: list[str] = []
        for _ in range(want * 4):
            if len(recipients) == want:
                break
            pool = groups[rng.choices(names, weights)[0]]
            pick = rng.choice(pool)
            if pick not in recipients:
                recipients.append(pick)
        if self.external and rng.random() < self.external_share:
            self._address_external(sender.code.value, recipients)
        type_name = rng.choices(*self._types)[0]
        shares = self.topology.signing_shares(sender.code.value)
        business = BusinessType(rng.choices(*self._business)[0])
        n_attachments = self._poisson(self._attachments_mean)
        attachments = tuple(
            Attachment(name=f"tai-lieu-{i + 1}.pdf", content_type="application/pdf",
                       size=rng.randint(20_000, 2_000_000),
                       sha256=rng.getrandbits(256).to_bytes(32, "big"))
            for i in range(n_attachments))
        return Draft(
            sender=sender.code.value, recipients=tuple(recipients), type_name=type_name,
            subject=f"V/v {rng.choice(_TOPICS)}",
            priority=Priority(rng.choices(*self._priorities)[0]),
            steering_type=SteeringType(rng.choices(*self._steering)[0]),
            business_type=business,
            due_in_days=rng.randint(*self._due) if rng.random() < 0.3 else None,
            attachments=attachments,
            sign_personal=rng.random() < float(shares.get("personal_share", 1.0)),
            sign_agency=rng.random() < float(shares.get("agency_share", 1.0)),
        )

