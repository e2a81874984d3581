"""One-ID: one customer id across channels and systems.

A customer shows up as several *source ids* (web account, app user, loyalty card at the till,
marketplace buyer). Source ids are linked by deterministic rules, in this order:

1. the same **member id** (the brand's loyalty/CRM key);
2. the same **email**, normalised (trimmed, lower-case, ``+tag`` removed, dots removed for
   Gmail) and hashed;
3. the same **phone**, normalised to digits with a country code and hashed.

Links are transitive (web~app by email, app~store by phone => web~store): a union-find over the
source ids merges them. Raw emails and phones never leave this module; only salted SHA-256 hashes
are kept. The report says how many source ids became one customer and by which rule.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from src.features import columns as C

log = logging.getLogger(__name__)
RULES = (C.MEMBER_ID, C.EMAIL_HASH, C.PHONE_HASH)
SALT_ENV = "RETAIL_BRAIN_ID_SALT"
SALT_FILE_ENV = "RETAIL_BRAIN_ID_SALT_FILE"
DEFAULT_SALT_FILE = Path.home() / ".config" / "retail-brain" / "identity_salt"


class SaltError(ValueError):
    """The identity salt is unusable (a salt file that cannot be read or written)."""


def identity_salt(environ=None) -> str:
    """The salt of the email / phone hashes: a secret, so it never enters a config or a log.

    ``RETAIL_BRAIN_ID_SALT`` when set (and not empty); else the salt file
    (``RETAIL_BRAIN_ID_SALT_FILE``, default ``~/.config/retail-brain/identity_salt``), created
    once with a random salt, readable by its owner only. An empty salt is never used: hashes
    of emails and phones without one are a lookup table away from the addresses.
    """
    env = os.environ if environ is None else environ
    value = env.get(SALT_ENV, "")
    if value.strip():
        return value
    path = Path(env.get(SALT_FILE_ENV) or DEFAULT_SALT_FILE).expanduser()
    try:
        if path.is_file():
            salt = path.read_text().strip()
            if not salt:
                raise SaltError(f"identity salt file {path} is empty; delete it or set {SALT_ENV}")
            return salt
        path.parent.mkdir(parents=True, exist_ok=True)
        salt = secrets.token_hex(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(salt + "\n")
    except FileExistsError:  # another process created it first: use theirs
        return path.read_text().strip()
    except OSError as err:
        raise SaltError(
            f"no identity salt: {SALT_ENV} is not set and the salt file {path} cannot be "
            f"used ({err}); set {SALT_ENV} or {SALT_FILE_ENV}"
        ) from err
    log.warning(
        "generated a new identity salt in %s (owner-only); keep it with the data — the "
        "email/phone hashes, and so One-ID merges across ingests, depend on it",
        path,
    )
    return salt


SINGLE = "single"  # a source id linked to no other


class UnionFind:
    """Disjoint sets over ``0..n-1`` with path halving and union by size."""

    def __init__(self, n: int):
        self.parent = np.arange(n)
        self.size = np.ones(n, dtype=np.int64)

    def find(self, i: int) -> int:
        parent = self.parent
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return int(i)

    def union(self, a: int, b: int) -> bool:
        """Merge the sets of ``a`` and ``b``; True if they were apart."""
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return False
        if self.size[ra] < self.size[rb]:
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.size[ra] += self.size[rb]
        return True

    def roots(self) -> np.ndarray:
        return np.array([self.find(i) for i in range(len(self.parent))])


# --- normalisation ----------------------------------------------------------------------------


def normalise_email(email: pd.Series) -> pd.Series:
    e = email.astype("string").str.strip().str.lower()
    e = e.where(e.str.contains("@", regex=False))
    parts = e.str.split("@", n=1)
    local = parts.str[0].str.replace(r"\+.*$", "", regex=True)
    domain = parts.str[1].replace({"googlemail.com": "gmail.com"})
    local = local.mask(domain == "gmail.com", local.str.replace(".", "", regex=False))
    return (local + "@" + domain).mask(local.isna() | (local == ""))


def normalise_phone(phone: pd.Series, default_country_code: str = "44") -> pd.Series:
    d = phone.astype("string").str.replace(r"\D", "", regex=True)
    d = d.str.replace(r"^00", "", regex=True)
    national = d.str.startswith("0").fillna(False)
    d = d.mask(national, default_country_code + d.str[1:])
    return d.mask(d.str.len().fillna(0) < 8)


def hash_values(values: pd.Series, salt: str = "") -> pd.Series:
    uniq = values.dropna().unique()
    digests = {v: hashlib.sha256(f"{salt}{v}".encode()).hexdigest() for v in uniq}
    return values.map(digests).astype(object)


def identity_records(
    lines: pd.DataFrame, salt: str = "", default_country_code: str = "44"
) -> pd.DataFrame:
    """Source ids with their (hashed) identity attributes, from canonical lines.

    ``lines`` has ``source`` and ``customer_id`` (the source's own id) and, where the source
    had them, ``member_id``, ``email`` and ``phone``. Only hashes come out.
    """
    known = lines[lines[C.CUSTOMER_ID].notna()]
    cols = [c for c in (C.MEMBER_ID, C.EMAIL, C.PHONE) if c in known]
    rec = known[[C.SOURCE, C.CUSTOMER_ID, *cols]].drop_duplicates()
    rec = rec.rename(columns={C.CUSTOMER_ID: C.SOURCE_ID})
    out = rec[[C.SOURCE, C.SOURCE_ID]].copy()
    out[C.MEMBER_ID] = rec[C.MEMBER_ID].astype(object) if C.MEMBER_ID in rec else None
    out[C.EMAIL_HASH] = hash_values(normalise_email(rec[C.EMAIL]), salt) if C.EMAIL in rec else None
    out[C.PHONE_HASH] = (
        hash_values(normalise_phone(rec[C.PHONE], default_country_code), salt)
        if C.PHONE in rec
        else None
    )
    return out.reset_index(drop=True)


# --- resolution -------------------------------------------------------------------------------


@dataclass
class IdentityReport:
    n_source_ids: int
    n_customers: int
    n_merged_customers: int  # customers with more than one source id
    n_source_ids_merged: int  # source ids that belong to such customers
    merges_by_rule: dict[str, int]  # unions that joined two separate groups, by rule
    source_ids_per_customer: dict[int, int]  # histogram: size -> number of customers
    by_source: dict[str, int] = field(default_factory=dict)


def resolve(records: pd.DataFrame) -> tuple[pd.DataFrame, IdentityReport]:
    """Link source ids into customers.

    ``records``: ``source, source_id`` and any of ``member_id, email_hash, phone_hash``
    (one or more rows per source id). Returns the identity map
    (``source, source_id, customer_id, match_rule``) and the report.
    """
    keys = records[[C.SOURCE, C.SOURCE_ID]].drop_duplicates().reset_index(drop=True)
    node = pd.Series(np.arange(len(keys)), index=pd.MultiIndex.from_frame(keys))
    rec = records.copy()
    rec["_node"] = node.reindex(pd.MultiIndex.from_frame(rec[[C.SOURCE, C.SOURCE_ID]])).to_numpy()
    uf = UnionFind(len(keys))
    merges: Counter[str] = Counter()
    rules_of_node: list[set[str]] = [set() for _ in range(len(keys))]
    for rule in RULES:
        if rule not in rec:
            continue
        linked = rec[["_node", rule]].dropna().drop_duplicates()
        linked = linked[linked.groupby(rule)["_node"].transform("nunique") > 1]
        for _, group in linked.groupby(rule, sort=False)["_node"]:
            nodes = group.to_numpy()
            for n in nodes:
                rules_of_node[n].add(rule)
            for other in nodes[1:]:
                if uf.union(int(nodes[0]), int(other)):
                    merges[rule] += 1
    roots = uf.roots()

    member = (
        rec.dropna(subset=[C.MEMBER_ID]).groupby("_node")[C.MEMBER_ID].min()
        if C.MEMBER_ID in rec
        else pd.Series(dtype=object)
    )
    label = keys[C.SOURCE] + ":" + keys[C.SOURCE_ID].astype(str)
    frame = pd.DataFrame({"root": roots, "member": pd.Series(member).reindex(range(len(keys)))})
    frame["label"] = label
    # customer id = the smallest member id of the group, else its smallest source:id label
    by_member = frame.dropna(subset=["member"]).groupby("root")["member"].min()
    by_label = frame.groupby("root")["label"].min()
    customer = by_label.copy()
    customer.loc[by_member.index] = by_member
    identity_map = keys.copy()
    identity_map[C.CUSTOMER_ID] = customer.reindex(roots).to_numpy()
    identity_map[C.MATCH_RULE] = [
        "+".join(r.replace("_hash", "") for r in RULES if r in rs) or SINGLE for rs in rules_of_node
    ]

    sizes = pd.Series(roots).value_counts()
    report = IdentityReport(
        n_source_ids=len(keys),
        n_customers=int(len(sizes)),
        n_merged_customers=int((sizes > 1).sum()),
        n_source_ids_merged=int(sizes[sizes > 1].sum()),
        merges_by_rule={r.replace("_hash", ""): merges[r] for r in RULES if merges[r]},
        source_ids_per_customer={
            int(k): int(v) for k, v in sizes.value_counts().sort_index().items()
        },
        by_source={str(k): int(v) for k, v in keys[C.SOURCE].value_counts().items()},
    )
    return identity_map[C.IDENTITY_MAP], report


def merge_precision_recall(predicted: pd.Series, truth: pd.Series) -> tuple[float, float]:
    """Pairwise precision and recall of a clustering against the true one.

    Both series are aligned labels of the same source ids. A pair of source ids is a predicted
    merge when they share a predicted label, a true merge when they share a true label.
    """

    def pairs(counts: pd.Series) -> int:
        return int((counts * (counts - 1) // 2).sum())

    joint = pd.DataFrame({"p": predicted.to_numpy(), "t": truth.to_numpy()})
    tp = pairs(joint.value_counts())
    predicted_pairs = pairs(joint["p"].value_counts())
    true_pairs = pairs(joint["t"].value_counts())
    precision = tp / predicted_pairs if predicted_pairs else 1.0
    recall = tp / true_pairs if true_pairs else 1.0
    return precision, recall
