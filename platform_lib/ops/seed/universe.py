"""The shared account universe: accounts, their people, and who is a customer.

Every domain's sources are drawn from this one universe, so identifiers join across
domains; sizes and activity follow power laws, as real B2B customer bases do."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

INDUSTRIES = ("software", "fintech", "healthcare", "retail", "manufacturing", "media", "education", "logistics")
COUNTRIES = ("US", "GB", "DE", "FR", "CA", "AU", "NL", "SE", "JP", "BR")
BANDS = ("1-50", "51-200", "201-1000", "1001-5000", "5001+")
SEGMENT_OF_BAND = np.array([0, 0, 1, 1, 2])  # smb, mid_market, enterprise
SEGMENTS = ("smb", "mid_market", "enterprise")
FIRST = ("ada", "ben", "chen", "dana", "eli", "fatima", "gus", "hana", "ivan", "jo", "kofi", "lena", "mia", "noor",
         "omar", "pia", "quinn", "raj", "sara", "tom", "uma", "vik", "wen", "yara", "zoe")
LAST = ("adams", "baker", "costa", "diaz", "evans", "fischer", "garcia", "hughes", "ito", "jones", "khan", "lopez",
        "meyer", "nguyen", "okafor", "patel", "quinn", "rossi", "silva", "tanaka", "ueda", "varga", "wong", "young")
TITLES = ("VP Marketing", "Head of Sales", "RevOps Manager", "Data Analyst", "CTO", "Engineering Manager",
          "Product Manager", "CFO", "Customer Success Lead", "Operations Director")
REPS = tuple(f"rep_{n}" for n in ("alvarez", "brooks", "chu", "dubois", "eriksen", "farah", "grant", "holm"))


def heavy_tail(rng: np.random.Generator, n: int, shape: float = 1.3) -> np.ndarray:
    """Pareto weights summing to 1: a few accounts and users generate most activity."""
    w = rng.pareto(shape, n) + 0.05
    return w / w.sum()


@dataclass
class Universe:
    account: np.ndarray          # account numbers 1..N
    band: np.ndarray             # index into BANDS
    industry: np.ndarray
    country: np.ndarray
    rep: np.ndarray
    weight: np.ndarray           # activity weight per account
    customer: np.ndarray         # bool: has a subscription
    churning: np.ndarray         # bool: customer whose usage is fading
    has_workspace: np.ndarray    # bool: customers and trials
    contact: np.ndarray          # contact numbers
    contact_account: np.ndarray  # index into accounts
    contact_first: np.ndarray
    contact_last: np.ndarray
    contact_title: np.ndarray
    user: np.ndarray             # user numbers (product users are contacts at workspace accounts)
    user_contact: np.ndarray     # index into contacts

    @property
    def segment(self) -> np.ndarray:
        return SEGMENT_OF_BAND[self.band]


def build_universe(rng: np.random.Generator, accounts: int) -> Universe:
    n = accounts
    band = rng.choice(len(BANDS), n, p=[0.35, 0.3, 0.2, 0.1, 0.05])
    weight = heavy_tail(rng, n) * (1 + band)
    weight /= weight.sum()
    customer = rng.random(n) < 0.25 + 0.1 * band
    churning = customer & (rng.random(n) < 0.12)
    has_workspace = customer | (rng.random(n) < 0.15)
    per_account = 1 + np.minimum((rng.pareto(1.6, n) * (2 + 2 * band)).astype(int), 60)
    contact_account = np.repeat(np.arange(n), per_account)
    m = len(contact_account)
    is_user = has_workspace[contact_account] & (rng.random(m) < 0.7)
    return Universe(
        account=np.arange(1, n + 1),
        band=band,
        industry=rng.integers(0, len(INDUSTRIES), n),
        country=rng.integers(0, len(COUNTRIES), n),
        rep=rng.integers(0, len(REPS), n),
        weight=weight,
        customer=customer,
        churning=churning,
        has_workspace=has_workspace,
        contact=np.arange(1, m + 1),
        contact_account=contact_account,
        contact_first=rng.integers(0, len(FIRST), m),
        contact_last=rng.integers(0, len(LAST), m),
        contact_title=rng.integers(0, len(TITLES), m),
        user=np.arange(1, int(is_user.sum()) + 1),
        user_contact=np.flatnonzero(is_user),
    )


def account_names(u: Universe) -> np.ndarray:
    stems = np.array(["acme", "globex", "initech", "umbrella", "stark", "wayne", "tyrell", "cyberdyne", "soylent",
                      "hooli", "pied", "vandelay", "wonka", "gringotts", "oscorp", "aperture"], dtype=object)
    return np.array([f"{stems[a % len(stems)]}{a:06d}" for a in u.account], dtype=object)


def emails(u: Universe) -> np.ndarray:
    names = account_names(u)
    first = np.array(FIRST, dtype=object)[u.contact_first]
    last = np.array(LAST, dtype=object)[u.contact_last]
    return np.array([f"{f}.{l}{c}@{names[a]}.com" for f, l, c, a in zip(first, last, u.contact, u.contact_account)],
                    dtype=object)


def event_times(rng: np.random.Generator, n: int, start: int, days: int, fade: np.ndarray | None = None) -> np.ndarray:
    """Epoch seconds in [start, start + days): weekdays busier than weekends, working
    hours busier than nights. `fade` (per row, bool) skews rows towards the window's start."""
    # 1970-01-01 was a Thursday: (epoch day + 3) % 7 counts Monday as 0.
    day_weight = np.array([1.0 if (start // 86400 + d + 3) % 7 < 5 else 0.3 for d in range(days)])
    day = rng.choice(days, n, p=day_weight / day_weight.sum())
    if fade is not None and fade.any():
        day = np.where(fade, (day * rng.random(n) ** 1.5).astype(int), day)
    hour_weight = np.array([0.2] * 7 + [1.0] * 12 + [0.4] * 5)
    hour = rng.choice(24, n, p=hour_weight / hour_weight.sum())
    return start + day.astype(np.int64) * 86400 + hour * 3600 + rng.integers(0, 3600, n)
