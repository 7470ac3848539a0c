-- Product health per account over the 28 days before the latest product event.
with horizon as (
    select max(occurred_at) as scored_at from {{ source('staging', 'events') }}
),

catalog as (
    select count(distinct feature) as features_available
    from {{ source('staging', 'events') }}
    where event_name = 'feature_used'
),

recent as (
    select e.*, cast(e.occurred_at as date) as activity_date
    from {{ source('staging', 'events') }} e, horizon
    where e.occurred_at > horizon.scored_at - interval 28 day
),

usage as (
    select
        account_id,
        count(distinct feature) filter (where event_name = 'feature_used') as features_used_28d,
        count(*) filter (where occurred_at > scored_at - interval 14 day) as events_last_14d,
        count(*) filter (where occurred_at <= scored_at - interval 14 day) as events_prior_14d,
        count(distinct user_id) as active_users_28d,
        count(distinct user_id || '/' || activity_date) / 28.0 as avg_daily_users,
        count(*) filter (where event_name = 'integration_connected') > 0 as has_integration,
        max(occurred_at) as last_event_at
    from recent, horizon
    group by account_id
),

accounts as (
    select account_id, count(distinct user_id) as seats
    from {{ source('staging', 'users') }}
    where account_id is not null
    group by account_id
    union
    select account_id, 0 from {{ source('staging', 'workspaces') }}
    where account_id not in (select account_id from {{ source('staging', 'users') }} where account_id is not null)
),

measured as (
    select
        a.account_id,
        a.seats,
        coalesce(u.active_users_28d, 0) as active_users_28d,
        coalesce(u.features_used_28d, 0) as features_used_28d,
        coalesce(u.features_used_28d, 0) / greatest(catalog.features_available, 1) as adoption_breadth,
        coalesce(u.avg_daily_users / nullif(u.active_users_28d, 0), 0) as stickiness,
        greatest(-1, least(1,
            (coalesce(u.events_last_14d, 0) - coalesce(u.events_prior_14d, 0))
            / greatest(coalesce(u.events_prior_14d, 0), 1)
        )) as usage_trend,
        coalesce(u.has_integration, false) as has_integration,
        horizon.scored_at,
        u.last_event_at
    from accounts a
    cross join catalog
    cross join horizon
    left join usage u using (account_id)
),

scored as (
    select
        *,
        cast(round(100 * (
            0.40 * adoption_breadth
            + 0.35 * least(stickiness / 0.5, 1)
            + 0.25 * (usage_trend + 1) / 2
        )) as bigint) as health_score
    from measured
)

select
    account_id,
    seats,
    active_users_28d,
    features_used_28d,
    adoption_breadth,
    stickiness,
    usage_trend,
    has_integration,
    health_score,
    case when health_score >= 70 then 'healthy' when health_score >= 40 then 'neutral' else 'at_risk' end as health_tier,
    scored_at,
    last_event_at
from scored
