-- Feature use per account, feature and UTC day.
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
group by all
