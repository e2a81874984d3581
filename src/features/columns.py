"""Column names of every canonical table and derived contract, stated once.

See DESIGN.md ("Canonical tables", "Derived contracts"). Everything else in retail-brain
imports these names; nothing spells a column as a string literal in the middle of the code.
"""

from __future__ import annotations

# --- transactions -----------------------------------------------------------------------------
ORDER_ID = "order_id"
LINE = "line"
TS = "ts"
CUSTOMER_ID = "customer_id"  # One-ID; null = anonymous
CHANNEL = "channel"
LOCATION_ID = "location_id"
SKU = "sku"
QTY = "qty"  # negative = return
UNIT_PRICE = "unit_price"
PROMO = "promo"
# additions to the DESIGN.md list (see its "Canonical tables" notes)
LINE_TYPE = "line_type"  # sale | return | adjustment
LINKED_ORDER_ID = "linked_order_id"  # for returns: the sale they reverse, where it could be found
SOURCE = "source"  # which source system/file the line came from

TRANSACTIONS = [
    ORDER_ID,
    LINE,
    TS,
    CUSTOMER_ID,
    CHANNEL,
    LOCATION_ID,
    SKU,
    QTY,
    UNIT_PRICE,
    PROMO,
    LINE_TYPE,
    LINKED_ORDER_ID,
    SOURCE,
]
TRANSACTIONS_KEY = [ORDER_ID, LINE]

LINE_SALE = "sale"
LINE_RETURN = "return"
LINE_ADJUSTMENT = "adjustment"

# --- customers + identity map -----------------------------------------------------------------
FIRST_SEEN = "first_seen"
LAST_SEEN = "last_seen"
COUNTRY = "country"
N_SOURCE_IDS = "n_source_ids"
CUSTOMERS = [CUSTOMER_ID, FIRST_SEEN, LAST_SEEN, COUNTRY, N_SOURCE_IDS]

SOURCE_ID = "source_id"
MATCH_RULE = "match_rule"  # why this source id belongs to its customer
IDENTITY_MAP = [SOURCE, SOURCE_ID, CUSTOMER_ID, MATCH_RULE]

# raw identity attributes (inputs of One-ID; only hashes are ever written)
MEMBER_ID = "member_id"
EMAIL = "email"
PHONE = "phone"
EMAIL_HASH = "email_hash"
PHONE_HASH = "phone_hash"

# --- products ---------------------------------------------------------------------------------
NAME = "name"
CATEGORY = "category"
SUBCATEGORY = "subcategory"
UNIT_COST = "unit_cost"
IS_MERCHANDISE = "is_merchandise"
PRODUCTS = [SKU, NAME, CATEGORY, SUBCATEGORY, UNIT_COST, IS_MERCHANDISE]
NON_MERCHANDISE = "non_merchandise"  # category of postage, fees, adjustments, tests ...

# --- locations --------------------------------------------------------------------------------
LOCATION_TYPE = "type"  # store | warehouse | online | marketplace
REGION = "region"
LEAD_TIME_DAYS = "lead_time_days"
# routing attributes (issue 16; null where a brand does not map them): where a node is, whether
# it ships online orders, how many it can pick a day and what handling costs
LAT = "lat"
LON = "lon"
SHIP_FROM = "ship_from"
PICK_CAPACITY = "pick_capacity"
HANDLING_PER_ORDER = "handling_per_order"
HANDLING_PER_UNIT = "handling_per_unit"
ROUTING_ATTRIBUTES = [LAT, LON, SHIP_FROM, PICK_CAPACITY, HANDLING_PER_ORDER, HANDLING_PER_UNIT]
LOCATIONS = [LOCATION_ID, LOCATION_TYPE, REGION, LEAD_TIME_DAYS, *ROUTING_ATTRIBUTES]

# --- inventory --------------------------------------------------------------------------------
AS_OF = "as_of"
ON_HAND = "on_hand"
ON_ORDER = "on_order"
INVENTORY = [LOCATION_ID, SKU, AS_OF, ON_HAND, ON_ORDER]

# --- events (engagement: views, carts, wishlists, coupons, campaign exposures) ---------------------
EVENT = "event"
EVENTS = [CUSTOMER_ID, TS, EVENT, SKU, CHANNEL, SOURCE]  # customer_id is the One-ID
EVENTS_KEY = [CUSTOMER_ID, TS, EVENT]
# the canonical event names (an export's own labels map onto them by config: data.events.labels)
EVENT_VIEW = "view"
EVENT_CART = "add_to_cart"
EVENT_WISHLIST = "wishlist"
EVENT_COUPON = "coupon_redeemed"
EVENT_EXPOSURE = "campaign_exposure"
EVENT_TYPES = (EVENT_VIEW, EVENT_CART, EVENT_WISHLIST, EVENT_COUPON, EVENT_EXPOSURE)

# --- campaigns (what was sent, to whom, with which randomised holdout) -------------------------------
CAMPAIGN_ID = "campaign_id"
CAMPAIGN_TYPE = "type"  # e.g. win_back, newsletter, promotion (free text from the brand)
START = "start"
END = "end"
COST = "cost"  # total cost of the campaign in the sales currency; null = from cost_per_contact
CAMPAIGNS = [CAMPAIGN_ID, CAMPAIGN_TYPE, CHANNEL, START, END, COST, SOURCE]
GROUP = "group"  # treated | holdout
GROUP_TREATED = "treated"
GROUP_HOLDOUT = "holdout"
GROUPS = (GROUP_TREATED, GROUP_HOLDOUT)
CAMPAIGN_MEMBERS = [CAMPAIGN_ID, CUSTOMER_ID, GROUP, SOURCE]  # customer_id is the One-ID

# --- derived: demand panel (Nixtla long format) -------------------------------------------------
UNIQUE_ID = "unique_id"
DS = "ds"
Y = "y"
PRICE = "price"

# --- derived: interactions --------------------------------------------------------------------
WEIGHT = "weight"
INTERACTIONS = [CUSTOMER_ID, SKU, WEIGHT, TS]

# --- derived: RFM / lifecycle -----------------------------------------------------------------
RECENCY_DAYS = "recency_days"
FREQUENCY = "frequency"
MONETARY = "monetary"
R_SCORE = "r_score"
F_SCORE = "f_score"
M_SCORE = "m_score"
RFM_SCORE = "rfm_score"
LIFECYCLE = "lifecycle_stage"
RFM = [
    CUSTOMER_ID,
    RECENCY_DAYS,
    FREQUENCY,
    MONETARY,
    R_SCORE,
    F_SCORE,
    M_SCORE,
    RFM_SCORE,
    LIFECYCLE,
    FIRST_SEEN,
    LAST_SEEN,
]

# --- rejects report ---------------------------------------------------------------------------
REJECT_FILE = "source_file"
REJECT_ROW = "source_row"  # 0-based row number in the source file
REJECT_COLUMN = "column"
REJECT_RULE = "rule"
REJECT_VALUE = "value"
REJECTS = [REJECT_FILE, REJECT_ROW, REJECT_COLUMN, REJECT_RULE, REJECT_VALUE]

# table name -> column list, in the order written to Parquet
TABLES = {
    "transactions": TRANSACTIONS,
    "customers": CUSTOMERS,
    "identity_map": IDENTITY_MAP,
    "products": PRODUCTS,
    "locations": LOCATIONS,
    "inventory": INVENTORY,
    "events": EVENTS,
    "campaigns": CAMPAIGNS,
    "campaign_members": CAMPAIGN_MEMBERS,
}
# tables a brand may not have: read as empty when a folder written before them lacks them
OPTIONAL_TABLES = ("events", "campaigns", "campaign_members")
