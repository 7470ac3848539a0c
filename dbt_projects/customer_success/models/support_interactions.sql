-- One row per support ticket with response and resolution times against the support SLA.
with targets as (
    select * from (values
        ('urgent', 60, 24),
        ('high', 240, 72),
        ('normal', 480, 120),
        ('low', 1440, 240)
    ) as t(priority, response_target_minutes, resolution_target_hours)
),

reopens as (
    select ticket_id, count(*) as reopened_count
    from {{ source('staging', 'ticket_status_changes') }}
    where from_status in ('solved', 'closed') and to_status in ('open', 'pending')
    group by ticket_id
),

timed as (
    select
        t.ticket_id,
        t.account_id,
        t.priority,
        t.category,
        t.status,
        t.occurred_at as opened_at,
        t.first_response_at,
        t.resolved_at,
        date_diff('minute', t.occurred_at, t.first_response_at) as first_response_minutes,
        date_diff('minute', t.occurred_at, t.resolved_at) / 60.0 as resolution_hours,
        targets.response_target_minutes,
        targets.resolution_target_hours,
        coalesce(reopens.reopened_count, 0) as reopened_count,
        max(t.extracted_at) over () as as_of
    from {{ source('staging', 'tickets') }} t
    left join targets using (priority)
    left join reopens using (ticket_id)
)

select
    ticket_id,
    account_id,
    priority,
    category,
    status,
    opened_at,
    first_response_at,
    resolved_at,
    first_response_minutes,
    resolution_hours,
    coalesce(first_response_minutes, date_diff('minute', opened_at, as_of)) > response_target_minutes
        as response_sla_breached,
    coalesce(resolution_hours, date_diff('minute', opened_at, as_of) / 60.0) > resolution_target_hours
        as resolution_sla_breached,
    reopened_count,
    priority = 'urgent' or reopened_count > 0 as escalated
from timed
