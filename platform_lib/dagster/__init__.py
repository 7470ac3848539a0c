"""The platform in Dagster's terms: a domain's code location assembled from its
declarations, with assets, checks, resources, automation, dbt, and the privacy and SLA
jobs and sensors."""
