-- Email and content engagement per campaign, account and UTC day.
with email as (
    select
        e.campaign_id,
        c.account_id,
        cast(e.occurred_at as date) as activity_date,
        count(*) filter (where e.event_type = 'send') as sends,
        count(*) filter (where e.event_type = 'deliver') as deliveries,
        count(*) filter (where e.event_type = 'bounce') as bounces,
        count(*) filter (where e.event_type = 'open') as opens,
        count(*) filter (where e.event_type = 'click') as clicks,
        count(*) filter (where e.event_type = 'unsubscribe') as unsubscribes,
        count(distinct e.contact_id) filter (where e.event_type = 'deliver') as reached_contacts,
        count(distinct e.contact_id) filter (where e.event_type in ('open', 'click')) as email_engaged,
        list(distinct e.contact_id) filter (where e.event_type in ('open', 'click')) as engaged_ids,
        max(e.occurred_at) as last_email_at
    from {{ source('staging', 'email_events') }} e
    join {{ source('staging', 'contacts') }} c using (contact_id)
    group by all
),

downloads as (
    select
        campaign_id,
        account_id,
        cast(occurred_at as date) as activity_date,
        count(*) as downloads,
        list(distinct contact_id) as downloader_ids,
        max(occurred_at) as last_download_at
    from {{ source('staging', 'content_downloads') }}
    where campaign_id is not null and account_id is not null
    group by all
),

joined as (
    select
        campaign_id,
        account_id,
        activity_date,
        coalesce(email.sends, 0) as sends,
        coalesce(email.deliveries, 0) as deliveries,
        coalesce(email.bounces, 0) as bounces,
        coalesce(email.opens, 0) as opens,
        coalesce(email.clicks, 0) as clicks,
        coalesce(downloads.downloads, 0) as downloads,
        coalesce(email.unsubscribes, 0) as unsubscribes,
        coalesce(email.reached_contacts, 0) as reached_contacts,
        len(list_distinct(list_concat(coalesce(email.engaged_ids, []), coalesce(downloads.downloader_ids, []))))
            as engaged_contacts,
        greatest(email.last_email_at, downloads.last_download_at) as last_event_at
    from email
    full outer join downloads using (campaign_id, account_id, activity_date)
)

select
    joined.campaign_id,
    campaigns.campaign_name,
    campaigns.channel,
    joined.account_id,
    joined.activity_date,
    joined.sends,
    joined.deliveries,
    joined.bounces,
    joined.opens,
    joined.clicks,
    joined.downloads,
    joined.unsubscribes,
    joined.reached_contacts,
    joined.engaged_contacts,
    case
        when joined.reached_contacts > 0
            then least(1.0, joined.engaged_contacts / joined.reached_contacts)
    end as engagement_rate,
    joined.last_event_at
from joined
left join {{ source('staging', 'campaigns') }} campaigns using (campaign_id)
