"""The products table: names, non-merchandise classification and a category hierarchy.

Non-merchandise codes (postage, fees, manual adjustments, vouchers, test items ...) are classified,
never dropped: they stay in ``transactions`` and are marked in ``products`` with
``category = "non_merchandise"``, ``is_merchandise = False`` and a ``subcategory`` that says
which kind. The rules are regular expressions over the SKU code (full match, case-insensitive),
given by config; the defaults cover the UCI Online Retail codes.

Sources without a category get one from the product name: the last word of the name is the
product type in most retail catalogues ("WHITE HANGING HEART T-LIGHT HOLDER" -> HOLDER); types
shared by fewer than ``min_skus_per_category`` SKUs are grouped as OTHER. This is a heuristic,
used only where the source has no category column.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import pandas as pd

from src.features import columns as C

# pattern (full match on the SKU, case-insensitive) -> subcategory of non-merchandise.
# These are UCI Online Retail's codes (B = bad debt, D = discount, M = manual ...): the UCI
# adapter passes them; another brand's SKU "B" or "D" is a product unless its own adapter or
# config (``data.non_merchandise``) says otherwise.
UCI_NON_MERCHANDISE: dict[str, str] = {
    r"POST|DOT|C2|C3": "postage",
    r"BANK CHARGES|AMAZONFEE|CRUK": "fee",
    r"M|ADJUST\d*|B|PADS": "adjustment",
    r"D": "discount",
    r"S": "samples",
    r"GIFT|gift_\d+_\d+": "gift_voucher",
    r"TEST\d*": "test",
}
OTHER = "OTHER"
# words that end a name without naming the product type (colours, sizes, styles)
NOT_A_TYPE = frozenset(
    [
        "PINK",
        "BLUE",
        "RED",
        "GREEN",
        "WHITE",
        "BLACK",
        "IVORY",
        "CREAM",
        "GOLD",
        "SILVER",
        "PURPLE",
        "ORANGE",
        "YELLOW",
        "BROWN",
        "GREY",
        "LARGE",
        "SMALL",
        "MEDIUM",
        "MINI",
        "JUMBO",
        "DESIGN",
        "DESIGNS",
        "ASSORTED",
        "VINTAGE",
        "RETROSPOT",
        "SPOT",
        "SPOTS",
        "SET",
        "COLOUR",
        "COLOURS",
        "FLOWER",
        "FLOWERS",
        "HEART",
        "HEARTS",
        "STAR",
        "STARS",
        "POLKADOT",
        "PAISLEY",
    ]
)


def non_merchandise_kind(skus: pd.Series, rules: Mapping[str, str]) -> pd.Series:
    """Subcategory of each SKU that is non-merchandise, else null."""
    compiled = [(re.compile(p, re.IGNORECASE), kind) for p, kind in rules.items()]
    uniq = pd.Series(pd.unique(skus.dropna()))

    def kind_of(code: str) -> str | None:
        for pattern, kind in compiled:
            if pattern.fullmatch(code):
                return kind
        return None

    kinds = dict(zip(uniq, uniq.map(kind_of), strict=True))
    return skus.map(kinds)


def product_type(names: pd.Series) -> pd.Series:
    """Last alphabetic word of a product name, upper-case ('... T-LIGHT HOLDER' -> 'HOLDER')."""
    words = names.astype("string").str.upper().str.findall(r"[A-Z][A-Z']+")

    def last_type_word(ws) -> str | None:
        if not isinstance(ws, list):
            return None
        for w in reversed(ws):
            if w not in NOT_A_TYPE:
                # fold simple plurals: CANDLES -> CANDLE (not GLASS, not BOX)
                return w[:-1] if w.endswith("S") and not w.endswith("SS") and len(w) > 3 else w
        return None

    return words.map(last_type_word)


def build_products(
    lines: pd.DataFrame,
    non_merchandise: Mapping[str, str] | None = None,
    min_skus_per_category: int = 10,
) -> pd.DataFrame:
    """One row per SKU seen in ``lines`` (name = its most frequent name); ``non_merchandise``:
    the source's own non-merchandise codes (none by default)."""
    rules = non_merchandise or {}
    skus = pd.Series(pd.unique(lines[C.SKU]), name=C.SKU)
    products = pd.DataFrame({C.SKU: skus})

    def most_frequent(column: str) -> pd.Series:
        if column not in lines:
            return pd.Series(dtype=object)
        pairs = lines[[C.SKU, column]].dropna()
        counts = pairs.groupby([C.SKU, column], observed=True).size().reset_index(name="n")
        counts = counts.sort_values([C.SKU, "n"], ascending=[True, False], kind="stable")
        return counts.drop_duplicates(C.SKU).set_index(C.SKU)[column]

    products[C.NAME] = products[C.SKU].map(most_frequent(C.NAME))
    given_cat = most_frequent(C.CATEGORY)
    given_sub = most_frequent(C.SUBCATEGORY)
    if len(given_cat):
        products[C.CATEGORY] = products[C.SKU].map(given_cat)
        products[C.SUBCATEGORY] = products[C.SKU].map(given_sub)
    else:
        kind = product_type(products[C.NAME])
        n_skus = kind.value_counts()
        common = kind.map(n_skus).fillna(0) >= min_skus_per_category
        products[C.CATEGORY] = kind.where(common, OTHER).fillna(OTHER)
        products[C.SUBCATEGORY] = None
    cost = lines.groupby(C.SKU)[C.UNIT_COST].median() if C.UNIT_COST in lines else pd.Series()
    products[C.UNIT_COST] = products[C.SKU].map(cost).astype("float64")

    nm = non_merchandise_kind(products[C.SKU], rules)
    products[C.IS_MERCHANDISE] = nm.isna()
    products[C.SUBCATEGORY] = products[C.SUBCATEGORY].astype(object)
    products.loc[nm.notna(), C.CATEGORY] = C.NON_MERCHANDISE
    products.loc[nm.notna(), C.SUBCATEGORY] = nm[nm.notna()]
    for column in (C.NAME, C.CATEGORY, C.SUBCATEGORY):
        products[column] = products[column].astype(object).where(products[column].notna(), None)
    return products[C.PRODUCTS].sort_values(C.SKU, ignore_index=True)
