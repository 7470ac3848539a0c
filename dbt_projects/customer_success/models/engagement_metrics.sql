-- Customer sentiment and touch counts per account and calendar month.
with surveys as (
    select account_id, cast(date_trunc('month', occurred_at) as date) as month, survey_type, score, occurred_at
    from {{ source('staging', 'survey_responses') }}
    where account_id is not null and score is not null
),

tickets as (
    select account_id, cast(date_trunc('month', occurred_at) as date) as month, count(*) as tickets_opened,
        max(occurred_at) as last_ticket_at
    from {{ source('staging', 'tickets') }}
    group by all
),

sentiment as (
    select
        account_id,
        month,
        count(*) filter (where survey_type = 'csat') as csat_responses,
        avg(score) filter (where survey_type = 'csat') as avg_csat,
        count(*) filter (where survey_type = 'nps') as nps_responses,
        100.0 * (
            count(*) filter (where survey_type = 'nps' and score >= 9)
            - count(*) filter (where survey_type = 'nps' and score <= 6)
        ) / nullif(count(*) filter (where survey_type = 'nps'), 0) as nps,
        max(occurred_at) as last_response_at
    from surveys
    group by all
),

monthly as (
    select
        account_id,
        month,
        coalesce(s.csat_responses, 0) as csat_responses,
        s.avg_csat,
        coalesce(s.nps_responses, 0) as nps_responses,
        s.nps,
        coalesce(t.tickets_opened, 0) as tickets_opened,
        greatest(s.last_response_at, t.last_ticket_at) as last_touch_at
    from sentiment s
    full outer join tickets t using (account_id, month)
)

select
    account_id,
    month,
    csat_responses,
    avg_csat,
    nps_responses,
    nps,
    nps - lag(nps) over (partition by account_id order by month) as nps_change,
    avg_csat - lag(avg_csat) over (partition by account_id order by month) as csat_change,
    tickets_opened,
    csat_responses + nps_responses + tickets_opened as cs_touches,
    last_touch_at
from monthly
