"""Scenario test results for programs: JSON (``test --format json``) and JUnit XML.

The JSON document's schema is ``docs/schemas/test.schema.json``. The JUnit XML is the
dialect CI dashboards read (Jenkins, GitLab, GitHub test reporters): one ``testsuite``
per ``.polt`` file, one ``testcase`` per ``expect`` line, a ``failure`` for each failed
expectation and an ``error`` for a file that could not run.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from typing import Any

from policylang.diagnostics import SCHEMA_VERSION, diagnostics
from policylang.resync import code_of
from policylang.scenario import Answer, FileReport


def statement_text(report: FileReport, answer: Answer) -> str:
    """The ``expect`` line as written, without its comment."""
    span = answer.statement.span
    return code_of(report.source.line(span.line)).strip() if report.source else ""


def report_json(reports: Sequence[FileReport], coverage: Sequence[Any] | None = None) -> dict[str, Any]:
    """The whole run as one JSON-ready object."""
    files = []
    for report in reports:
        errors = [d for problem in report.problems for d in diagnostics(problem, str(report.path))]
        files.append(
            {
                "file": str(report.path),
                "expectations": [
                    {
                        "line": answer.statement.span.line,
                        "statement": statement_text(report, answer),
                        "passed": answer.passed,
                        "failures": list(answer.failures),
                    }
                    for answer in report.expectations
                ],
                "errors": errors,
            }
        )
    document: dict[str, Any] = {"version": SCHEMA_VERSION, "summary": summary_counts(reports), "files": files}
    if coverage is not None:
        document["coverage"] = [
            {
                "policy": item.file,
                "percent": round(item.percent, 1),
                "rules": [
                    {"rule": r.rule, "kind": r.kind, "decided": r.decided, "denied": r.denied} for r in item.rules
                ],
            }
            for item in coverage
        ]
    return document


def summary_counts(reports: Sequence[FileReport]) -> dict[str, int]:
    """Passed and failed expectations, and files that could not run."""
    return {
        "passed": sum(len(r.expectations) - len(r.failures) for r in reports),
        "failed": sum(len(r.failures) for r in reports),
        "errors": sum(1 for r in reports if r.problems),
    }


def report_junit(reports: Sequence[FileReport]) -> str:
    """The whole run as JUnit XML text."""
    counts = summary_counts(reports)
    root = ET.Element(
        "testsuites",
        name="policylang",
        tests=str(counts["passed"] + counts["failed"] + counts["errors"]),
        failures=str(counts["failed"]),
        errors=str(counts["errors"]),
    )
    for report in reports:
        file = str(report.path)
        suite = ET.SubElement(
            root,
            "testsuite",
            name=file,
            tests=str(len(report.expectations) + (1 if report.problems else 0)),
            failures=str(len(report.failures)),
            errors=str(1 if report.problems else 0),
        )
        for answer in report.expectations:
            line = answer.statement.span.line
            case = ET.SubElement(
                suite, "testcase", classname=file, name=f"{line}: {statement_text(report, answer)}",
                file=file, line=str(line),
            )
            if not answer.passed:
                failure = ET.SubElement(case, "failure", message=answer.failures[0], type="expectation")
                failure.text = "\n".join(answer.failures)
        if report.problems:
            case = ET.SubElement(suite, "testcase", classname=file, name="run the scenario", file=file)
            error = ET.SubElement(case, "error", message=report.problems[0].message, type="scenario")
            error.text = "\n".join(str(p) for p in report.problems)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
