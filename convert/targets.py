"""``convert compare``'s last lines: which file to ship for a phone's CPU, an
NPU and a web page, and why, from the rows it measured
(``{target: {"files": {threads or "any": name}, "why": text}}``)."""

from __future__ import annotations

from convert import modes
from convert.tradeoff import accuracy_of, rows_of

# A file this much slower than the pick still counts as as fast (run-to-run noise).
FAITHFUL_SLACK = 1.1


def targets(results: dict) -> dict:
    """Which file for which target, from ``results`` (``compare.json``'s)."""
    return {"phone CPU": _phone(results), "web page": _page(results), "NPU": _npu(results)}


def _rule(results):
    within = results["options"]["within"]
    return f"the fastest within {within:g} top-1 points of the most accurate"


def _picked(results, runtime):
    """{thread count: name} of the runtime's recommendations."""
    return {n: p["name"] for n, p in results["recommended"].get(runtime, {}).items() if p}


def _unranked(results, runtime):
    """Why ``runtime`` has no pick although it ran; None when it has one."""
    if _picked(results, runtime):
        return None
    if not rows_of(results["rows"], runtime):
        return "not measured: none of --threads could run here"
    return "no accuracy to rank the files by (no published top-1 for these variants)"


def _phone(results):
    if "litert" not in results["recommended"]:
        return {"files": {}, "why": "not measured: add litert to --runtime"}
    unranked = _unranked(results, "litert")
    if unranked:
        return {"files": {}, "why": unranked}
    found = {
        "files": _picked(results, "litert"),
        "why": f"{_rule(results)} in LiteRT (XNNPACK) on this CPU; check it on ARM64's int8 "
        "kernels with `convert check-arm FILE` (emulated)",
    }
    alternatives = {}  # (name, its relative L2, the pick's): the thread counts
    for count, pick in results["recommended"]["litert"].items():
        other = _more_faithful(results, int(count), pick)
        if other:
            found.setdefault("more_faithful", {})[count] = other["name"]
            key = (other["name"], other["relative_l2"], other["pick_l2"])
            alternatives.setdefault(key, []).append(count)
    for (name, l2, pick_l2), counts in alternatives.items():
        found["why"] += (
            f"; at {', '.join(counts)} thread(s) {name} is as accurate by that rule, within "
            f"{FAITHFUL_SLACK - 1:.0%} of the pick's latency with at most half its error "
            f"(relative L2 {l2:.4f} against {pick_l2:.4f}): ship that one where the scores "
            "themselves matter (thresholds, calibration)"
        )
    return found


def _more_faithful(results, count, pick):
    """The LiteRT file at ``count`` threads that the recommendation counts as
    accurate as ``pick`` (within ``within`` top-1 points of the best), within
    ``FAITHFUL_SLACK`` of its latency and with at most half its relative L2
    (the lowest such); None if there is none."""
    if not pick:
        return None
    accuracy = accuracy_of(results)
    rows = [r for r in rows_of(results["rows"], "litert", count) if r.get(accuracy) is not None]
    chosen = next(r for r in rows if r["name"] == pick["name"])
    if not chosen["relative_l2"]:
        return None
    best = max(r[accuracy] for r in rows)
    candidates = [
        r
        for r in rows
        if r[accuracy] >= best - results["options"]["within"] / 100 - 1e-12
        and r["median_ms"] <= chosen["median_ms"] * FAITHFUL_SLACK
        and r["relative_l2"] is not None
        and r["relative_l2"] <= chosen["relative_l2"] / 2
    ]
    if not candidates:
        return None
    other = min(candidates, key=lambda r: (r["relative_l2"], r["median_ms"]))
    return {**other, "pick_l2": chosen["relative_l2"]}


def _page(results):
    if "browser" not in results["recommended"]:
        return {"files": {}, "why": "not measured: add browser to --runtime"}
    unranked = _unranked(results, "browser")
    if unranked:
        return {"files": {}, "why": unranked}
    return {
        "files": _picked(results, "browser"),
        "why": f"{_rule(results)} in the page (LiteRT.js); more than 1 thread needs the page "
        "served cross-origin isolated",
    }


def _npu(results):
    """The most accurate full-integer conversion (then the closest to its
    Keras model), whichever runtimes ran."""
    accuracy = accuracy_of(results)
    integer = {
        name: c for name, c in results["conversions"].items() if modes.get(c["mode"]).integer
    }
    if not integer:
        return {
            "files": {},
            "why": "no full-integer file in this comparison: add ptq or int8 to --modes",
        }
    why = (
        "NPUs, DSPs and uint8 camera pipelines run integer tensors only, so only a full-integer "
        "file runs whole on them: "
    )
    if all(c.get(accuracy) is None for c in integer.values()):
        why += "no accuracy to rank them by, so the closest to its Keras model"
    else:
        why += "the most accurate here (then the closest to its Keras model)"
    name = min(
        integer,
        key=lambda n: (
            -(integer[n].get(accuracy) or 0),
            integer[n]["relative_l2"] is None,
            integer[n]["relative_l2"] or 0,
            n,
        ),
    )
    return {"files": {"any": name}, "why": why}


def targets_text(found: dict) -> str:
    """``targets`` as lines: the target, its files (with their thread counts), why."""
    lines = ["which file for which target:"]
    for target, pick in found.items():
        counts = {}  # name: the thread counts it was chosen at
        for threads, name in pick["files"].items():
            counts.setdefault(name, []).append(threads)
        files = ", ".join(
            name if counts[name] == ["any"] else f"{name} ({', '.join(counts[name])} thread(s))"
            for name in counts
        )
        lines.append(f"  {target:<10} {files or '-'}: {pick['why']}")
    return "\n".join(lines)
