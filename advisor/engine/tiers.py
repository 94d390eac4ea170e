"""What to ship per RAM tier: group devices by RAM, and for each tier pick the one runtime ×
model × format that runs on *every* device of the tier under the deployment target's budget and
limits and meets the constraints — ranked on the slowest device's figures, since a shipped
variant must work on all of them.

A device the target cannot host, or on which nothing passes that passes on the others, is left
out of its tier with the reason (the weakest device — the one on which the fewest candidates pass,
then the least memory budget — goes first, so one outlier does not sink the tier).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Sequence

from advisor.engine import runtimes as rt
from advisor.engine import targets as tg
from advisor.engine.recommend import Constraints, Rejection, _check, _model_filter, _rank_key, candidate_variants, offered_to
from advisor.engine.evaluate import Tables, finish, stage
from advisor.errors import BadInputError
from advisor.records import DeviceProfile, DownloadLimit, Estimate, PathFactors, Reason, Workload
from advisor.units import GIB

#: RAM tiers in GiB (marketing sizes of phones, tablets and boards). A device belongs to the
#: largest tier not above its RAM (an "8 GB" phone may report 7.3 GiB: 10 % slack is allowed).
DEFAULT_TIERS_GIB = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 64)
TIER_SLACK = 0.9


def tier_of(ram_bytes: int, tiers_gib: Sequence[int] = DEFAULT_TIERS_GIB) -> int:
    fitting = [t for t in tiers_gib if t * GIB * TIER_SLACK <= ram_bytes]
    return fitting[-1] if fitting else tiers_gib[0]


@dataclass(frozen=True)
class LeftOut:
    """A device left out of its tier, and why (a ``Reason``: "target" — it cannot host the target
    —, "tier" — nothing that passes on the rest of the tier passes there —, or its closest miss)."""

    device: DeviceProfile
    why: Reason


@dataclass(frozen=True)
class TierPick:
    tier_gib: int
    devices: tuple[DeviceProfile, ...]  # the devices the pick runs on
    estimates: tuple[Estimate, ...]  # one per device, same order
    left_out: tuple[LeftOut, ...]
    runtime: str | None = None
    format_id: str | None = None
    model_id: str | None = None
    download_bytes: int | None = None
    store_limits_exceeded: tuple[DownloadLimit, ...] = ()  # the target's store limits the download exceeds

    @property
    def slowest(self) -> Estimate | None:
        with_speed = [e for e in self.estimates if e.speed is not None]
        return min(with_speed, key=lambda e: e.speed.decode_tokens_per_s) if with_speed else None  # type: ignore[union-attr]


def _best_common(devices: list[DeviceProfile], deps: dict[str, tg.Deployment], workload: Workload, tables: Tables,
                 c: Constraints, overrides: Any
                 ) -> tuple[tuple[str, str, str] | None, dict[str, Estimate], dict[str, Rejection], dict[str, int]]:
    """The best (runtime, format, model) passing on every device, its estimates, each device's
    reason when nothing passes everywhere (its most favourable failure), and how many of the
    candidates common to the tier pass on each device."""
    per_device: dict[str, dict[tuple[str, str], Any]] = {}
    for d in devices:
        cd = replace(c, deployment=deps[d.id])
        per_device[d.id] = {rt.choice_key(v): v for v in candidate_variants(deps[d.id].device, tables, cd)}
    common = set.intersection(*(set(v) for v in per_device.values())) if per_device else set()
    best: tuple[tuple, tuple[str, str, str], dict[str, Estimate]] | None = None
    failures: dict[str, Rejection] = {}
    passes = {d.id: 0 for d in devices}
    for model in tables.models.values():
        if _model_filter(model, c) is not None:
            continue
        # in the catalog's order, as recommend weighs them: of equals, the same one wins
        for key in (k for k in (per_device[devices[0].id] if devices else ()) if k in common):
            if devices and not offered_to([per_device[devices[0].id][key]], model, c):
                continue  # the runtime cannot load the model's architecture, or the format is another model's native one
            ests: dict[str, Estimate] = {}
            ok = True
            for d in devices:  # every device, so that each one's own reason is known
                choice = per_device[d.id][key]
                dep = deps[d.id]
                fmt = choice.format if isinstance(choice, rt.Variant) else choice
                staged = stage(model, fmt, dep.device, workload, tables, overrides=overrides,
                               variant=choice if isinstance(choice, rt.Variant) else None)
                est = finish(staged, dep.device, workload, browser=dep.browser)
                # a candidate that does not fit is judged on its speed too, as recommend judges it:
                # --min-tps 100000 was reported as '70 MiB short' of a model 600x too slow
                why = _check(est, model, workload, replace(c, deployment=dep), tables=tables, choice=choice, staged=staged,
                             device=dep.device)
                if why is not None:
                    prev = failures.get(d.id)
                    if prev is None or why.why.shortfall < prev.why.shortfall:  # its closest miss
                        failures[d.id] = why
                    ok = False
                    continue
                ests[d.id] = est
                passes[d.id] += 1
            if not ok:
                continue
            slowest = min(ests.values(), key=lambda e: e.speed.decode_tokens_per_s if e.speed else 0.0)
            rank = _rank_key(slowest, c.target_decode_tps)
            if best is None or rank > best[0]:
                best = (rank, (key[0], key[1], model.id), ests)
    if best is None:
        return None, {}, failures, passes
    return best[1], best[2], failures, passes


def _least_compatible(members: list[DeviceProfile], deps: dict[str, tg.Deployment], tables: Tables,
                      c: Constraints, passes: dict[str, int]) -> DeviceProfile:
    """The device to leave out first when nothing runs on all: the one whose runtime × format
    choices overlap least with the others' (a phone whose browser offers only WebAssembly among
    WebGPU phones), then the one on which the fewest common candidates pass (a phone whose browser
    binds 128 MiB WebGPU buffers among iPhones whose Safari tab has less memory but 1 GB buffers),
    then the one with the least memory budget."""
    keys = {d.id: {rt.choice_key(v) for v in candidate_variants(deps[d.id].device, tables, replace(c, deployment=deps[d.id]))}
            for d in members}
    def overlap(d: DeviceProfile) -> int:
        return sum(len(keys[d.id] & keys[o.id]) for o in members if o is not d)
    return min(members, key=lambda d: (overlap(d), passes.get(d.id, 0), deps[d.id].device.memory.usable))


def tiers(
    devices: Sequence[DeviceProfile],
    target: Any,
    workload: Workload,
    tables: Tables,
    constraints: Constraints = Constraints(),
    *,
    entitlement: bool = False,
    browser_id: str | None = None,
    overrides: dict[str, PathFactors] | None = None,
    tiers_gib: Sequence[int] = DEFAULT_TIERS_GIB,
) -> list[TierPick]:
    """One pick per RAM tier of ``devices`` under ``target`` (see the module docstring)."""
    if not devices:
        raise BadInputError("no devices to group into tiers; name some or choose a class that has profiles")
    groups: dict[int, list[DeviceProfile]] = {}
    for d in devices:
        groups.setdefault(tier_of(d.memory.ram, tiers_gib), []).append(d)
    out: list[TierPick] = []
    for tier in sorted(groups):
        left: list[LeftOut] = []
        deps: dict[str, tg.Deployment] = {}
        for d in groups[tier]:
            try:
                deps[d.id] = tg.deploy(target, d, entitlement=entitlement, browser_id=browser_id,
                                       targets=list(getattr(tables, "targets", {}).values()))
            except BadInputError as exc:
                left.append(LeftOut(d, exc.reason if isinstance(exc.reason, Reason) else tg.not_hosted(d)))
        members = sorted((d for d in groups[tier] if d.id in deps), key=lambda d: -deps[d.id].device.memory.usable)
        for d in list(members):  # none of the runtimes asked for runs there: that is its reason, as devices_for says
            if not candidate_variants(deps[d.id].device, tables, replace(constraints, deployment=deps[d.id])):
                members.remove(d)
                left.append(LeftOut(d, Reason("runtime")))
        pick = None
        while members:
            pick, ests, failures, passes = _best_common(members, deps, workload, tables, constraints, overrides)
            if pick is not None:
                break
            weakest = _least_compatible(members, deps, tables, constraints, passes)
            members.remove(weakest)
            why = failures.get(weakest.id)
            left.append(LeftOut(weakest, why.why if why else Reason("tier")))
        if pick is None:
            out.append(TierPick(tier, (), (), tuple(left)))
            continue
        runtime_id, format_id, model_id = pick
        estimates = tuple(ests[d.id] for d in members)
        variant = rt.variant_of(estimates[0], tables)
        size = tg.download_bytes(estimates[0], variant, tables)
        exceeded = tg.store_limits_exceeded(target, size, runtime_id)
        out.append(TierPick(tier, tuple(members), estimates, tuple(left), runtime_id, format_id, model_id, size, exceeded))
    return out
