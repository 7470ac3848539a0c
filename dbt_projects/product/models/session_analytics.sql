-- Sessions per account and UTC day, with trailing active-user counts. An incremental run
-- computes only the account-days a batch reached (changes.session_analytics: each changed
-- day and the 29 after it, whose trailing windows hold it), reading the 29 days before them.
{{ config(materialized='incremental', incremental_strategy='append', on_schema_change='fail') }}

with sessions as (
    select account_id, user_id, cast(occurred_at as date) as activity_date, duration_seconds, occurred_at
    from {{ source('staging', 'sessions') }}
    where account_id is not null
    {% if is_incremental() %}
        and account_id in (select account_id from changes.session_analytics)
        and occurred_at >= (select min(activity_date) from changes.session_analytics) - interval 29 day
    {% endif %}
),

daily as (
    select
        account_id,
        activity_date,
        count(*) as sessions,
        median(duration_seconds) as median_session_seconds,
        quantile_cont(duration_seconds, 0.9) as p90_session_seconds,
        count(distinct user_id) as dau,
        max(occurred_at) as last_session_at
    from sessions
    group by all
),

user_days as (
    select distinct account_id, user_id, activity_date from sessions
),

rolling_users as (
    select
        d.account_id,
        d.activity_date,
        count(distinct u.user_id) filter (where u.activity_date > d.activity_date - 7) as wau,
        count(distinct u.user_id) as mau
    from daily d
    join user_days u
        on u.account_id = d.account_id
        and u.activity_date between d.activity_date - 29 and d.activity_date
    group by all
)

select
    daily.account_id,
    daily.activity_date,
    daily.sessions,
    cast(daily.median_session_seconds as double) as median_session_seconds,
    cast(daily.p90_session_seconds as double) as p90_session_seconds,
    daily.dau,
    rolling_users.wau,
    rolling_users.mau,
    daily.dau / rolling_users.mau as dau_mau_ratio,
    daily.last_session_at
from daily
join rolling_users using (account_id, activity_date)
{% if is_incremental() %}
where (daily.account_id, daily.activity_date) in (select account_id, activity_date from changes.session_analytics)
{% endif %}
