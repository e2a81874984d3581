"""Campaigns and their members (treated / holdout) from any export, by configuration.

Two files per export, mapped like transactions and events (:class:`CampaignSpec`):

* the **campaigns** file — one row per campaign: ``campaign_id, type, channel, start, end, cost``
  (``cost`` optional: the measurement prices campaigns without one from
  ``measure.cost_per_contact``);
* the **members** file — one row per targeted customer: ``campaign_id, customer_id, group``
  where ``group`` says whether the customer was sent the campaign (``treated``) or held out at
  random (``holdout``); a brand's own labels map onto those two (``labels: {T: treated,
  C: holdout}``), and a file without a group column means every member was treated (no holdout:
  the measurement then falls back to a matched control, labelled observational).

Member ids are the export's own customer ids (``members.name`` is their source, e.g. the CRM or
the web shop); :func:`src.features.tables.assemble` resolves them into One-ID with the
transactions and events, so a targeted customer who never bought still counts — as a zero in the
outcome. Every rejected row is reported with its file, row, column and rule.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from src.features import columns as C
from src.features.transactions import check_mapping, config_blocks, open_mapped
from src.features.validation import (
    Rejects,
    normalise_ids,
    parse_numbers,
    parse_timestamps,
)

CAMPAIGN_REQUIRED = (C.CAMPAIGN_ID, C.START)
CAMPAIGN_OPTIONAL = (C.CAMPAIGN_TYPE, C.CHANNEL, C.END, C.COST)
MEMBER_REQUIRED = (C.CAMPAIGN_ID, C.CUSTOMER_ID)
MEMBER_OPTIONAL = (C.GROUP, C.MEMBER_ID, C.EMAIL, C.PHONE)


@dataclass
class MembersSpec:
    """How one members file maps onto ``campaign_members``."""

    name: str  # the source whose customer ids these are (One-ID resolves them)
    path: Path
    columns: dict[str, str]
    labels: dict[str, str] = field(default_factory=dict)  # export label -> treated | holdout
    sep: str | None = None
    encoding: str | None = None

    def __post_init__(self):
        self.path = Path(self.path)
        self.columns = {k: v for k, v in dict(self.columns).items() if v}
        self.labels = {str(k): str(v) for k, v in dict(self.labels or {}).items()}
        check_mapping(f"campaign members '{self.name}'", self.columns, MEMBER_REQUIRED,
                      MEMBER_OPTIONAL)  # fmt: skip
        bad = sorted(set(self.labels.values()) - set(C.GROUPS))
        if bad:
            raise ValueError(
                f"campaign members '{self.name}': labels map onto {bad}; groups are {list(C.GROUPS)}"
            )


@dataclass
class CampaignSpec:
    """How one campaigns file (and its members file) maps onto the canonical tables."""

    name: str
    path: Path
    columns: dict[str, str]
    members: MembersSpec
    channel: str = "unknown"  # used when no channel column is mapped
    campaign_type: str = "campaign"  # used when no type column is mapped
    ts_format: str | None = None
    dayfirst: bool | None = None
    decimal: str | None = None
    sep: str | None = None
    encoding: str | None = None

    def __post_init__(self):
        self.path = Path(self.path)
        self.columns = {k: v for k, v in dict(self.columns).items() if v}
        check_mapping(f"campaigns '{self.name}'", self.columns, CAMPAIGN_REQUIRED,
                      CAMPAIGN_OPTIONAL)  # fmt: skip


def canonical_campaigns(
    spec: CampaignSpec, rejects: Rejects, raw: pd.DataFrame | None = None
) -> pd.DataFrame:
    """The kept campaigns of one file (``source`` = the spec's name)."""
    file = str(spec.path)
    raw, col, reject, bad = open_mapped(spec, rejects, raw)
    out = pd.DataFrame(index=raw.index)
    cid = normalise_ids(raw[col[C.CAMPAIGN_ID]])[0]
    reject(
        cid.isna().to_numpy(), col[C.CAMPAIGN_ID], "missing_campaign_id", raw[col[C.CAMPAIGN_ID]]
    )
    out[C.CAMPAIGN_ID] = cid.astype(object)
    for key in (C.START, C.END):
        if key not in col:
            out[key] = pd.NaT
            continue
        ts = parse_timestamps(raw[col[key]], spec.ts_format, None, dayfirst=spec.dayfirst,
                              file=file, column=col[key])  # fmt: skip
        given = raw[col[key]].notna().to_numpy()
        reject(ts.isna().to_numpy() & given, col[key], "unparseable_timestamp", raw[col[key]])
        if key == C.START:
            reject(~given, col[key], "missing_timestamp", raw[col[key]])
        out[key] = ts.dt.normalize()
    if C.END in col:
        early = (out[C.END] < out[C.START]).to_numpy()
        reject(early, col[C.END], "end_before_start", raw[col[C.END]])
    out[C.END] = out[C.END].fillna(out[C.START])  # a one-day send when no end is given
    if C.COST in col:
        cost = parse_numbers(raw[col[C.COST]], spec.decimal)
        given = raw[col[C.COST]].notna().to_numpy()
        reject(cost.isna().to_numpy() & given, col[C.COST], "non_numeric_cost", raw[col[C.COST]])
        reject((cost < 0).fillna(False).to_numpy(), col[C.COST], "negative_cost",
               raw[col[C.COST]])  # fmt: skip
        out[C.COST] = cost.astype("float64")
    else:
        out[C.COST] = np.nan
    for key, default in ((C.CAMPAIGN_TYPE, spec.campaign_type), (C.CHANNEL, spec.channel)):
        out[key] = (
            raw[col[key]].astype("string").str.strip().replace("", pd.NA).fillna(default)
            .astype(object) if key in col else default
        )  # fmt: skip
    dup = (out[C.CAMPAIGN_ID].duplicated() & out[C.CAMPAIGN_ID].notna()).to_numpy()
    reject(dup, col[C.CAMPAIGN_ID], "duplicate_campaign_id", raw[col[C.CAMPAIGN_ID]])
    out[C.SOURCE] = spec.name
    return out[~bad].reset_index(drop=True)


def canonical_members(
    spec: MembersSpec,
    rejects: Rejects,
    known_campaigns: Sequence[str],
    raw: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The kept members of one file (``customer_id`` still the source's own id)."""
    raw, col, reject, bad = open_mapped(spec, rejects, raw)
    out = pd.DataFrame(index=raw.index)
    out[C.SOURCE] = spec.name
    camp = normalise_ids(raw[col[C.CAMPAIGN_ID]])[0]
    reject(camp.isna().to_numpy(), col[C.CAMPAIGN_ID], "missing_campaign_id",
           raw[col[C.CAMPAIGN_ID]])  # fmt: skip
    reject((~camp.isin(list(known_campaigns))).to_numpy(), col[C.CAMPAIGN_ID], "unknown_campaign",
           raw[col[C.CAMPAIGN_ID]])  # fmt: skip
    out[C.CAMPAIGN_ID] = camp.astype(object)
    cid = normalise_ids(raw[col[C.CUSTOMER_ID]])[0]
    reject(cid.isna().to_numpy(), col[C.CUSTOMER_ID], "missing_customer_id",
           raw[col[C.CUSTOMER_ID]])  # fmt: skip
    out[C.CUSTOMER_ID] = cid.astype(object)
    if C.GROUP in col:
        label = raw[col[C.GROUP]].astype("string").str.strip()
        group = label.map(lambda v: spec.labels.get(v, v) if pd.notna(v) else v)
        reject((~group.isin(C.GROUPS)).to_numpy(), col[C.GROUP], "unknown_group",
               raw[col[C.GROUP]])  # fmt: skip
        out[C.GROUP] = group.astype(object)
    else:
        out[C.GROUP] = C.GROUP_TREATED
    for key in (C.MEMBER_ID, C.EMAIL, C.PHONE):
        if key in col:
            out[key] = raw[col[key]].astype("string").astype(object)
    dup = out.duplicated([C.CAMPAIGN_ID, C.CUSTOMER_ID]).to_numpy()
    reject(dup, col[C.CUSTOMER_ID], "duplicate_member", raw[col[C.CUSTOMER_ID]])
    return out[~bad].reset_index(drop=True)


def campaign_spec(entry: Mapping, default_name: str = "campaigns") -> CampaignSpec:
    """A :class:`CampaignSpec` from a config block (a ``data.campaigns`` entry)."""
    e = dict(entry)
    m = dict(e.get("members") or {})
    if not m.get("path"):
        raise ValueError(f"campaigns '{e.get('name') or default_name}': no members.path given")
    members = MembersSpec(
        name=m.get("name") or e.get("name") or default_name,
        path=Path(m["path"]),
        columns=dict(m.get("columns") or {}),
        labels=dict(m.get("labels") or {}),
        sep=m.get("sep"),
        encoding=m.get("encoding"),
    )
    return CampaignSpec(
        name=e.get("name") or default_name,
        path=Path(e["path"]),
        columns=dict(e.get("columns") or {}),
        members=members,
        channel=e.get("channel") or "unknown",
        campaign_type=e.get("type") or "campaign",
        ts_format=e.get("ts_format"),
        dayfirst=e.get("dayfirst"),
        decimal=e.get("decimal"),
        sep=e.get("sep"),
        encoding=e.get("encoding"),
    )


def campaign_specs(entries: Sequence[Mapping] | Mapping | None) -> list[CampaignSpec]:
    return [campaign_spec(e) for e in config_blocks(entries)]
