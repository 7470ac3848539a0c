"""Each domain's source systems, as tables drawn from the shared universe. Entity tables
are drawn as their system exported them whole at `as_of` (changes.py says how they change
after); event tables cover the batches' whole window."""

from __future__ import annotations

import numpy as np

from platform_lib.ops.seed.emit import Batches, Table
from platform_lib.ops.seed.evolve import Versions
from platform_lib.ops.seed.render import NULL, Bool, Cat, Date, Id, Num, Text, Ts, parse
from platform_lib.ops.seed.scales import Scale
from platform_lib.ops.seed.universe import (
    BANDS,
    COUNTRIES,
    FIRST,
    INDUSTRIES,
    LAST,
    REPS,
    SEGMENTS,
    TITLES,
    Universe,
    account_names,
    emails,
    event_times,
    heavy_tail,
)

ACC = Id("ACC-", 6)
CON = Id("CON-", 7)
USR = Id("USR-", 7)
WS = Id("WS-", 6)
CMP = Id("CMP-", 5)
LIFECYCLE = Cat(("subscriber", "lead", "mql", "sql", "opportunity", "customer"))
EMAIL_EVENTS = Cat(("send", "deliver", "open", "click", "unsubscribe", "bounce"))
PAGES = Cat(("home", "pricing", "demo", "docs", "blog", "product", "careers", "other"))
FORMS = Cat(("demo_request", "contact_sales", "newsletter", "webinar_registration", "trial_signup"))
ASSETS = Cat(("ebook", "whitepaper", "case_study", "report", "template"))
PRODUCT_EVENTS = Cat(("login", "feature_used", "export", "invite_sent", "integration_connected"))
FEATURES = Cat(("dashboards", "reports", "automations", "api", "alerts", "sso", "data_import", "collaboration"))
INTEGRATIONS = Cat(("salesforce", "hubspot", "slack", "snowflake", "zendesk"))
STAGES = Cat(("prospecting", "discovery", "demo", "proposal", "negotiation", "closed_won", "closed_lost"))
FORECAST = Cat(("pipeline", "best_case", "commit", "closed", "omitted"))
ACTIVITY = Cat(("call", "email", "meeting"))
PRIORITY = Cat(("low", "normal", "high", "urgent"))
STATUS = Cat(("open", "pending", "solved", "closed"))
WORKSPACE_PLANS = Cat(("free", "starter", "growth", "enterprise"))
ROLES = Cat(("owner", "admin", "member", "viewer"))
PLANS = Cat(("starter", "growth", "enterprise"))
SUBSCRIPTION_STATUS = Cat(("active", "cancelled", "expired"))
DAY = 86400


def forecast_of(stage: np.ndarray) -> np.ndarray:
    """The CRM's forecast category of a stage: closed, commit (negotiation), best case
    (proposal), pipeline (discovery, demo), omitted (prospecting)."""
    return np.select([stage >= 5, stage == 4, stage == 3, stage >= 1], [3, 2, 1, 0], 4)


def _pick(rng, weights: np.ndarray, n: int) -> np.ndarray:
    return rng.choice(len(weights), n, p=weights / weights.sum())


def marketing(u: Universe, rng: np.random.Generator, s: Scale, b: Batches, as_of: int) -> tuple[list[Table], list[Table]]:
    names, n_acc, n_con = account_names(u), len(u.account), len(u.contact)
    acc_of_contact = u.account[u.contact_account]
    accounts = Table("marketing", "accounts", "csv", {
        "account_id": (ACC, u.account.copy()),
        "account_name": (Text, names),
        "domain": (Text, np.array([f"{x}.com" for x in names], dtype=object)),
        "industry": (Cat(INDUSTRIES), u.industry),
        "employee_band": (Cat(BANDS), u.band),
        "country": (Cat(COUNTRIES), u.country),
        "segment": (Cat(SEGMENTS), u.segment),
        "updated_at": (Ts, as_of - rng.integers(DAY, 60 * DAY, n_acc)),
    }, primary_key="account_id", event_time="updated_at")
    stage = np.where(u.customer[u.contact_account], 5, _pick(rng, np.array([3, 4, 2, 1, 0.5, 0.0]), n_con))
    created = as_of - rng.integers(30 * DAY, 400 * DAY, n_con)
    contacts = Table("marketing", "contacts", "csv", {
        "contact_id": (CON, u.contact.copy()),
        "account_id": (ACC, acc_of_contact.copy()),
        "email": (Text, emails(u)),
        "first_name": (Cat(FIRST), u.contact_first),
        "last_name": (Cat(LAST), u.contact_last),
        "job_title": (Cat(TITLES), u.contact_title),
        "country": (Cat(COUNTRIES), u.country[u.contact_account]),
        "lifecycle_stage": (LIFECYCLE, stage),
        "consent_email_marketing": (Bool, rng.random(n_con) < 0.8),
        "consent_analytics": (Bool, rng.random(n_con) < 0.7),
        "consent_sales_outreach": (Bool, rng.random(n_con) < 0.5),
        "created_at": (Ts, created),
        "updated_at": (Ts, np.minimum(as_of, created + rng.integers(0, 200 * DAY, n_con))),
    }, primary_key="contact_id", event_time="updated_at")
    camp_start = b.start + rng.integers(0, b.count * b.width - 10 * DAY, s.campaigns)
    campaigns = Table("marketing", "campaigns", "csv", {
        "campaign_id": (CMP, np.arange(1, s.campaigns + 1)),
        "campaign_name": (Text, np.array([f"Campaign {i}" for i in range(1, s.campaigns + 1)], dtype=object)),
        "channel": (Cat(("email", "webinar", "paid_social", "paid_search", "event", "content")), rng.integers(0, 6, s.campaigns)),
        "start_date": (Date, camp_start),
        "end_date": (Date, camp_start + rng.integers(7, 45, s.campaigns) * DAY),
        "budget_usd": (Num, np.round(rng.lognormal(9, 0.8, s.campaigns), 2)),
        "updated_at": (Ts, np.minimum(as_of, camp_start + 3 * DAY)),
    }, primary_key="campaign_id", event_time="updated_at")

    # Email funnel: send -> deliver (97%) or bounce -> open (25%) -> click (15%); rare unsubscribes.
    n = s.email_sends
    camp = rng.integers(0, s.campaigns, n)
    who = _pick(rng, u.weight[u.contact_account], n)
    sent = np.minimum(camp_start[camp] + rng.integers(0, 20 * DAY, n), b.start + b.count * b.width - 1)
    delivered = rng.random(n) < 0.97
    opened = delivered & (rng.random(n) < 0.25 + 0.5 * u.weight[u.contact_account[who]] / u.weight.max())
    clicked = opened & (rng.random(n) < 0.15)
    unsub = delivered & (rng.random(n) < 0.005)
    steps = [(0, np.ones(n, bool), 0), (1, delivered, 60), (5, ~delivered, 60), (2, opened, 3 * 3600),
             (3, clicked, 3 * 3600 + 120), (4, unsub, 4 * 3600)]
    rows = [(np.full(m.sum(), code), np.flatnonzero(m), lag) for code, m, lag in steps]
    kind = np.concatenate([r[0] for r in rows])
    idx = np.concatenate([r[1] for r in rows])
    when = np.concatenate([sent[r[1]] + r[2] + (rng.integers(0, 2 * DAY, len(r[1])) if r[2] > 3600 else 0) for r in rows])
    keep = when < b.start + b.count * b.width
    kind, idx, when = kind[keep], idx[keep], when[keep]
    email_events = Table("marketing", "email_events", "jsonl", {
        "event_id": (Id("EML-", 9), np.arange(1, len(kind) + 1)),
        "campaign_id": (CMP, camp[idx] + 1),
        "contact_id": (CON, u.contact[who[idx]]),
        "event_type": (EMAIL_EVENTS, kind),
        "occurred_at": (Ts, when),
    }, primary_key="event_id", enum="event_type", reference="contact_id", unknown_base=9_000_000)

    # Web: identified visitors (contacts), anonymous ones matched to an account by reverse IP, and unknown traffic.
    n = s.web_sessions
    identified = rng.random(n) < 0.4
    matched = ~identified & (rng.random(n) < 0.3)
    who = _pick(rng, u.weight[u.contact_account], n)
    acct = np.where(identified, u.contact_account[who], _pick(rng, u.weight, n))
    visitor = np.where(identified, who, n_con + rng.integers(0, 4 * n, n))
    started = event_times(rng, n, b.start, b.count * b.width // DAY)
    intent = u.weight[acct] / u.weight.max()
    web_sessions = Table("marketing", "web_sessions", "parquet", {
        "session_id": (Id("SES-", 9), np.arange(1, n + 1)),
        "visitor_id": (Id("VIS-", 8), visitor),
        "contact_id": (CON, np.where(identified, u.contact[who], NULL)),
        "account_id": (ACC, np.where(identified | matched, u.account[acct], NULL)),
        "ip_address": (Text, np.array([f"10.{a % 256}.{b_ % 256}.{c % 256}" for a, b_, c in rng.integers(0, 256, (n, 3))], dtype=object)),
        "occurred_at": (Ts, started),
        "duration_seconds": (Num, rng.lognormal(5, 1, n).astype(np.int64)),
        "landing_path": (Cat(("/", "/pricing", "/blog", "/docs", "/product")), rng.integers(0, 5, n)),
        "utm_source": (Cat(("google", "linkedin", "newsletter", "direct", "partner")), rng.integers(0, 5, n)),
        "utm_campaign": (CMP, np.where(rng.random(n) < 0.3, rng.integers(1, s.campaigns + 1, n), NULL)),
    }, primary_key="session_id", reference="account_id")
    views_per = 1 + rng.poisson(2 + 3 * intent)
    sess = np.repeat(np.arange(n), views_per)
    m = len(sess)
    page_w = np.array([3, 1, 0.5, 2, 3, 2, 0.3, 1])
    category = np.where(rng.random(m) < 0.3 * intent[sess], rng.choice([1, 2], m), _pick(rng, page_w, m))
    page_views = Table("marketing", "page_views", "parquet", {
        "page_view_id": (Id("PV-", 10), np.arange(1, m + 1)),
        "session_id": (Id("SES-", 9), sess + 1),
        "visitor_id": (Id("VIS-", 8), visitor[sess]),
        "contact_id": (CON, np.where(identified[sess], u.contact[who[sess]], NULL)),
        "account_id": (ACC, np.where((identified | matched)[sess], u.account[acct[sess]], NULL)),
        "url_path": (Cat(("/", "/pricing", "/demo", "/docs/start", "/blog/post", "/product", "/careers", "/about")), category),
        "page_category": (PAGES, category),
        "occurred_at": (Ts, np.minimum(started[sess] + rng.integers(0, 900, m), b.start + b.count * b.width - 1)),
    }, primary_key="page_view_id", enum="page_category", reference="account_id")

    n = max(50, s.web_sessions // 10)
    who = _pick(rng, u.weight[u.contact_account], n)
    form_type = _pick(rng, np.array([1.0, 0.6, 2, 1.2, 0.8]), n)
    form_fills = Table("marketing", "form_fills", "jsonl", {
        "form_fill_id": (Id("FRM-", 8), np.arange(1, n + 1)),
        "contact_id": (CON, u.contact[who]),
        "account_id": (ACC, acc_of_contact[who]),
        "email": (Text, contacts.columns["email"][1][who]),
        "form_type": (FORMS, form_type),
        "page_path": (Cat(("/demo", "/contact", "/newsletter", "/webinars", "/trial")), form_type),
        "campaign_id": (CMP, np.where(rng.random(n) < 0.5, rng.integers(1, s.campaigns + 1, n), NULL)),
        "occurred_at": (Ts, event_times(rng, n, b.start, b.count * b.width // DAY)),
    }, primary_key="form_fill_id", enum="form_type", reference="account_id")

    n = max(50, s.web_sessions // 8)
    who = _pick(rng, u.weight[u.contact_account], n)
    content_downloads = Table("marketing", "content_downloads", "csv", {
        "download_id": (Id("DL-", 8), np.arange(1, n + 1)),
        "contact_id": (CON, u.contact[who]),
        "account_id": (ACC, acc_of_contact[who]),
        "asset_name": (Cat(("State of RevOps", "Pipeline Playbook", "Data Mesh Guide", "ROI Calculator", "Customer Story")), rng.integers(0, 5, n)),
        "asset_type": (ASSETS, rng.integers(0, 5, n)),
        "campaign_id": (CMP, np.where(rng.random(n) < 0.6, rng.integers(1, s.campaigns + 1, n), NULL)),
        "occurred_at": (Ts, event_times(rng, n, b.start, b.count * b.width // DAY)),
    }, primary_key="download_id", enum="asset_type", reference="account_id")
    return [accounts, contacts, campaigns], [email_events, web_sessions, page_views, form_fills, content_downloads]


def product(u: Universe, rng: np.random.Generator, s: Scale, b: Batches, as_of: int) -> tuple[list[Table], list[Table]]:
    ws_accounts = np.flatnonzero(u.has_workspace)
    per = 1 + (rng.random(len(ws_accounts)) < 0.2)
    ws_account = np.repeat(ws_accounts, per)
    n_ws = len(ws_account)
    plan = np.where(u.customer[ws_account], 1 + np.minimum(u.band[ws_account] // 2 + rng.integers(0, 2, n_ws), 2), 0)
    ws_created = as_of - rng.integers(100 * DAY, 700 * DAY, n_ws)
    workspaces = Table("product", "workspaces", "csv", {
        "workspace_id": (WS, np.arange(1, n_ws + 1)),
        "account_id": (ACC, u.account[ws_account]),
        "plan": (WORKSPACE_PLANS, plan),
        "created_at": (Ts, ws_created),
        "updated_at": (Ts, as_of - rng.integers(DAY, 90 * DAY, n_ws)),
    }, primary_key="workspace_id", event_time="updated_at")
    # a user's workspace: one of its account's workspaces
    first_ws = np.full(len(u.account), -1)
    first_ws[ws_account[::-1]] = np.arange(n_ws)[::-1]
    user_account = u.contact_account[u.user_contact]
    user_ws = first_ws[user_account] + (rng.random(len(u.user)) < 0.2) * (per[np.searchsorted(ws_accounts, user_account)] - 1)
    n_users = len(u.user)
    users = Table("product", "users", "csv", {
        "user_id": (USR, u.user.copy()),
        "workspace_id": (WS, user_ws + 1),
        "account_id": (ACC, u.account[user_account]),
        "contact_id": (CON, u.contact[u.user_contact]),
        "email": (Text, emails(u)[u.user_contact]),
        "role": (ROLES, _pick(rng, np.array([0.5, 1, 6, 2]), n_users)),
        "created_at": (Ts, ws_created[user_ws] + rng.integers(0, 60 * DAY, n_users)),
        "updated_at": (Ts, as_of - rng.integers(DAY, 60 * DAY, n_users)),
    }, primary_key="user_id", event_time="updated_at")

    # Sessions and the events inside them; heavy-tailed per user, fading for churning accounts.
    days = b.count * b.width // DAY
    n_sessions = max(100, s.product_events // 8)
    user_w = heavy_tail(rng, n_users) * u.weight[user_account] ** 0.5
    su = _pick(rng, user_w, n_sessions)
    start = event_times(rng, n_sessions, b.start, days, fade=u.churning[user_account[su]])
    duration = np.maximum(30, rng.lognormal(6.5, 0.9, n_sessions).astype(np.int64))
    sessions = Table("product", "sessions", "parquet", {
        "session_id": (Id("PS-", 9), np.arange(1, n_sessions + 1)),
        "user_id": (USR, u.user[su]),
        "workspace_id": (WS, user_ws[su] + 1),
        "account_id": (ACC, u.account[user_account[su]]),
        "occurred_at": (Ts, start),
        "ended_at": (Ts, start + duration),
        "duration_seconds": (Num, duration),
        "platform": (Cat(("web", "desktop", "mobile")), _pick(rng, np.array([6, 3, 1]), n_sessions)),
    }, primary_key="session_id", event_time="occurred_at")
    n = s.product_events
    es = _pick(rng, np.ones(n_sessions), n)
    name = _pick(rng, np.array([25, 60, 7, 5, 3.0]), n)
    feature_w = 1 / np.arange(1, len(FEATURES.values) + 1)
    events = Table("product", "events", "parquet", {
        "event_id": (Id("EVT-", 10), np.arange(1, n + 1)),
        "user_id": (USR, u.user[su[es]]),
        "workspace_id": (WS, user_ws[su[es]] + 1),
        "account_id": (ACC, u.account[user_account[su[es]]]),
        "event_name": (PRODUCT_EVENTS, name),
        "feature": (FEATURES, np.where(name == 1, _pick(rng, feature_w, n), NULL)),
        "integration": (INTEGRATIONS, np.where(name == 4, rng.integers(0, len(INTEGRATIONS.values), n), NULL)),
        "session_id": (Id("PS-", 9), es + 1),
        "occurred_at": (Ts, np.minimum(start[es] + (rng.random(n) * duration[es]).astype(np.int64), b.start + days * DAY - 1)),
    }, primary_key="event_id", enum="event_name", reference="account_id")
    return [workspaces, users], [events, sessions]


def sales(u: Universe, rng: np.random.Generator, s: Scale, b: Batches, as_of: int) -> tuple[list[Table], list[Table]]:
    n_acc = len(u.account)
    names = account_names(u)
    accounts = Table("sales", "accounts", "csv", {
        "account_id": (ACC, u.account.copy()),
        "account_name": (Text, names),
        "industry": (Cat(INDUSTRIES), u.industry),
        "segment": (Cat(SEGMENTS), u.segment),
        "owner_rep": (Cat(REPS), u.rep),
        "billing_country": (Cat(COUNTRIES), u.country),
        "annual_revenue_usd": (Num, np.round(rng.lognormal(15 + u.band, 0.7), 0)),
        "employee_count": (Num, (np.array([25, 120, 500, 2500, 9000])[u.band] * rng.uniform(0.5, 1.5, n_acc)).astype(np.int64)),
        "updated_at": (Ts, as_of - rng.integers(DAY, 60 * DAY, n_acc)),
    }, primary_key="account_id", event_time="updated_at")
    n_con = len(u.contact)
    contacts = Table("sales", "contacts", "csv", {
        "contact_id": (CON, u.contact.copy()),
        "account_id": (ACC, u.account[u.contact_account]),
        "email": (Text, emails(u)),
        "full_name": (Text, np.array([f"{FIRST[f].title()} {LAST[l].title()}" for f, l in zip(u.contact_first, u.contact_last)], dtype=object)),
        "title": (Cat(TITLES), u.contact_title),
        "phone": (Text, np.array([f"+1-555-{p:07d}" for p in rng.integers(0, 10**7, n_con)], dtype=object)),
        "updated_at": (Ts, as_of - rng.integers(DAY, 90 * DAY, n_con)),
    }, primary_key="contact_id", event_time="updated_at")

    # Opportunities walk the stages; each step is a stage-history event.
    n = int(n_acc * s.opportunities_per_account)
    opp_acc = _pick(rng, u.weight ** 0.5, n)
    # Created, and walked through the stages, before the CRM's full export at as_of; later
    # moves are its change exports' (changes.py), logged in the stage history as they land.
    created = b.start - 60 * DAY + rng.integers(0, as_of - b.start + 60 * DAY, n)
    reached = np.minimum(rng.geometric(0.35, n), 5)  # open stages reached, 1..5
    closed = rng.random(n) < 0.45
    won = closed & (rng.random(n) < 0.15 + 0.12 * reached)
    final = np.where(closed, np.where(won, 5, 6), reached - 1)
    hist_opp = np.concatenate([np.repeat(np.arange(n), reached), np.flatnonzero(closed)])
    open_steps = np.arange(reached.sum()) - np.repeat(np.cumsum(reached) - reached, reached)
    hist_to = np.concatenate([open_steps, final[closed]])
    order = np.lexsort((hist_to, hist_opp))
    hist_opp, hist_to = hist_opp[order], hist_to[order]
    step_gap = rng.integers(2 * DAY, 25 * DAY, len(hist_opp))
    elapsed = np.cumsum(step_gap)
    first = np.searchsorted(hist_opp, hist_opp)  # index of each opportunity's first step
    hist_when = created[hist_opp] + elapsed - elapsed[first]
    horizon = as_of
    keep = hist_when <= horizon
    last_move = np.full(n, 0, dtype=np.int64)
    np.maximum.at(last_move, hist_opp[keep], hist_when[keep])
    last_stage = np.full(n, 0)
    for_opp = np.flatnonzero(keep)
    last_stage[hist_opp[for_opp]] = hist_to[for_opp]  # sorted: the last kept step wins
    amount = np.round(rng.lognormal(9 + u.band[opp_acc] * 0.8, 0.6), 2)
    opportunities = Table("sales", "opportunities", "csv", {
        "opportunity_id": (Id("OPP-", 7), np.arange(1, n + 1)),
        "account_id": (ACC, u.account[opp_acc]),
        "name": (Text, np.array([f"{names[a]} - expansion {i}" for i, a in enumerate(opp_acc, 1)], dtype=object)),
        "stage": (STAGES, last_stage),
        "amount_usd": (Num, amount),
        "close_date": (Date, np.maximum(created, last_move) + rng.integers(10, 90, n) * DAY),
        "forecast_category": (FORECAST, forecast_of(last_stage)),
        "created_at": (Ts, np.minimum(created, horizon)),
        "updated_at": (Ts, np.minimum(np.maximum(created, last_move), horizon)),
    }, primary_key="opportunity_id", event_time="updated_at")
    prev = np.where(np.r_[False, hist_opp[1:] == hist_opp[:-1]], np.r_[0, hist_to[:-1]], NULL)
    in_window = keep & (hist_when >= b.start)
    stage_history = Table("sales", "opportunity_stage_history", "jsonl", {
        "opportunity_id": (Id("OPP-", 7), hist_opp[in_window] + 1),
        "account_id": (ACC, u.account[opp_acc[hist_opp[in_window]]]),
        "from_stage": (STAGES, prev[in_window]),
        "to_stage": (STAGES, hist_to[in_window]),
        "occurred_at": (Ts, hist_when[in_window]),
    }, primary_key="opportunity_id")
    opportunities.on_change = lambda batches: log_stage_moves(stage_history, batches)

    n = s.activities
    act_acc = _pick(rng, u.weight, n)
    first_contact = np.searchsorted(u.contact_account, act_acc)
    count = np.bincount(u.contact_account, minlength=n_acc)[act_acc]
    who = first_contact + (rng.random(n) * count).astype(int)
    opp_of_acc = np.full(n_acc, NULL)
    opp_of_acc[opp_acc] = np.arange(1, len(opp_acc) + 1)
    activities = Table("sales", "activities", "csv", {
        "activity_id": (Id("ACT-", 8), np.arange(1, n + 1)),
        "account_id": (ACC, u.account[act_acc]),
        "contact_id": (CON, u.contact[who]),
        "opportunity_id": (Id("OPP-", 7), np.where(rng.random(n) < 0.6, opp_of_acc[act_acc], NULL)),
        "activity_type": (ACTIVITY, _pick(rng, np.array([3, 5, 2.0]), n)),
        "direction": (Cat(("inbound", "outbound")), (rng.random(n) < 0.75).astype(int)),
        "duration_minutes": (Num, rng.integers(1, 60, n)),
        "occurred_at": (Ts, event_times(rng, n, b.start, b.count * b.width // DAY)),
    }, primary_key="activity_id", enum="activity_type", reference="account_id")
    return [accounts, contacts, opportunities], [stage_history, activities]


def customer_success(u: Universe, rng: np.random.Generator, s: Scale, b: Batches, as_of: int) -> tuple[list[Table], list[Table]]:
    customers = np.flatnonzero(u.customer)
    n_sub = len(customers)
    start = as_of - rng.integers(30 * DAY, 900 * DAY, n_sub)
    status = np.where(u.churning[customers] & (rng.random(n_sub) < 0.6), 1, np.where(rng.random(n_sub) < 0.03, 2, 0))
    renewal = start + ((as_of - start) // (365 * DAY) + 1) * 365 * DAY
    subscriptions = Table("customer_success", "subscriptions", "parquet", {
        "subscription_id": (Id("SUB-", 6), np.arange(1, n_sub + 1)),
        "account_id": (ACC, u.account[customers]),
        "plan": (PLANS, np.minimum(u.band[customers] // 2, 2)),
        "status": (SUBSCRIPTION_STATUS, status),
        "arr_usd": (Num, np.round(rng.lognormal(9.5 + 0.7 * u.band[customers], 0.5), 2)),
        "start_date": (Date, start),
        "end_date": (Date, np.where(status > 0, as_of - rng.integers(DAY, 60 * DAY, n_sub), NULL)),
        "renewal_date": (Date, renewal),
        "updated_at": (Ts, as_of - rng.integers(DAY, 30 * DAY, n_sub)),
    }, primary_key="subscription_id", event_time="updated_at")

    days = b.count * b.width // DAY
    n = s.tickets
    t_acc = customers[_pick(rng, u.weight[customers] * (1 + 2 * u.churning[customers]), n)]
    first_contact = np.searchsorted(u.contact_account, t_acc)
    count = np.bincount(u.contact_account, minlength=len(u.account))[t_acc]
    who = first_contact + (rng.random(n) * count).astype(int)
    opened = event_times(rng, n, b.start, days)
    priority = _pick(rng, np.array([3, 5, 1.5, 0.5]), n)
    response = opened + (rng.lognormal(5.5, 1.2, n) * 60 / (1 + priority)).astype(np.int64)
    horizon = b.start + days * DAY
    resolved_ok = rng.random(n) < 0.85
    resolved = np.where(resolved_ok, response + (rng.lognormal(9.5, 1.2, n)).astype(np.int64), NULL)
    resolved = np.where(resolved > horizon, NULL, resolved)
    status = np.where(resolved > 0, np.where(rng.random(n) < 0.6, 3, 2), np.where(response < horizon, 1, 0))
    tickets = Table("customer_success", "tickets", "jsonl", {
        "ticket_id": (Id("TCK-", 7), np.arange(1, n + 1)),
        "account_id": (ACC, u.account[t_acc]),
        "contact_id": (CON, u.contact[who]),
        "priority": (PRIORITY, priority),
        "category": (Cat(("billing", "bug", "how_to", "integration", "access", "performance")), rng.integers(0, 6, n)),
        "status": (STATUS, status),
        "occurred_at": (Ts, opened),
        "first_response_at": (Ts, np.where(response < horizon, response, NULL)),
        "resolved_at": (Ts, resolved),
    }, primary_key="ticket_id", enum="priority", reference="account_id")
    # status path per ticket: open -> pending -> solved -> closed, with some reopens
    steps = [(NULL, 0, opened), (0, 1, response), (1, 2, resolved), (2, 3, resolved + 2 * DAY)]
    parts = []
    for frm, to, when in steps:
        ok = (when > 0) & (when < horizon) & (status >= to)
        parts.append((np.flatnonzero(ok), np.full(ok.sum(), frm), np.full(ok.sum(), to), when[ok]))
    reopen = np.flatnonzero((status >= 2) & (rng.random(n) < 0.05) & (resolved + DAY < horizon))
    parts.append((reopen, np.full(len(reopen), 2), np.full(len(reopen), 0), resolved[reopen] + DAY))
    tix = np.concatenate([p[0] for p in parts])
    changes = Table("customer_success", "ticket_status_changes", "jsonl", {
        "ticket_id": (Id("TCK-", 7), tix + 1),
        "account_id": (ACC, u.account[t_acc[tix]]),
        "from_status": (STATUS, np.concatenate([p[1] for p in parts])),
        "to_status": (STATUS, np.concatenate([p[2] for p in parts])),
        "occurred_at": (Ts, np.concatenate([p[3] for p in parts])),
    }, primary_key="ticket_id")
    n = s.surveys
    s_acc = customers[_pick(rng, u.weight[customers], n)]
    first_contact = np.searchsorted(u.contact_account, s_acc)
    count = np.bincount(u.contact_account, minlength=len(u.account))[s_acc]
    who = first_contact + (rng.random(n) * count).astype(int)
    is_nps = rng.random(n) < 0.5
    unhappy = u.churning[s_acc]
    score = np.where(is_nps, np.clip(rng.normal(8 - 4 * unhappy, 2, n), 0, 10), np.clip(rng.normal(4.2 - 1.5 * unhappy, 0.8, n), 1, 5))
    surveys = Table("customer_success", "survey_responses", "csv", {
        "response_id": (Id("SRV-", 7), np.arange(1, n + 1)),
        "account_id": (ACC, u.account[s_acc]),
        "contact_id": (CON, u.contact[who]),
        "survey_type": (Cat(("csat", "nps")), is_nps.astype(int)),
        "score": (Num, np.round(score).astype(np.int64)),
        "comment": (Cat(("", "Great support", "Too slow", "Love the dashboards", "Pricing is high", "Missing SSO")), rng.integers(0, 6, n)),
        "occurred_at": (Ts, event_times(rng, n, b.start, days)),
    }, primary_key="response_id")
    return [subscriptions], [tickets, changes, surveys]


def log_stage_moves(history: Table, batches: list[Versions]) -> None:
    """Every stage change of a change export joins the stage history, when it happened."""
    for versions in batches:
        before, after = (parse(STAGES, v.column("stage")) for v in (versions.before, versions.table))
        moved = np.flatnonzero(before != after)
        new = {
            "opportunity_id": parse(Id("OPP-", 7), versions.table.column("opportunity_id"))[moved],
            "account_id": parse(ACC, versions.table.column("account_id"))[moved],
            "from_stage": before[moved],
            "to_stage": after[moved],
            "occurred_at": parse(Ts, versions.table.column("updated_at"))[moved],
        }
        history.columns = {n: (kind, np.concatenate([values, new[n]])) for n, (kind, values) in history.columns.items()}
