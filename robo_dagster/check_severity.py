"""The desk's severity (``domain.severity.Severity``) on Dagster's asset checks, and back.

Dagster knows two check severities, WARN and ERROR; the desk knows four levels. A check
that judges a limit therefore says its level twice: as Dagster's severity (WARNING is
WARN, ERROR and CRITICAL are ERROR), for the UI, and under the metadata key
``severity``, for ``alerts_sensor``, which raises the alert at exactly that level. So
the failed check, its alert, the morning brief and the risk assessment all read the
same level for one breach. The alerts' ``Severity`` is the domain's own enum, so no
mapping is needed there.
"""

from collections.abc import Mapping, Sequence
from typing import Any

from dagster import AssetCheckResult, AssetCheckSeverity, MetadataValue

from robo_dagster.domain.severity import Severity, worst

SEVERITY_METADATA_KEY = "severity"


def asset_check_severity(level: Severity) -> AssetCheckSeverity:
    """Dagster's severity for a desk level: WARN up to WARNING, ERROR from ERROR."""
    return AssetCheckSeverity.ERROR if level >= Severity.ERROR else AssetCheckSeverity.WARN


def severity_from_metadata(metadata: Mapping[str, Any] | None) -> Severity | None:
    """The desk level a check recorded under ``severity`` (a text or a plain string),
    or None when it recorded none. A name that is no level raises: an alert must not
    silently fall back to another level than the check meant."""
    if not metadata or SEVERITY_METADATA_KEY not in metadata:
        return None
    value = metadata[SEVERITY_METADATA_KEY]
    text = getattr(value, "value", value)
    if not isinstance(text, str):
        raise ValueError(
            f"check metadata {SEVERITY_METADATA_KEY!r} must be a severity name, got {text!r}"
        )
    return Severity.parse(text)


def graded_check_result(
    levels: Sequence[Severity],
    description: str,
    metadata: Mapping[str, Any] | None = None,
) -> AssetCheckResult:
    """A check that fails at WARNING or worse (the worst of ``levels``), with that level
    as Dagster's severity and in its metadata. No level, or only INFO, passes."""
    level = worst(list(levels))
    return AssetCheckResult(
        passed=level < Severity.WARNING,
        severity=asset_check_severity(level),
        description=description,
        metadata={**(metadata or {}), SEVERITY_METADATA_KEY: MetadataValue.text(level.name)},
    )
