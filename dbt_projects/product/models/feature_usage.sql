-- Feature use per account, feature and UTC day. An incremental run computes only the
-- account-days a batch changed, which the platform lists in changes.feature_usage (see
-- updated_by in feature_usage.yml) after deleting their rows.
{{ config(materialized='incremental', incremental_strategy='append', on_schema_change='fail') }}

select
    account_id,
    feature,
    cast(occurred_at as date) as activity_date,
    count(distinct user_id) as active_users,
    count(*) as events,
    min(occurred_at) as first_used_at,
    max(occurred_at) as last_used_at
from {{ source('staging', 'events') }}
where event_name = 'feature_used' and feature is not null and account_id is not null
{% if is_incremental() %}
    and occurred_at >= (select min(activity_date) from changes.feature_usage)
    and (account_id, cast(occurred_at as date)) in (select account_id, activity_date from changes.feature_usage)
{% endif %}
group by all
