"""Renderings of a schema check: text, json, junit, github (workflow annotations)."""

from __future__ import annotations

import json
from xml.etree import ElementTree as ET

from lgsp.codec.schema_check import CheckResult


def render_text(result: CheckResult) -> str:
    lines = [f"✗ {v.new.file}: {v.describe()}" for v in result.violations]
    verdict = "compatible" if result.compatible else "INCOMPATIBLE"
    lines.append(f"{verdict}: {len(result.subjects)} subjects, {len(result.pairs)} reader/writer "
                 f"pairs checked, {len(result.violations)} violation(s)")
    return "\n".join(lines)


def render_json(result: CheckResult) -> str:
    return json.dumps({
        "compatible": result.compatible,
        "subjects": result.subjects,
        "pairs_checked": [{"subject": p.subject, "reader": p.reader, "writer": p.writer,
                           "mode": p.mode.value, "compatible": not p.violations}
                          for p in result.pairs],
        "violations": [{"subject": v.subject, "reader_version": v.reader.version,
                        "writer_version": v.writer.version, "mode": v.mode.value,
                        "path": v.path, "rule": v.rule, "message": v.message,
                        "file": v.new.file, "line": v.new.line_of(v.path)}
                       for v in result.violations],
    }, indent=2, ensure_ascii=False)


def render_junit(result: CheckResult) -> str:
    suites = ET.Element("testsuites", name="lgsp schemas check",
                        tests=str(len(result.pairs) + len(result.registry_violations)),
                        failures=str(sum(1 for p in result.pairs if p.violations)
                                     + len(result.registry_violations)))
    for subject in result.subjects:
        pairs = [p for p in result.pairs if p.subject == subject]
        history = [v for v in result.registry_violations if v.subject == subject]
        suite = ET.SubElement(suites, "testsuite", name=subject,
                              tests=str(len(pairs) + len(history)),
                              failures=str(sum(1 for p in pairs if p.violations) + len(history)))
        for p in pairs:
            case = ET.SubElement(suite, "testcase", classname=subject,
                                 name=f"v{p.reader} reads v{p.writer} ({p.mode.value})")
            if p.violations:
                failure = ET.SubElement(case, "failure", message=p.violations[0].message,
                                        type=p.violations[0].rule)
                failure.text = "\n".join(v.describe() for v in p.violations)
        for v in history:
            case = ET.SubElement(suite, "testcase", classname=subject,
                                 name=f"v{v.reader.version} {v.rule}")
            ET.SubElement(case, "failure", message=v.message, type=v.rule).text = v.describe()
    return ET.tostring(suites, encoding="unicode", xml_declaration=True)


def _escape_data(text: str) -> str:
    """A workflow command's message, escaped as GitHub's runner unescapes it."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    """A property value (file, title): also ``:`` and ``,``, which end a property (a Confluent
    context subject such as ``:.ctx:lgsp.document`` has colons)."""
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def render_github(result: CheckResult) -> str:
    """GitHub workflow commands: one ::error per violation, pointing at file and line (the
    file named from the repository root, as GitHub needs to place it on the pull request)."""
    lines = [f"::error file={_escape_property(v.new.file)},line={v.new.line_of(v.path)},"
             f"title={_escape_property(f'{v.subject} v{v.new.version} {v.rule}')}"
             f"::{_escape_data(v.describe())}"
             for v in result.violations]
    verdict = "compatible" if result.compatible else "incompatible"
    lines.append(f"::notice title=lgsp schemas check::{verdict}: {len(result.pairs)} pairs, "
                 f"{len(result.violations)} violation(s)")
    return "\n".join(lines)


RENDERERS = {"text": render_text, "json": render_json, "junit": render_junit,
             "github": render_github}
