-- Account health for every customer: product health (from Product's output port),
-- support load and customer sentiment over the last 90 days, and renewal timing.
with as_of as (
    select max(extracted_at) as as_of from {{ source('staging', 'subscriptions') }}
),

customers as (
    select
        account_id,
        sum(arr_usd) filter (where status = 'active') as arr_usd,
        bool_or(status = 'active') as is_active,
        min(renewal_date) filter (where status = 'active') as next_renewal_date
    from {{ source('staging', 'subscriptions') }}
    group by account_id
),

support as (
    select
        t.account_id,
        count(*) filter (where t.status in ('open', 'pending')) as open_tickets,
        count(*) as tickets_90d,
        count(*) filter (where t.priority = 'urgent') as urgent_tickets_90d
    from {{ source('staging', 'tickets') }} t, as_of
    where t.occurred_at > as_of.as_of - interval 90 day
    group by t.account_id
),

sentiment as (
    select
        s.account_id,
        avg(score) filter (where survey_type = 'csat') as avg_csat_90d,
        100.0 * (count(*) filter (where survey_type = 'nps' and score >= 9)
            - count(*) filter (where survey_type = 'nps' and score <= 6))
            / nullif(count(*) filter (where survey_type = 'nps'), 0) as nps_90d
    from {{ source('staging', 'survey_responses') }} s, as_of
    where s.occurred_at > as_of.as_of - interval 90 day
    group by s.account_id
),

components as (
    select
        c.account_id,
        coalesce(c.arr_usd, 0) as arr_usd,
        c.is_active,
        c.next_renewal_date,
        date_diff('day', cast(as_of.as_of as date), c.next_renewal_date) as days_to_renewal,
        p.health_score as product_health_score,
        coalesce(s.open_tickets, 0) as open_tickets,
        coalesce(s.tickets_90d, 0) as tickets_90d,
        coalesce(s.urgent_tickets_90d, 0) as urgent_tickets_90d,
        m.avg_csat_90d,
        m.nps_90d,
        -- support: 100 with no load, minus 10 per urgent and 3 per other ticket
        greatest(0, 100 - 10 * coalesce(s.urgent_tickets_90d, 0)
            - 3 * (coalesce(s.tickets_90d, 0) - coalesce(s.urgent_tickets_90d, 0))) as support_score,
        -- sentiment: NPS mapped to 0..100, else CSAT mapped, else neutral 50
        coalesce((m.nps_90d + 100) / 2, (m.avg_csat_90d - 1) * 25, 50) as sentiment_score,
        as_of.as_of
    from customers c
    cross join as_of
    left join {{ source('ports', 'product__product_health_scores') }} p using (account_id)
    left join support s using (account_id)
    left join sentiment m using (account_id)
),

scored as (
    select
        *,
        cast(round(0.5 * coalesce(product_health_score, 0) + 0.2 * support_score + 0.3 * sentiment_score) as bigint)
            as health_score
    from components
)

select
    account_id,
    arr_usd,
    is_active,
    next_renewal_date,
    days_to_renewal,
    product_health_score,
    open_tickets,
    tickets_90d,
    urgent_tickets_90d,
    avg_csat_90d,
    nps_90d,
    cast(support_score as double) as support_score,
    cast(sentiment_score as double) as sentiment_score,
    health_score,
    case
        when not is_active then 'churned'
        when health_score < 40 and days_to_renewal <= 90 then 'critical'
        when health_score < 40 then 'high'
        when health_score < 65 then 'medium'
        else 'low'
    end as risk_tier,
    as_of
from scored
