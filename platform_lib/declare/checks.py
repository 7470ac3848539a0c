"""Every check a product or source carries: its name, what it means, whether it blocks
publication. The one list the asset checks, the SLA report, the alerts and the contract
exports name checks from."""

from __future__ import annotations

AUDIT_RULES = "audit_rules"
QUALITY_SCORE = "quality_score"
SCHEMA_CONTRACT = "schema_contract"
FRESHNESS = "freshness"
AVAILABILITY = "availability"
SCHEMA_STABILITY = "schema_stability"
DOCUMENTATION = "documentation_currency"

# A failing blocking check keeps the batch out of the output port.
BLOCKING = (QUALITY_SCORE, SCHEMA_CONTRACT)
# The five service levels every product promises.
SLA_CHECKS = (FRESHNESS, AVAILABILITY, SCHEMA_STABILITY, QUALITY_SCORE, DOCUMENTATION)

DESCRIPTIONS = {
    AUDIT_RULES: "Row rules from the declaration; failing rows are quarantined with their reason.",
    QUALITY_SCORE: ("Share of valid, complete records in the batch against the SLA target; for a product recomputed per "
                    "key, in the product as it would be served (the recomputed rows and the rows kept)."),
    SCHEMA_CONTRACT: "The batch conforms to the product's Pandera schema (types, nullability, accepted values, no extra columns).",
    FRESHNESS: ("The freshness SLA as measured at publish: p99 of publish time minus event time over the batch's new "
                "records, against the target. The asset's freshness policy has the same target but sees only when the "
                "product was last published, so it can pass just after a run that published old events while this check "
                "fails; it fails once the product goes unpublished for longer than the target."),
    AVAILABILITY: "Share of the trailing 30 days the port served a version that passed its blocking checks.",
    SCHEMA_STABILITY: "The contract matches its snapshot, or breaking changes carry a major bump and 30-day notice; inputs are not pinned to deprecated versions.",
    DOCUMENTATION: "The product's code did not change more than the allowed days after its documentation (git history).",
}
