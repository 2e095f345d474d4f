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


def accuracy_of(results: dict) -> str:
    """The rows' accuracy field: measured, or (variants) the published number."""
    return "published_top1" if results["options"].get("variants") else "top1"


def rows_of(rows: list[dict], runtime: str, threads: int | None = None) -> list[dict]:
    """The ``runtime``'s rows (at ``threads``, unless None)."""
    return [
        r for r in rows if r.get("runtime", "litert") == runtime and threads in (None, r["threads"])
    ]


def points_at(
    rows: list[dict], threads: int, accuracy: str = "top1", runtime: str = "litert"
) -> list[Point]:
    """The ``runtime``'s rows at ``threads`` as Points on ``accuracy`` (rows
    without one left out)."""
    return [
        Point(r["name"], r["median_ms"], r[accuracy], r["size_bytes"])
        for r in rows_of(rows, runtime, threads)
        if r.get(accuracy) is not None
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
    accuracy = accuracy_of(results)
    top1_title = "pub.top1" if accuracy == "published_top1" else "top-1"
    sections = []
    for runtime in results["options"].get("runtimes", ["litert"]):
        page = runtime == "browser"
        rows = rows_of(results["rows"], runtime)
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
            errors = {k: v["error"] for k, v in results.get("page", {}).items() if "error" in v}
            lines += [f"  the page cannot run {name}: {why}" for name, why in errors.items()]
        sections.append("\n".join(lines))
    return "\n\n".join(sections)


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
    """The deployment view's every file: size against median latency (LiteRT's,
    unless the page's alone)."""
    model_of = {key: key.rsplit("_", 1)[0] for key in results["conversions"]}
    runtimes = results["options"]["runtimes"]
    runtime = "litert" if "litert" in runtimes else runtimes[0]
    for row in rows_of(results["rows"], runtime, count):
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
    accuracy = accuracy_of(results)
    model_of = {key: key.rsplit("_", 1)[0] for key in results["conversions"]}
    largest = max((r["size_bytes"] for r in results["rows"]), default=1)
    rows = {r["name"]: r for r in rows_of(results["rows"], runtime, count)}
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
