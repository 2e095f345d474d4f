"""``convert compare``'s trade-off: each file at a thread count as a
``Point`` (median latency, top-1, size), the Pareto front, the
recommendation (the fastest file within ``within`` top-1 points of the most
accurate), and the results as a table and as ``compare.png``."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Point:
    """A file at one thread count: its name, median latency, top-1 and size."""

    name: str
    latency: float
    top1: float
    size: int = 0


def points_at(
    rows: list[dict], threads: int, accuracy: str = "top1", runtime: str = "litert"
) -> list[Point]:
    """The ``runtime``'s rows at ``threads`` as Points on ``accuracy`` (rows
    without one left out)."""
    return [
        Point(r["name"], r["median_ms"], r[accuracy], r["size_bytes"])
        for r in rows
        if r["threads"] == threads
        and r.get("runtime", "litert") == runtime
        and r.get(accuracy) is not None
    ]


def pareto(points: list[Point]) -> list[Point]:
    """The points no other point dominates (as fast or faster and as accurate or
    more, better in one): fastest first. Identical points all stay."""
    front = [
        p
        for p in points
        if not any(
            q.latency <= p.latency
            and q.top1 >= p.top1
            and (q.latency, q.top1) != (p.latency, p.top1)
            for q in points
        )
    ]
    return sorted(front, key=lambda p: (p.latency, -p.top1, p.name))


def recommend(points: list[Point], within: float) -> dict | None:
    """The fastest point within ``within`` top-1 points of the most accurate
    (ties: the more accurate, then the smaller file, then the name), as a dict
    with the reason; None without points."""
    if not points:
        return None
    best = max(p.top1 for p in points)
    eligible = [p for p in points if p.top1 >= best - within / 100 - 1e-12]
    chosen = min(eligible, key=lambda p: (p.latency, -p.top1, p.size, p.name))
    return {
        **dataclasses.asdict(chosen),
        "reason": f"the fastest within {within:g} top-1 points of the most accurate ({best:.4f})",
    }


def table(results: dict) -> str:
    """The rows as text, a section per runtime and by thread count, the
    recommended file of each marked."""
    variants = bool(results["options"].get("variants"))
    accuracy = "published_top1" if variants else "top1"
    top1_title = "pub.top1" if variants else "top-1"
    sections = []
    for runtime in results["options"].get("runtimes", ["litert"]):
        page = runtime == "browser"
        rows = [r for r in results["rows"] if r.get("runtime", "litert") == runtime]
        lines = [
            "in the page (LiteRT.js, headless Chromium); agreement, rel. L2 and the largest "
            "difference against the same file in LiteRT"
            if page
            else "in LiteRT on this CPU; agreement and rel. L2 against the Keras model",
            f"{'file':<28} {'thr':>3} {top1_title:>8} {'agree':>7} {'rel.L2':>8} "
            f"{'max.diff' if page else 'median':>9} {'median' if page else 'p90':>9} "
            f"{'size':>9} {'compile' if page else 'memory':>8}",
        ]
        chosen = results.get("recommended", {}).get(runtime, {})
        for row in sorted(rows, key=lambda r: (r["threads"], r["median_ms"])):
            pick = chosen.get(str(row["threads"])) or {}
            mark = " <- recommended" if pick.get("name") == row["name"] else ""
            top1 = "-" if row.get(accuracy) is None else f"{row[accuracy]:.4f}"
            if page:
                agree, l2 = row["top1_agreement_with_litert"], row["relative_l2_to_litert"]
                middle = f"{row['max_abs_difference_to_litert']:>9.2g} {row['median_ms']:>7.2f}ms"
                last = f"{row['compile_ms']:>6.0f}ms"
            else:
                agree, l2 = row["top1_agreement"], row["relative_l2"]
                middle = f"{row['median_ms']:>7.2f}ms {row['p90_ms']:>7.2f}ms"
                last = f"{row['peak_memory_mb']:>6.1f}MB"
            l2 = "n/a" if l2 is None else f"{l2:.4f}"
            lines.append(
                f"{row['name'][:28]:<28} {row['threads']:>3} {top1:>8} {agree:>7.4f} {l2:>8} "
                f"{middle} {row['size_bytes'] / 1024:>7.0f}KB {last}{mark}"
            )
        if page:
            errors = results.get("page_errors", {})
            lines += [f"  the page cannot run {name}: {why}" for name, why in errors.items()]
        sections.append("\n".join(lines))
    return "\n\n".join(sections)


def targets(results: dict) -> dict:
    """Which file to ship for a phone's CPU, an NPU and a web page, from the
    rows measured: {target: {"files": {threads: name}, "why": text}}."""
    from convert import modes

    picks = results.get("recommended", {})
    rule = f"the fastest within {results['options']['within']:g} top-1 points of the most accurate"
    found = {
        "phone CPU": {
            "files": {n: p["name"] for n, p in picks.get("litert", {}).items() if p},
            "why": f"{rule} in LiteRT (XNNPACK) on this CPU; check it on ARM64's int8 kernels "
            "with `convert check-arm FILE` (emulated)",
        },
        "web page": {
            "files": {n: p["name"] for n, p in picks.get("browser", {}).items() if p},
            "why": f"{rule} in the page (LiteRT.js); more than 1 thread needs the page served "
            "cross-origin isolated",
        },
    }
    alternatives = {}  # (name, its relative L2, the pick's): the thread counts
    for count, pick in picks.get("litert", {}).items():
        other = _more_faithful(results, int(count), pick)
        if other:
            found["phone CPU"].setdefault("more_faithful", {})[count] = other["name"]
            key = (other["name"], other["relative_l2"], other["pick_l2"])
            alternatives.setdefault(key, []).append(count)
    for (name, l2, pick_l2), counts in alternatives.items():
        found["phone CPU"]["why"] += (
            f"; at {', '.join(counts)} thread(s) {name} is as accurate by that rule, within "
            f"{FAITHFUL_SLACK - 1:.0%} of the pick's latency with at most half its error "
            f"(relative L2 {l2:.4f} against {pick_l2:.4f}): ship that one where the scores "
            "themselves matter (thresholds, calibration)"
        )
    if "browser" not in picks:
        found["web page"]["why"] = "not measured: add --runtime litert,browser"
    integer = {
        r["name"]: r
        for r in results["rows"]
        if modes.get(r["mode"]).integer and r.get("runtime", "litert") == "litert"
    }
    accuracy = "published_top1" if results["options"].get("variants") else "top1"
    ranked = sorted(
        integer.values(),
        key=lambda r: (-(r.get(accuracy) or 0), r["relative_l2"] or 0, r["name"]),
    )
    found["NPU"] = {
        "files": {"any": ranked[0]["name"]} if ranked else {},
        "why": "NPUs, DSPs and uint8 camera pipelines run integer tensors only, so only a "
        "full-integer file runs whole on them: the most accurate here (then the closest to "
        "its Keras model)"
        if ranked
        else "no full-integer file in this comparison: add ptq or int8 to --modes",
    }
    return found


# A file this much slower than the pick still counts as as fast (run-to-run noise).
FAITHFUL_SLACK = 1.1


def _more_faithful(results, count, pick):
    """The LiteRT file at ``count`` threads that the recommendation counts as
    accurate as ``pick`` (within ``within`` top-1 points of the best), within
    ``FAITHFUL_SLACK`` of its latency and with at most half its relative L2
    (the lowest such); None if there is none."""
    if not pick:
        return None
    accuracy = "published_top1" if results["options"].get("variants") else "top1"
    rows = [
        r
        for r in results["rows"]
        if r.get("runtime", "litert") == "litert"
        and r["threads"] == count
        and r.get(accuracy) is not None
    ]
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


MODE_MARKERS = {"float32": "o", "fp16": "s", "dynamic": "^", "ptq": "D", "qat": "v"}


def plot(results: dict, path: str) -> None:
    """Top-1 against median latency, one panel per thread count (``_panel``),
    with a legend of the models' colours and the modes' markers."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    from matplotlib.lines import Line2D

    from keras_mixer.files import atomic_path, plot_metadata

    options = results["options"]
    colours = {name: f"C{i % 10}" for i, name in enumerate(results["models"])}
    threads = options["threads"]
    runtimes = options.get("runtimes", ["litert"])
    sizes = bool(options.get("variants"))  # the variants: size against latency too
    panels = len(runtimes) + sizes
    # At least 12 inches wide: the title is one line whatever the number of panels.
    fig, axes = plt.subplots(
        panels, len(threads), figsize=(max(12, 6 * len(threads)), 4.8 * panels), squeeze=False
    )
    for column, count in enumerate(threads):
        for line, runtime in enumerate(runtimes):
            _panel(axes[line][column], results, runtime, count, colours)
        if sizes:
            _size_panel(axes[-1][column], results, count, colours)
    handles = [Line2D([], [], marker="o", ls="", c=c, label=name) for name, c in colours.items()]
    handles += [
        Line2D([], [], marker=MODE_MARKERS.get(mode, "o"), ls="", c="grey", label=mode)
        for mode in options["modes"]
    ]
    handles += [
        Line2D([], [], ls="--", c="k", label="Pareto front"),
        Line2D(
            [], [], marker="*", ls="", c="gold", markeredgecolor="k", ms=12, label="recommended"
        ),
    ]
    fig.legend(handles=handles, loc="center right", fontsize=8)
    fig.suptitle(
        f"Which file to ship: accuracy against latency (marker area: file size; recommended: "
        f"the fastest within {options['within']:g} top-1 points of the best)",
        fontsize=10,
    )
    fig.tight_layout(rect=(0, 0, 0.85, 1))
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, metadata=plot_metadata("comparison"))
    plt.close(fig)


def _size_panel(ax, results, count, colours):
    """The deployment view's every file: size against median latency in LiteRT."""
    model_of = {key: key.rsplit("_", 1)[0] for key in results["conversions"]}
    litert = (r for r in results["rows"] if r.get("runtime", "litert") == "litert")
    for row in (r for r in litert if r["threads"] == count):
        ax.scatter(
            row["median_ms"],
            row["size_bytes"] / 2**20,
            c=colours[model_of[row["name"]]],
            marker=MODE_MARKERS.get(row["mode"], "o"),
            s=60,
            edgecolors="k",
            linewidths=0.5,
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_title(f"{count} thread(s): every file", fontsize=9)
    ax.set_xlabel("median latency (ms)")
    ax.set_ylabel("file size (MB)")
    ax.grid(alpha=0.3, which="both")


def _panel(ax, results, runtime, count, colours):
    """One runtime's points at one thread count (a colour per model, a marker
    per mode, area by size), the Pareto front with its points named, the
    recommended starred."""
    options = results["options"]
    accuracy = "published_top1" if options.get("variants") else "top1"
    model_of = {key: key.rsplit("_", 1)[0] for key in results["conversions"]}
    largest = max((r["size_bytes"] for r in results["rows"]), default=1)
    rows = {
        r["name"]: r
        for r in results["rows"]
        if r["threads"] == count and r.get("runtime", "litert") == runtime
    }
    found = points_at(list(rows.values()), count, accuracy, runtime)
    if not rows:
        ax.text(0.5, 0.5, f"not measured at {count} thread(s)", ha="center", transform=ax.transAxes)
    for p in found:
        ax.scatter(
            p.latency,
            p.top1,
            s=30 + 300 * p.size / largest,
            c=colours[model_of[p.name]],
            marker=MODE_MARKERS.get(rows[p.name]["mode"], "o"),
            alpha=0.7,
            edgecolors="k",
            linewidths=0.5,
        )
    on_front = set(results["front"][runtime].get(str(count), []))  # as compare.json has it
    front = [p for p in sorted(found, key=lambda p: (p.latency, -p.top1)) if p.name in on_front]
    ax.plot([p.latency for p in front], [p.top1 for p in front], "k--", lw=1)
    for p in front:
        ax.annotate(
            p.name, (p.latency, p.top1), fontsize=7, xytext=(5, -10), textcoords="offset points"
        )
    pick = results["recommended"][runtime].get(str(count))
    if pick:
        ax.scatter(
            pick["latency"], pick["top1"], marker="*", s=300, c="gold", edgecolors="k", zorder=3
        )
    latencies = [p.latency for p in found]
    if latencies and max(latencies) > 20 * min(latencies):
        ax.set_xscale("log")
    where = "in the page" if runtime == "browser" else "LiteRT"
    ax.set_title(
        f"{where}, {count} thread(s); recommended: {pick['name'] if pick else '-'}", fontsize=9
    )
    ax.set_xlabel("median latency (ms)")
    ax.set_ylabel(
        "published ImageNet top-1 (paper; not measured here)"
        if accuracy != "top1"
        else f"held-out top-1 ({options['dataset']})"
    )
    ax.grid(alpha=0.3)
