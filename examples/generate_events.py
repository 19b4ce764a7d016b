#!/usr/bin/env python3
"""Generate a realistic, deterministic stream of RM actions for the cn_wealth_sales policies.

Writes examples/events.jsonl: about 5,000 actions of 50 relationship managers (客户经理) of a
Chinese bank, from 2025-11-03 to 2026-04-30 (Beijing time), so the stream crosses the switch from
cn_wealth_sales 2025.1 to 2026.1 on 2026-02-01. One JSON object per line, in time order, each a
valid action for policies/cn (type, id, at with a +08:00 offset, rm with every declared rm field,
and the fields its type declares).

The mix is mostly compliant. Every kind of violation the policies know occurs a few times:
unsuitable sales, expired risk assessments, unrecorded in-branch sales (双录), private products for
non-qualified investors, without a cooling-off period or without a return call, unapproved products
(飞单), cash gifts, gifts registered late or never, private lending, related-party credit, late
complaint forwarding, marketing calls at night or to customers who opted out, and so on. About 3 %
of sales and 3 % of gifts are denied; roughly one registrable gift in eight is registered late or
never. Misconduct concentrates: each RM has a propensity (most are careful, a few careless) that
scales every violation rate, so a handful of RMs climb the sanction ladder while most never do.
Gift-giving peaks before the Spring Festival (17 February 2026) and activity drops during the
holiday.

Standard library only; seeded with random.Random(2026), so every run writes the same file.

Usage: python3 examples/generate_events.py [OUTPUT]   (default: events.jsonl next to this script)
"""

import datetime as dt
import json
import os
import random
import sys

RNG = random.Random(2026)
TZ = dt.timezone(dt.timedelta(hours=8))

START = dt.date(2025, 11, 3)
END = dt.date(2026, 4, 30)  # inclusive
END_AT = dt.datetime(2026, 4, 30, 23, 59, 59, tzinfo=TZ)
SPRING_FESTIVAL = dt.date(2026, 2, 17)
HOLIDAY = (dt.date(2026, 2, 15), dt.date(2026, 2, 23))  # 春节假期, inclusive

N_RMS = 50
CUSTOMERS_PER_RM = (30, 55)

# Daily rates per RM on a normal working day (Saturday 20 %, Sunday 5 %, holiday 15 %).
RATE_SALE = 0.30
RATE_MARKETING_CALL = 0.08
RATE_SERVICE_CALL = 0.065
RATE_REASSESSMENT = 0.025
RATE_GIFT = 0.04  # tripled in the three weeks before the Spring Festival
RATE_LOAN = 0.055
RATE_COMPLAINT = 0.015
RATE_TRANSFER = 0.017

# Violation rates (per opportunity).
P_UNSUITABLE = 0.02
P_CUSTOMER_INITIATED = 0.03  # of fund / insurance sales: a customer insisting on a riskier product
P_EXPIRED_NOT_RENEWED = 0.08  # expired assessment: the RM sells without renewing it
P_NO_RECORDING = 0.015
P_NO_MANUAL = 0.01
P_NO_RIGHTS_NOTICE = 0.03
P_PRIVATE_UNQUALIFIED = 0.03
P_PRIVATE_BELOW_MIN = 0.03
P_NO_COOLING_OFF = 0.03
P_CALLBACK_LATE = 0.05
P_CALLBACK_NEVER = 0.04
P_CALLBACK_EARLY = 0.04  # a call inside the cooling-off period, then a proper one
P_UNLISTED = 0.003
P_UNQUALIFIED_FUND_SALE = 0.04  # of RMs without the fund qualification, per fund opportunity
P_UPGRADE_PUSH = 0.012
P_SPLIT_SALE = 0.004  # of sales: one large ticket split into two same-day sales
P_PROXY_ASSESSMENT = 0.015
P_REPEAT_ASSESSMENT = 0.015
P_CASH_GIFT = 0.04
P_PENDING_DECISION_GIFT = 0.025
P_GIFT_NEVER_REGISTERED = 0.07
P_GIFT_REGISTERED_LATE = 0.09
P_UNDERDECLARED = 0.03
P_LOAN_OVER_AUTHORITY = 0.02
P_RELATED_LOAN = 0.03
P_RELATED_UNSECURED = 0.15
P_WAIVER_BEFORE_RELATED_LOAN = 0.6  # scaled: careful RMs nearly always ask compliance first
P_WAIVER_BY_BRANCH_MANAGER = 0.1
P_CUSTOMER_TRANSFER = 0.3
P_PRIVATE_LENDING = 0.12  # of transfers with customers
P_LARGE_CUSTOMER_TRANSFER = 0.12
P_URGENT_COMPLAINT = 0.08
P_COMPLAINT_LATE = 0.05
P_COMPLAINT_NEVER = 0.02
P_NIGHT_CALL = 0.015
P_OPTED_OUT_CALL = 0.01
P_UNRECORDED_CALL = 0.015

CITIES = [
    ("SH", ["Lujiazui", "Xuhui", "Jingan", "Hongqiao"]),
    ("BJ", ["Guomao", "Zhongguancun", "Xidan"]),
    ("SZ", ["Futian", "Nanshan"]),
    ("HZ", ["Qianjiang", "Wulin"]),
    ("NJ", ["Xinjiekou"]),
    ("CD", ["Tianfu", "Chunxi"]),
]

# The bank's product shelf. (id, type, offering, asset class, issuer risk, bank risk)
PRODUCTS = [
    ("BW-CM-0001", "bank_wealth", "public", "cash_management", 1, 1),
    ("BW-FI-2025-041", "bank_wealth", "public", "fixed_income", 2, 2),
    ("BW-FI-2025-044", "bank_wealth", "public", "fixed_income", 2, 2),
    ("BW-FI-2026-018", "bank_wealth", "public", "fixed_income", 2, 3),
    ("BW-MX-0107", "bank_wealth", "public", "mixed", 3, 3),
    ("BW-EQ-0201", "bank_wealth", "public", "equity", 4, 4),
    ("WM-CM-0010", "wm_company", "public", "cash_management", 1, 1),
    ("WM-FI-0077", "wm_company", "public", "fixed_income", 2, 2),
    ("WM-FI-0078", "wm_company", "public", "fixed_income", 2, 2),
    ("WM-MX-0033", "wm_company", "public", "mixed", 3, 4),
    ("WM-MX-0034", "wm_company", "public", "mixed", 3, 3),
    ("WM-EQ-2026-002", "wm_company", "public", "equity", 4, 4),
    ("MF-MM-0001", "mutual_fund", "public", "cash_management", 1, 1),
    ("MF-FI-0102", "mutual_fund", "public", "fixed_income", 2, 2),
    ("MF-FI-0103", "mutual_fund", "public", "fixed_income", 2, 2),
    ("MF-MX-0201", "mutual_fund", "public", "mixed", 3, 3),
    ("MF-MX-0202", "mutual_fund", "public", "mixed", 3, 4),
    ("MF-EQ-0301", "mutual_fund", "public", "equity", 4, 4),
    ("MF-EQ-0302", "mutual_fund", "public", "equity", 4, 5),
    ("MF-CD-0401", "mutual_fund", "public", "commodity_derivative", 5, 5),
    ("IN-AN-0011", "insurance", "public", "fixed_income", 1, 2),
    ("IN-UL-0012", "insurance", "public", "fixed_income", 2, 2),
    ("IN-IL-0013", "insurance", "public", "equity", 4, 4),
    ("BW-PFI-0005", "bank_wealth", "private", "fixed_income", 3, 3),
    ("WM-PMX-0006", "wm_company", "private", "mixed", 4, 4),
    ("TR-FI-0011", "trust_plan", "private", "fixed_income", 3, 4),
    ("PF-EQ-0009", "private_fund", "private", "equity", 5, 5),
    ("PF-CD-0010", "private_fund", "private", "commodity_derivative", 5, 5),
]
SUSPENDED = {"BW-FI-2025-044": dt.date(2026, 3, 16)}  # suspended from this date on
PRIVATE_MINIMUM = {"cash_management": 300_000, "fixed_income": 300_000, "mixed": 400_000,
                   "equity": 1_000_000, "commodity_derivative": 1_000_000}
AUTHORITY = {"junior": 3_000_000, "intermediate": 10_000_000, "senior": 30_000_000, "director": 30_000_000}


# ------------------------------------------------------------------ helpers

def money(amount):
    return f"{amount:.2f} CNY"


def rfc3339(t):
    return t.isoformat(timespec="seconds")


def round_amount(x, step):
    return max(step, int(round(x / step)) * step)


def bad(rm, p):
    """A violation with base probability p, scaled by the RM's propensity."""
    return RNG.random() < p * rm["risk"]


def weighted(options):
    """options: list of (value, weight)."""
    total = sum(w for _, w in options)
    r = RNG.random() * total
    for value, w in options:
        r -= w
        if r < 0:
            return value
    return options[-1][0]


def at_time(day, start_hour, end_hour):
    """A random moment on `day` between start_hour and end_hour (local time)."""
    seconds = RNG.randrange(int(start_hour * 3600), int(end_hour * 3600))
    return dt.datetime(day.year, day.month, day.day, tzinfo=TZ) + dt.timedelta(seconds=seconds)


def office_hours(t):
    """Move a moment outside 08:30–20:00 to the next morning (or this morning, if early)."""
    if (t.hour, t.minute) < (8, 30):
        return t.replace(hour=8, minute=30, second=0) + dt.timedelta(seconds=RNG.randint(0, 9000))
    if t.hour >= 20:
        return t.replace(hour=8, minute=30, second=0) + dt.timedelta(days=1, seconds=RNG.randint(0, 9000))
    return t


def add_years(d, years):
    try:
        return d.replace(year=d.year + years)
    except ValueError:  # 29 February
        return d.replace(year=d.year + years, day=28)


def assessment_expired(assessed_on, day):
    return assessed_on is None or add_years(assessed_on, 1) < day


def age_on(birth, day):
    years = day.year - birth.year
    return years - 1 if (day.month, day.day) < (birth.month, birth.day) else years


def activity_factor(day):
    if HOLIDAY[0] <= day <= HOLIDAY[1]:
        return 0.15
    return {5: 0.2, 6: 0.05}.get(day.weekday(), 1.0)


# ------------------------------------------------------------------ the world

class Counter:
    def __init__(self):
        self.n = {}

    def next(self, prefix):
        self.n[prefix] = self.n.get(prefix, 0) + 1
        return f"{prefix}-{self.n[prefix]:06d}"


TMP_IDS = Counter()
IDS = Counter()
CUSTOMER_SEQ = [100000]
BORROWER_SEQ = [500000]


def new_customer_id():
    CUSTOMER_SEQ[0] += RNG.randint(1, 37)
    return f"C{CUSTOMER_SEQ[0]}"


def new_borrower_id():
    BORROWER_SEQ[0] += RNG.randint(1, 53)
    return f"B{BORROWER_SEQ[0]}"


def make_customer(cid):
    segment = weighted([("retail", 50), ("affluent", 30), ("private_banking", 12), ("corporate", 8)])
    if segment == "corporate":
        birth = None
        level = weighted([(2, 20), (3, 45), (4, 30), (5, 5)])
        qualified = RNG.random() < 0.8
    else:
        age = weighted([(RNG.randint(25, 39), 30), (RNG.randint(40, 54), 32), (RNG.randint(55, 64), 20),
                        (RNG.randint(65, 74), 13), (RNG.randint(75, 88), 5)])
        birth = dt.date(2026 - age, RNG.randint(1, 12), RNG.randint(1, 28))
        if age >= 75:
            level = weighted([(1, 30), (2, 45), (3, 20), (4, 5)])
        else:
            level = weighted([(1, 8), (2, 27), (3, 35), (4, 22), (5, 8)])
        if segment == "private_banking":
            level = max(level, 3)
        qualified = segment == "private_banking" or (segment == "affluent" and RNG.random() < 0.15)
    assessed = None
    if RNG.random() > 0.01:  # a few customers were never assessed
        assessed = dt.date(2025, 1, 10) + dt.timedelta(days=RNG.randrange(0, 300))
    return {
        "id": cid,
        "birth_date": birth,
        "risk_level": level,
        "risk_assessed_on": assessed,
        "segment": segment,
        "qualified_investor": qualified,
        "opted_out": RNG.random() < 0.06,
        "pending_until": None,  # a decision of this customer pending before the RM
    }


def customer_json(c):
    out = {"id": c["id"]}
    if c["birth_date"] is not None:
        out["birth_date"] = c["birth_date"].isoformat()
    out["risk_level"] = c["risk_level"]
    if c["risk_assessed_on"] is not None:
        out["risk_assessed_on"] = c["risk_assessed_on"].isoformat()
    out["segment"] = c["segment"]
    out["qualified_investor"] = c["qualified_investor"]
    return out


def make_rm(index):
    city, branches = CITIES[index % len(CITIES)]
    branch = f"{city}-{RNG.choice(branches)}"
    grade = weighted([("junior", 30), ("intermediate", 40), ("senior", 24), ("director", 6)])
    quals = ["wm_sales"]
    if RNG.random() < 0.88:
        quals.append("fund_sales")
    if RNG.random() < 0.6:
        quals.append("insurance_sales")
    customers = [make_customer(new_customer_id()) for _ in range(RNG.randint(*CUSTOMERS_PER_RM))]
    related = []
    if RNG.random() < 0.35:  # a relative banks with the RM
        related.append(RNG.choice(customers)["id"])
    borrowers = [new_borrower_id() for _ in range(RNG.randint(8, 20))]
    related_borrower = new_borrower_id()  # a relative's company
    related.append(related_borrower)
    return {
        "id": f"RM-{city}-{index + 1:03d}",
        # Misconduct concentrates: most RMs are careful, a few are careless.
        "risk": weighted([(0.1, 60), (0.6, 30), (2.5, 10)]),
        "grade": grade,
        "branch": branch,
        "qualifications": quals,
        "related_parties": related,
        "customers": customers,
        "borrowers": borrowers,
        "related_borrower": related_borrower,
        "events": [],
        "used_times": set(),
        "planned": {},  # date -> list of planned activities
        "waived": [],  # (party, date) of compliance waivers
    }


def rm_json(rm):
    return {"id": rm["id"], "grade": rm["grade"], "branch": rm["branch"],
            "qualifications": list(rm["qualifications"]), "related_parties": list(rm["related_parties"])}


def emit(rm, kind, prefix, at, fields):
    """Record one action of `rm`. Returns its id, or None when it falls after the end."""
    if at > END_AT:
        return None
    while at in rm["used_times"]:  # keep each RM's timestamps distinct
        at += dt.timedelta(seconds=1)
    rm["used_times"].add(at)
    action_id = TMP_IDS.next(prefix)  # renumbered in time order at the end
    event = {"type": kind, "id": action_id, "at": rfc3339(at), "rm": rm_json(rm)}
    event.update(fields)
    rm["events"].append((at, event))
    return action_id


def plan(rm, day, activity):
    rm["planned"].setdefault(day, []).append(activity)


# ------------------------------------------------------------------ activities

def risk_assessment(rm, c, at, *, new_level=None, completed_by="customer"):
    previous = c["risk_level"] if c["risk_assessed_on"] is not None else None
    if new_level is None:
        base = previous if previous is not None else weighted([(1, 10), (2, 30), (3, 35), (4, 20), (5, 5)])
        new_level = min(5, max(1, base + weighted([(0, 80), (1, 10), (-1, 10)])))
    fields = {"customer_id": c["id"]}
    if previous is not None:
        fields["previous_level"] = previous
    fields.update({"new_level": new_level, "completed_by": completed_by,
                   "channel": weighted([("branch", 60), ("mobile", 30), ("online", 10)])})
    emit(rm, "risk_assessment", "RA", at, fields)
    c["risk_level"] = new_level
    c["risk_assessed_on"] = at.date()


def eligible_products(rm, c, day, level):
    out = []
    for p in PRODUCTS:
        pid, ptype, offering, _, issuer, bank = p
        if max(issuer, bank) > level:
            continue
        if offering == "private" and not c["qualified_investor"]:
            continue
        if ptype in ("mutual_fund", "private_fund") and "fund_sales" not in rm["qualifications"]:
            continue
        if ptype == "insurance" and "insurance_sales" not in rm["qualifications"]:
            continue
        if pid in SUSPENDED and day >= SUSPENDED[pid]:
            continue
        out.append(p)
    return out


def sale_amount(c, offering, asset_class, below_minimum=False):
    if offering == "private":
        minimum = PRIVATE_MINIMUM[asset_class]
        if below_minimum:
            return round_amount(minimum * RNG.uniform(0.3, 0.95), 10_000)
        return round_amount(minimum * RNG.choice([1, 1, 1.2, 1.5, 2, 3, 5]), 10_000)
    scale = {"retail": 60_000, "affluent": 250_000, "private_banking": 1_200_000, "corporate": 2_000_000}[c["segment"]]
    x = RNG.lognormvariate(0, 0.8) * scale
    if c["segment"] in ("private_banking", "corporate") and RNG.random() < 0.03:
        x = RNG.uniform(5_000_000, 12_000_000)  # a large ticket, reviewed by the branch manager
    return round_amount(min(x, 20_000_000), 1_000)


def product_sale(rm, day, at, c=None, product=None, forced=None):
    forced = forced or {}
    if c is None:
        c = RNG.choice(rm["customers"])
    # The risk assessment must be on file and less than a year old: a diligent RM renews it first.
    if assessment_expired(c["risk_assessed_on"], day) and not forced.get("no_renewal"):
        if c["risk_assessed_on"] is None or not bad(rm, P_EXPIRED_NOT_RENEWED):
            proxy = bad(rm, P_PROXY_ASSESSMENT)
            risk_assessment(rm, c, at - dt.timedelta(minutes=RNG.randint(10, 40)),
                            completed_by="rm" if proxy else "customer")
    level = c["risk_level"]
    customer_initiated = False
    warning_signed = False
    if product is None:
        unsuitable = bad(rm, P_UNSUITABLE)
        options = eligible_products(rm, c, day, 5 if unsuitable else level)
        if unsuitable:
            options = [p for p in options if max(p[4], p[5]) > level and p[2] == "public"] or options
        elif bad(rm, P_UNQUALIFIED_FUND_SALE) and "fund_sales" not in rm["qualifications"]:
            options = [p for p in PRODUCTS if p[1] == "mutual_fund" and max(p[4], p[5]) <= level] or options
        elif bad(rm, P_PRIVATE_UNQUALIFIED) and not c["qualified_investor"] and level >= 4:
            options = [p for p in PRODUCTS if p[2] == "private" and max(p[4], p[5]) <= level] or options
        if not options:
            options = [PRODUCTS[0]]
        # public products dominate; private ones go to qualified customers
        weights = [(p, 2 if p[2] == "private" else 4) for p in options]
        product = weighted(weights)
        if (not unsuitable and product[1] in ("mutual_fund", "insurance") and level > 1
                and RNG.random() < P_CUSTOMER_INITIATED):
            riskier = [p for p in PRODUCTS if p[1] == product[1] and max(p[4], p[5]) == level + 1]
            if riskier:  # the customer insists on a riskier product and signs the special warning
                product = RNG.choice(riskier)
                customer_initiated = True
                warning_signed = RNG.random() < 0.9
    pid, ptype, offering, asset_class, issuer, bank = product
    shelf = "approved"
    if pid in SUSPENDED and day >= SUSPENDED[pid]:
        shelf = "suspended"
    if forced.get("unlisted"):
        pid = f"XT-{RNG.choice(['TRUST', 'PE', 'P2P'])}-{RNG.randint(1000, 9999)}"
        ptype, offering, asset_class, issuer, bank = "trust_plan", "public", "fixed_income", 3, 3
        shelf = "unlisted"
    channel = forced.get("channel") or weighted(
        [("branch", 45), ("mobile", 28), ("online", 14), ("self_service", 6), ("phone", 7)])
    if offering == "private" and channel in ("self_service", "phone"):
        channel = "branch"
    fields = {
        "customer": customer_json(c),
        "product_id": pid,
        "product_type": ptype,
        "offering": offering,
        "asset_class": asset_class,
        "issuer_risk": issuer,
        "bank_risk": bank,
        "amount": money(forced.get("amount") or sale_amount(c, offering, asset_class,
                                                             bad(rm, P_PRIVATE_BELOW_MIN))),
        "channel": channel,
        "shelf_status": shelf,
    }
    if channel == "branch" and not forced.get("unlisted") and not bad(rm, P_NO_RECORDING):
        fields["recording_id"] = f"REC-{at.strftime('%Y%m%d')}-{RNG.randint(10000, 99999)}"
    disclosures = ["risk_disclosure"]
    if not bad(rm, P_NO_MANUAL) and not forced.get("unlisted"):
        disclosures.append("product_manual")
    if ptype == "wm_company" and not bad(rm, P_NO_RIGHTS_NOTICE):
        disclosures.append("investor_rights")
    if customer_initiated and warning_signed:
        disclosures.append("special_warning")
    fields["disclosures"] = disclosures
    if offering == "private" and not bad(rm, P_NO_COOLING_OFF):
        fields["cooling_off_hours"] = RNG.choice([24, 24, 24, 48, 72])
    elif offering == "private" and RNG.random() < 0.5:
        fields["cooling_off_hours"] = 12
    fields["customer_initiated"] = customer_initiated
    fields["special_warning_signed"] = warning_signed
    sale_id = emit(rm, "product_sale", "S", at, fields)
    if sale_id and offering == "private":
        cooling_off_callback(rm, c, at, fields.get("cooling_off_hours", 24))
    return sale_id


def call_fields(c, purpose, recorded=True):
    return {"customer_id": c["id"], "purpose": purpose, "opted_out": c["opted_out"], "recorded": recorded}


def cooling_off_callback(rm, c, sale_at, hours):
    r = RNG.random() / rm["risk"]  # careless RMs miss deadlines more often
    if r < P_CALLBACK_NEVER:
        return
    if r < P_CALLBACK_NEVER + P_CALLBACK_EARLY:  # called inside the cooling-off period ...
        emit(rm, "customer_call", "K", sale_at + dt.timedelta(hours=RNG.uniform(3, 20)),
             call_fields(c, "cooling_off_callback"))
    if r < P_CALLBACK_NEVER + P_CALLBACK_EARLY + P_CALLBACK_LATE:
        delay = dt.timedelta(days=RNG.uniform(5.2, 9))
    else:
        delay = dt.timedelta(hours=max(hours, 24) + RNG.uniform(0.5, 72))
        delay = min(delay, dt.timedelta(days=4, hours=23))
    at = sale_at + delay
    if at.hour < 9 or at.hour >= 19:
        at = at.replace(hour=RNG.randint(9, 18))
        if at < sale_at + dt.timedelta(hours=max(hours, 24)):
            at += dt.timedelta(days=1)
    emit(rm, "customer_call", "K", at, call_fields(c, "cooling_off_callback", not bad(rm, P_UNRECORDED_CALL)))


def upgrade_push(rm, day, at):
    """Re-assess a customer upwards, then sell the riskier product a day or two later."""
    candidates = [c for c in rm["customers"] if c["segment"] != "corporate" and 2 <= c["risk_level"] <= 3]
    if not candidates:
        return
    c = RNG.choice(candidates)
    target = c["risk_level"] + RNG.choice([1, 1, 2])
    target = min(target, 5)
    risk_assessment(rm, c, at, new_level=target)
    products = [p for p in eligible_products(rm, c, day, target)
                if max(p[4], p[5]) == target and p[2] == "public"]
    if products:
        later = day + dt.timedelta(days=RNG.choice([1, 2]))
        plan(rm, later, ("sale", c, RNG.choice(products)))


def split_sale(rm, day, at):
    """A ticket of CNY 5m or more split into two same-day sales of one product."""
    wealthy = [c for c in rm["customers"] if c["segment"] in ("private_banking", "corporate")]
    if not wealthy:
        return
    c = RNG.choice(wealthy)
    product = RNG.choice([p for p in PRODUCTS if p[2] == "public" and max(p[4], p[5]) <= min(c["risk_level"], 3)])
    total = round_amount(RNG.uniform(5_000_000, 8_000_000), 100_000)
    first = round_amount(total * RNG.uniform(0.4, 0.6), 100_000)
    product_sale(rm, day, at, c=c, product=product, forced={"amount": first})
    product_sale(rm, day, at + dt.timedelta(minutes=RNG.randint(20, 240)), c=c, product=product,
                 forced={"amount": total - first})


def marketing_call(rm, day):
    if bad(rm, P_NIGHT_CALL):
        at = RNG.choice([at_time(day, 7, 7.99), at_time(day, 21, 22)])
    else:
        at = at_time(day, 9, 20.5)
    pool = rm["customers"]
    if not bad(rm, P_OPTED_OUT_CALL):
        pool = [c for c in pool if not c["opted_out"]] or pool
    else:
        pool = [c for c in pool if c["opted_out"]] or pool
    c = RNG.choice(pool)
    emit(rm, "customer_call", "K", at, call_fields(c, "marketing", not bad(rm, P_UNRECORDED_CALL)))


def service_call(rm, day):
    c = RNG.choice(rm["customers"])
    emit(rm, "customer_call", "K", at_time(day, 8.5, 21.5), call_fields(c, "service", RNG.random() < 0.7))


def reassessment(rm, day):
    c = RNG.choice([c for c in rm["customers"] if c["segment"] != "corporate"] or rm["customers"])
    at = at_time(day, 9, 17)
    proxy = bad(rm, P_PROXY_ASSESSMENT)
    risk_assessment(rm, c, at, completed_by="rm" if proxy else "customer")
    if bad(rm, P_REPEAT_ASSESSMENT):  # re-taken the same day for a "better" result
        risk_assessment(rm, c, at + dt.timedelta(minutes=RNG.randint(15, 180)),
                        new_level=min(5, c["risk_level"] + 1))


def gift(rm, day):
    giver_type = weighted([("customer", 75), ("supplier", 15), ("colleague", 5), ("other", 5)])
    if giver_type == "customer":
        c = RNG.choice(rm["customers"][:12])  # the RM's closest customers give most gifts
        giver = c["id"]
    else:
        giver = {"supplier": RNG.choice(["ACME-Insurance", "Huaxia-Fund-Sales", "Everbright-Trust"]),
                 "colleague": "STAFF-" + str(RNG.randint(1000, 9999)),
                 "other": "P-" + str(RNG.randint(100, 999))}[giver_type]
        c = None
    if bad(rm, P_CASH_GIFT):
        kind = weighted([("red_packet", 50), ("cash", 20), ("prepaid_card", 25), ("securities", 5)])
    else:
        kind = weighted([("goods", 60), ("hospitality", 33), ("travel", 7)])
    if kind == "hospitality":
        at = at_time(day, 18, 21)
        value = round_amount(RNG.uniform(80, 600), 1)
    elif kind == "travel":
        at = at_time(day, 9, 18)
        value = round_amount(RNG.uniform(800, 3000), 10)
    else:
        at = at_time(day, 9, 18)
        value = round_amount(RNG.lognormvariate(5.4, 0.5), 1)  # median about CNY 220
        if kind in ("cash", "red_packet"):
            value = RNG.choice([200, 288, 500, 666, 888, 1000])
    pending = c is not None and bad(rm, P_PENDING_DECISION_GIFT)
    gift_id = emit(rm, "gift_received", "G", at, {
        "giver": giver, "giver_type": giver_type, "kind": kind, "value": money(value),
        "pending_decision": pending})
    if gift_id is None or value < 200:
        return
    r = RNG.random() / rm["risk"]
    if r < P_GIFT_NEVER_REGISTERED:
        return
    if r < P_GIFT_NEVER_REGISTERED + P_GIFT_REGISTERED_LATE:
        reg_at = office_hours(at + dt.timedelta(days=RNG.uniform(30.5, 60)))
    else:
        reg_at = office_hours(at + dt.timedelta(days=RNG.uniform(0.1, 29.0)))
    declared = value
    if bad(rm, P_UNDERDECLARED):
        declared = round_amount(value * RNG.uniform(0.3, 0.8), 1)
    emit(rm, "gift_registered", "GR", reg_at, {"gift": gift_id, "declared_value": money(declared)})


def loan(rm, day):
    at = at_time(day, 9, 17.5)
    limit = AUTHORITY[rm["grade"]]
    security = weighted([("mortgage", 45), ("guaranteed", 25), ("pledge", 15), ("unsecured", 15)])
    if RNG.random() < P_RELATED_LOAN:
        borrower = rm["related_borrower"]
        security = "unsecured" if bad(rm, P_RELATED_UNSECURED) else weighted(
            [("mortgage", 60), ("guaranteed", 25), ("pledge", 15)])
        waived = any(p == borrower and (day - d).days <= 365 for p, d in rm["waived"])
        if not waived and not bad(rm, 1 - P_WAIVER_BEFORE_RELATED_LOAN):
            waiver_day = day - dt.timedelta(days=RNG.randint(3, 40))
            if waiver_day >= START:
                approved_by = "branch_manager" if RNG.random() < P_WAIVER_BY_BRANCH_MANAGER else "compliance"
                emit(rm, "conflict_waiver", "W", at_time(waiver_day, 9, 17),
                     {"party": borrower, "scope": "credit", "approved_by": approved_by})
                if approved_by == "compliance":
                    rm["waived"].append((borrower, waiver_day))
    else:
        borrower = RNG.choice(rm["borrowers"])
    if bad(rm, P_LOAN_OVER_AUTHORITY):
        amount = round_amount(limit * RNG.uniform(1.05, 1.6), 10_000)
    else:
        amount = round_amount(min(limit, RNG.lognormvariate(0, 0.9) * limit / 6), 10_000)
    emit(rm, "loan_approval", "L", at, {"borrower": borrower, "amount": money(amount), "security": security})


def transfer(rm, day):
    at = at_time(day, 8, 22)
    if RNG.random() < P_CUSTOMER_TRANSFER:
        c = RNG.choice(rm["customers"])
        if bad(rm, P_PRIVATE_LENDING):
            purpose = RNG.choice(["loan", "repayment"])
            amount = round_amount(RNG.uniform(5_000, 200_000), 1_000)
        elif RNG.random() < P_LARGE_CUSTOMER_TRANSFER:
            purpose = RNG.choice(["purchase", "other"])
            amount = round_amount(RNG.uniform(50_000, 300_000), 1_000)
        else:
            purpose = RNG.choice(["purchase", "other"])
            amount = round_amount(RNG.uniform(200, 20_000), 10)
        emit(rm, "staff_fund_transfer", "T", at, {
            "counterparty": c["id"], "counterparty_is_customer": True,
            "direction": RNG.choice(["incoming", "outgoing"]), "amount": money(amount), "purpose": purpose})
    else:
        emit(rm, "staff_fund_transfer", "T", at, {
            "counterparty": "P-" + str(RNG.randint(100, 999)), "counterparty_is_customer": False,
            "direction": RNG.choice(["incoming", "outgoing"]),
            "amount": money(round_amount(RNG.lognormvariate(9, 1.2), 10)),
            "purpose": weighted([("family", 70), ("purchase", 20), ("other", 10)])})


def complaint(rm, day):
    c = RNG.choice(rm["customers"])
    at = at_time(day, 9, 18)
    urgent = RNG.random() < P_URGENT_COMPLAINT
    source = RNG.choice(["regulator", "media"]) if urgent else weighted(
        [("branch", 40), ("phone", 35), ("online", 25)])
    category = weighted([("service", 40), ("fees", 25), ("mis_selling", 15), ("other", 20)])
    complaint_id = emit(rm, "complaint_received", "Q", at,
                        {"customer_id": c["id"], "source": source, "category": category})
    if complaint_id is None:
        return
    deadline = dt.timedelta(hours=2 if urgent else 24)
    r = RNG.random() / rm["risk"]
    if r < P_COMPLAINT_NEVER:
        return
    if r < P_COMPLAINT_NEVER + P_COMPLAINT_LATE:
        delay = office_hours(at + deadline + dt.timedelta(minutes=RNG.randint(20, 60 * 48))) - at
    else:
        delay = dt.timedelta(seconds=RNG.randint(300, int(min(deadline, dt.timedelta(hours=4)).total_seconds()) - 60))
        if not urgent and RNG.random() < 0.25:  # forwarded first thing the next morning
            next_morning = at.replace(hour=8, minute=30, second=0) + dt.timedelta(days=1, minutes=RNG.randint(0, 25))
            delay = next_morning - at
    emit(rm, "complaint_forwarded", "QF", at + delay, {"complaint": complaint_id})
    if RNG.random() < 0.6:  # the RM follows up with the customer
        emit(rm, "customer_call", "K", office_hours(at + delay + dt.timedelta(days=RNG.uniform(1, 6))),
             call_fields(c, "complaint_followup"))


def sales_waiver(rm):
    """Compliance pre-approves sales to an RM's relative for some RMs."""
    related_customers = [p for p in rm["related_parties"] if p.startswith("C")]
    if related_customers and RNG.random() < 0.5:
        day = START + dt.timedelta(days=RNG.randint(0, 20))
        emit(rm, "conflict_waiver", "W", at_time(day, 9, 17),
             {"party": related_customers[0], "scope": "sales", "approved_by": "compliance"})


# ------------------------------------------------------------------ simulation

def simulate_rm(rm):
    sales_waiver(rm)
    day = START
    while day <= END:
        f = activity_factor(day)
        days_to_festival = (SPRING_FESTIVAL - day).days
        gift_factor = 3.0 if 0 <= days_to_festival <= 21 else 1.0
        for kind, c, product in rm["planned"].pop(day, []):
            if kind == "sale":
                product_sale(rm, day, at_time(day, 9.5, 17), c=c, product=product)
        n_sales = (1 if RNG.random() < RATE_SALE * f else 0) + (1 if RNG.random() < RATE_SALE * f * 0.25 else 0)
        for _ in range(n_sales):
            at = at_time(day, 9.25, 17.5)
            r = RNG.random() / rm["risk"]
            if r < P_UNLISTED:
                product_sale(rm, day, at, forced={"unlisted": True, "channel": RNG.choice(["phone", "branch"])})
            elif r < P_UNLISTED + P_UPGRADE_PUSH:
                upgrade_push(rm, day, at)
            elif r < P_UNLISTED + P_UPGRADE_PUSH + P_SPLIT_SALE:
                split_sale(rm, day, at)
            else:
                c = RNG.choice(rm["customers"])
                product = None
                if day >= SUSPENDED["BW-FI-2025-044"] and c["risk_level"] >= 2 and RNG.random() < 0.008:
                    product = next(p for p in PRODUCTS if p[0] == "BW-FI-2025-044")
                sale_id = product_sale(rm, day, at, c=c, product=product)
                if sale_id and RNG.random() < 0.04:  # a customer who buys often comes back within days
                    plan(rm, day + dt.timedelta(days=RNG.randint(1, 6)), ("sale", c, None))
        if RNG.random() < RATE_MARKETING_CALL * f:
            marketing_call(rm, day)
        if RNG.random() < RATE_SERVICE_CALL * f:
            service_call(rm, day)
        if RNG.random() < RATE_REASSESSMENT * f:
            reassessment(rm, day)
        if RNG.random() < RATE_GIFT * f * gift_factor:
            gift(rm, day)
        if RNG.random() < RATE_LOAN * f:
            loan(rm, day)
        if RNG.random() < RATE_COMPLAINT * f:
            complaint(rm, day)
        if RNG.random() < RATE_TRANSFER * f:
            transfer(rm, day)
        day += dt.timedelta(days=1)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out_path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "events.jsonl")
    rms = [make_rm(i) for i in range(N_RMS)]
    for rm in rms:
        simulate_rm(rm)
    events = [(at, rm_index, n, event)
              for rm_index, rm in enumerate(rms)
              for n, (at, event) in enumerate(rm["events"])]
    events.sort(key=lambda e: (e[0], e[1], e[2]))
    # Number the actions in time order, then point registrations and forwardings at the new ids.
    renamed = {}
    for _, _, _, event in events:
        renamed[event["id"]] = IDS.next(event["id"].split("-")[0])
    for _, _, _, event in events:
        event["id"] = renamed[event["id"]]
        for ref in ("gift", "complaint"):
            if ref in event:
                event[ref] = renamed[event[ref]]
    counts = {}
    with open(out_path, "w", encoding="utf-8") as f:
        for _, _, _, event in events:
            f.write(json.dumps(event, ensure_ascii=False, separators=(",", ":")) + "\n")
            counts[event["type"]] = counts.get(event["type"], 0) + 1
    print(f"wrote {len(events)} events to {out_path}", file=sys.stderr)
    for kind in sorted(counts):
        print(f"  {kind:22} {counts[kind]:5}", file=sys.stderr)


if __name__ == "__main__":
    main()
