"""Promotion: registry aliases ``champion`` / ``challenger`` set by an explicit, configured rule.

The task registry (``conf/tasks/*.yaml``) says *what* is compared — the primary metric, its
direction, the per-unit evidence; the task's promotion settings (``forecast.promotion``,
``recsys.promotion``) say *how strict* the rule is — minimum gain, significance level of the
paired bootstrap, guard metrics. The decision and its evidence are recorded as tags on the
candidate's and the previous champion's runs and on the registered version.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass

import mlflow
from mlflow import MlflowClient

from src.tracking.bootstrap import paired_bootstrap
from src.tracking.runs import configure, unit_series
from src.tracking.tasks import Evidence, TaskSpec, select

log = logging.getLogger(__name__)

CHAMPION = "champion"
CHALLENGER = "challenger"


@dataclass(frozen=True)
class PromotionRule:
    """Promote the best registered version by ``metric`` if it beats the champion enough.

    ``min_improvement`` is relative (0.01 = the challenger must be 1 % better). The runner-up
    (or the newest non-champion) becomes ``challenger``.
    """

    metric: str
    higher_is_better: bool
    min_improvement: float = 0.0
    # also require a paired-bootstrap-significant gain over the champion at this level (None: off)
    significance_level: float | None = None
    # the per-unit table the bootstrap runs on
    evidence: Evidence | None = None
    n_boot: int = 2000
    # metric -> {tolerance, higher_is_better | target, relative}: may not get worse beyond it
    guards: Mapping | None = None

    @classmethod
    def for_task(cls, spec: TaskSpec) -> PromotionRule:
        """The task's metric, direction and evidence with the strictness of its settings."""
        s = dict(spec.promotion or {})
        unknown = set(s) - {"min_improvement", "significance_level", "n_boot", "guards"}
        if unknown:
            raise ValueError(
                f"promotion settings of task {spec.name!r}: unknown keys {sorted(unknown)} "
                "(the metric, its direction and the evidence come from the task registry)"
            )
        return cls(spec.metric, spec.higher_is_better, evidence=spec.evidence, **s)


def _metric(client: MlflowClient, version, metric: str) -> float | None:
    if not version.run_id:
        return None
    value = client.get_run(version.run_id).data.metrics.get(metric)
    return float(value) if value is not None else None


def promote(model_name: str, rule: PromotionRule, client: MlflowClient | None = None) -> dict:
    """Apply ``rule`` to the versions of ``model_name``; returns the decision with its evidence."""
    client = client or MlflowClient()
    versions = client.search_model_versions(f"name='{model_name}'")
    scored = [(v, _metric(client, v, rule.metric)) for v in versions]
    scored = [(v, m) for v, m in scored if m is not None]
    if not scored:
        raise ValueError(f"no version of '{model_name}' has metric '{rule.metric}'")
    sign = -1.0 if rule.higher_is_better else 1.0
    scored.sort(key=lambda vm: (sign * vm[1], -int(vm[0].version)))
    best, best_value = scored[0]
    try:
        current = client.get_model_version_by_alias(model_name, CHAMPION)
        current_value = _metric(client, current, rule.metric)
    except mlflow.exceptions.MlflowException:
        current, current_value = None, None
    evidence: dict = {}
    if current is None or current_value is None:
        promote_best, reason = True, "no champion yet"
    elif (fp := _fingerprints(client, versions))[current.version] != (
        newest := fp[max(versions, key=lambda v: int(v.version)).version]
    ):
        # metrics on different data are not comparable, and a champion trained on old data
        # would keep serving stale forecasts: the best version on the newest data wins
        on_new = [(v, m) for v, m in scored if fp[v.version] == newest]
        best, best_value = on_new[0] if on_new else (best, best_value)
        promote_best = True
        reason = (
            f"data changed since the champion was trained (fingerprint "
            f"{fp[current.version][:10]} -> {newest[:10]}): best on the new data"
        )
    elif best.version == current.version:
        promote_best, reason = False, "best version is already champion"
    else:
        gain = (
            (current_value - best_value) * sign / abs(current_value)
            if current_value
            else float("inf")
        )
        promote_best = gain > rule.min_improvement
        reason = f"relative gain {gain:.4f} {'>' if promote_best else '<='} min_improvement {rule.min_improvement}"
        if promote_best:
            promote_best, why, evidence = _evidence(client, rule, current, best)
            reason = f"{reason}; {why}"
    champion = best if promote_best else current
    client.set_registered_model_alias(model_name, CHAMPION, champion.version)
    others = [(v, m) for v, m in scored if v.version != champion.version]
    challenger = others[0][0] if others else None
    if challenger is not None:
        client.set_registered_model_alias(model_name, CHALLENGER, challenger.version)
    decision = {
        "model": model_name,
        "metric": rule.metric,
        "champion_version": champion.version,
        "champion_value": _metric(client, champion, rule.metric),
        "challenger_version": challenger.version if challenger is not None else None,
        "promoted": bool(promote_best),
        "reason": reason,
    }
    decision["evidence"] = evidence
    client.set_model_version_tag(
        model_name, champion.version, "promotion", json.dumps(decision, default=str)
    )
    _tag_runs(client, best, current, promote_best, reason)
    log.info("promotion %s: %s", model_name, decision)
    return decision


def _fingerprints(client: MlflowClient, versions) -> dict:
    """Data fingerprint of each version's run, read once per version."""
    return {
        v.version: client.get_run(v.run_id).data.tags.get("data_fingerprint", "")
        if v.run_id
        else ""
        for v in versions
    }


def _tag_runs(client: MlflowClient, best, current, promoted: bool, reason: str) -> None:
    """The decision, visible from the runs as well as from the registered version."""
    outcome = {
        "candidate": "promoted" if promoted else "not promoted",
        "previous_champion": "replaced" if promoted else "kept",
    }
    if current is not None and best.version == current.version:
        client.set_tag(best.run_id, "promotion.decision", "kept: best version is already champion")
        return
    seen = set()
    for version, role in ((best, "candidate"), (current, "previous_champion")):
        if version is None or not version.run_id or version.run_id in seen:
            continue
        seen.add(version.run_id)
        client.set_tag(version.run_id, "promotion.decision", outcome[role])
        client.set_tag(version.run_id, "promotion.role", role)
        client.set_tag(version.run_id, "promotion.reason", reason[:5000])


def _evidence(client: MlflowClient, rule: PromotionRule, current, best) -> tuple[bool, str, dict]:
    """Significance of the gain (paired bootstrap over units) and the guard metrics."""
    evidence: dict = {}
    ok, why = True, []
    if rule.significance_level is not None:
        e = rule.evidence
        try:
            if e is None:
                raise ValueError("the rule names no per-unit evidence")
            comp = paired_bootstrap(
                unit_series(current.run_id, e),
                unit_series(best.run_id, e),
                e.higher_is_better,
                float(rule.significance_level),
                int(rule.n_boot),
            )
            evidence["bootstrap"] = comp.as_dict()
            if comp.verdict != "challenger better":
                ok = False
            why.append(
                f"bootstrap {e.metric} delta {comp.delta:+.4f} "
                f"[{comp.ci_low:+.4f}, {comp.ci_high:+.4f}]: {comp.verdict}"
            )
        except Exception as err:  # noqa: BLE001 - no per-unit table: cannot show significance
            ok = False
            why.append(f"no per-unit evidence ({e.artifact if e else None}): {err}")
    for metric, g in (rule.guards or {}).items():
        old, new = _metric(client, current, metric), _metric(client, best, metric)
        if old is None or new is None:
            why.append(f"guard {metric}: missing, skipped")
            continue
        if "target" in g:
            worse = abs(new - g["target"]) - abs(old - g["target"])
        else:
            worse = (old - new) if g.get("higher_is_better", False) else (new - old)
        if g.get("relative"):
            worse = worse / abs(old) if old else float("inf")
        passed = worse <= float(g["tolerance"])
        evidence.setdefault("guards", {})[metric] = {
            "champion": old,
            "challenger": new,
            "worse_by": worse,
            "tolerance": float(g["tolerance"]),
            "passed": passed,
        }
        ok &= passed
        why.append(
            f"guard {metric} worse by {worse:+.4f} {'<=' if passed else '>'} {g['tolerance']}"
        )
    return ok, "; ".join(why) if why else "no significance test or guards configured", evidence


def run_promote(config: Mapping) -> dict:
    """`make promote task=…`: re-apply the task's promotion rule to its registered versions."""
    spec = select(config["tasks"], config["task"], need_registry=True)
    tracking = config["tracking"]
    configure(tracking["uri"], spec.experiment, tracking["artifact_root"])
    decision = promote(spec.registered_model, PromotionRule.for_task(spec))
    print(json.dumps(decision, indent=2, default=str), flush=True)
    return decision
