"""Profiles are checked against the shipped JSON Schemas: one line naming file, key and fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from lgsp.errors import ConfigError
from lgsp.profiles import available_profiles, load_profile, load_topology, load_traffic

SHIPPED = Path(__file__).parents[2] / "lgsp" / "profiles"


def _edited(tmp_path: Path, name: str, old: str, new: str) -> Path:
    text = (SHIPPED / name).read_text(encoding="utf-8")
    assert old in text, f"{old!r} is no longer in {name}; update the test"
    path = tmp_path / f"edited-{name}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


class TestShippedProfiles:
    def test_every_shipped_profile_fits_its_schema(self):
        """Each province profile (with the central tier) and the traffic profile load."""
        for name in available_profiles():
            assert len(load_topology([name]).provinces) == 1, name
        assert load_traffic()["fan_out_mean"] == 2.9


class TestProvinceProfile:
    @pytest.mark.parametrize(("old", "new", "expected"), [
        pytest.param("communes: 235", 'communes: "many"',
                     "communes: 'many' is not of type 'integer'; expected a whole number",
                     id="communes-not-a-number"),
        pytest.param("communes: 235", "communes: -4",
                     "communes: -4 is less than the minimum of 0", id="communes-negative"),
        pytest.param("communes: 235", "comunes: 235",
                     "'comunes' was unexpected); known keys: name, display_name, unit",
                     id="unknown-key"),
        pytest.param("unit: H26", "unit: h26", "unit: 'h26' does not match",
                     id="unit-code-form"),
        pytest.param("  commune: commune", "  commune: 5",
                     "tiers.commune: 5 is not of type 'string'", id="tier-not-a-name"),
        pytest.param("name: hai-duong\n", "", "'name' is a required property",
                     id="missing-name"),
        pytest.param("  agency_share: 1.0", "  agency_share: 1.5",
                     "signing.agency_share: 1.5 is greater than the maximum of 1",
                     id="share-above-one"),
        pytest.param("  - Sở Y tế | SYT", "  - Sở Y tế",
                     "departments[15]: 'Sở Y tế' does not match", id="department-no-abbrev"),
    ])
    def test_a_violation_names_file_key_and_fix(self, tmp_path, old, new, expected):
        """The error is one line: the file, the key path, what is wrong and what is expected."""
        path = _edited(tmp_path, "hai-duong.yaml", old, new)
        with pytest.raises(ConfigError) as caught:
            load_topology([str(path)])
        message = str(caught.value)
        assert "\n" not in message
        assert message.startswith(f"province profile {path}: "), message
        assert expected in message, message

    @pytest.mark.parametrize(("content", "expected"), [
        pytest.param(b"name: [unclosed\n", "is not valid YAML: expected ',' or ']'", id="yaml"),
        pytest.param(b"\xff\xfe\x00", "is not UTF-8 text", id="not-utf8"),
        pytest.param(b"- a\n- b\n", "must be a YAML mapping", id="a-list"),
    ])
    def test_unreadable_files_are_one_line(self, tmp_path, content, expected):
        path = tmp_path / "mine.yaml"
        path.write_bytes(content)
        with pytest.raises(ConfigError, match=expected) as caught:
            load_profile(str(path))
        assert "\n" not in str(caught.value)

    def test_a_directory_or_a_missing_file_is_named(self, tmp_path):
        with pytest.raises(ConfigError, match=r"is a directory; give a \.yaml file"):
            load_profile(str(tmp_path))
        with pytest.raises(ConfigError, match="does not exist; shipped profiles: hai-duong"):
            load_profile(str(tmp_path / "gone.yaml"))


class TestTrafficProfile:
    @pytest.mark.parametrize(("old", "new", "expected"), [
        pytest.param("priorities: {0: 0.85", "priorities: {7: 0.85",
                     "priorities: '7' does not match '^[0-4]$'; expected a priority 0..4",
                     id="priority-out-of-range"),
        pytest.param("fan_out_mean: 2.9", "fan_out_mean: 0",
                     "fan_out_mean: 0 is less than the minimum of 1", id="fan-out-below-one"),
        pytest.param("{parent: 0.80, siblings: 0.20}", "{parents: 0.80}",
                     "recipients.commune: 'parents' is not one of", id="unknown-group"),
        pytest.param("  central_body: 0.06", "  central_body: -1",
                     "sender_kinds.central_body: -1 is less than the minimum of 0",
                     id="negative-weight"),
        pytest.param("due_days: [3, 30]", "due_days: [3]", "due_days: [3] is too short",
                     id="due-window"),
    ])
    def test_a_violation_names_key_and_fix(self, tmp_path, old, new, expected):
        path = _edited(tmp_path, "traffic.yaml", old, new)
        with pytest.raises(ConfigError) as caught:
            load_traffic(str(path))
        assert str(caught.value).startswith(f"traffic profile {path}: "), str(caught.value)
        assert expected in str(caught.value)
