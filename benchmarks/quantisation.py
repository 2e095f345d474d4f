"""Int8 quality over a zoo of trained Mixers: float against PTQ with each range
estimator (with and without each technique of ``convert.modes.TECHNIQUES``)
against QAT.

    .venv/bin/python benchmarks/quantisation.py [--zoo mnist,mnist_h64,mnist_narrow,digits]
        [--models 4] [--seeds 2] [--estimators percentile] [--no-techniques]

Per zoo entry (``ZOO``: the shipped configs, and narrow or under-trained
Mixers of the kind users bring from elsewhere), trains the config with
``python -m training`` (``--models N``: N times, train.seed 0..N-1; a
finished run in ``benchmarks/results/quantisation/`` is reused), then
converts each model with ``--ptq --calibration E`` for every estimator,
with each technique flipped from its default, and with ``--int8`` (QAT),
once per seed (``--seeds``: the seed draws the calibration images and
orders QAT's batches), and evaluates each on the whole held-out split:
top-1 (mean and range over models and seeds), top-1 agreement with the
float model it came from, mean probability error, relative L2 distance of
the logits from the float model's (means), the worst layers (first model,
seed 0), and ``output floor``: the agreement of the float model's own
logits rounded to the file's int8 output steps (no int8 model with that
output can do better). Then Mixer-S/16 at 224 (random weights, head std
0.02, 20 digit images): the relative L2 of each estimator's PTQ logits.

Writes benchmarks/results/quantisation.json and quantisation.png.

``--logits`` compares instead, per zoo model (``--models``) and on
Mixer-S/16 at 224 (random weights; ``--skip-s16`` leaves it out): the PTQ
file with int8 logits, the same with float32 logits (``convert --logits
float32``) and the dynamic-range file - agreement, relative L2, floor,
size, XNNPACK partitions and LiteRT latency at ``--threads``, the files
timed side by side in one run; writes quantisation_logits.json and .png.
"""

import argparse
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RESULTS = os.path.join(HERE, "results")
sys.path.insert(0, ROOT)

from harness import cpu_description, random_classifier, text_table, write_results  # noqa: E402

# The zoo: name -> (shipped config, --set overrides). "mnist_narrow" is the
# narrow, under-trained shape of a model trained elsewhere (patch 7 at 28x28,
# hidden 32, 2 blocks, token and channel MLP 32, exact GELU, one epoch);
# "mnist_h64" sits between it and the shipped 8-block "mnist".
ZOO = {
    "mnist": ("mnist", []),
    "mnist_h64": (
        "mnist",
        [
            "model.hidden_size=64",
            "model.num_blocks=4",
            "model.tokens_mlp_dim=32",
            "model.channels_mlp_dim=256",
            "train.epochs=3",
        ],
    ),
    "mnist_narrow": (
        "mnist",
        [
            "model.patch_size=7",
            "model.hidden_size=32",
            "model.num_blocks=2",
            "model.tokens_mlp_dim=32",
            "model.channels_mlp_dim=32",
            "model.gelu_approximate=False",
            "model.drop_path_rate=0.0",
            "train.epochs=1",
            "train.batch_size=8",
            "train.label_smoothing=0.0",
            "optimizer.learning_rate=5e-3",
            "optimizer.warmup_steps=20",
        ],
    ),
    "digits": ("digits", []),
}


def trained(name, folder, seed=0):
    """The .keras model of zoo entry ``name`` (``train.seed`` = ``seed``),
    trained into ``folder`` once."""
    config, overrides = ZOO[name]
    model = os.path.join(folder, "model.keras")
    if not os.path.exists(os.path.join(folder, "metrics.json")):
        print(f"[quantisation] training {name} into {folder}", flush=True)
        env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2"}
        sets = [arg for item in [*overrides, f"train.seed={seed}"] for arg in ("--set", item)]
        subprocess.run(
            [sys.executable, "-m", "training", "--config", config, *sets, "--output", folder],
            cwd=ROOT,
            env=env,
            check=True,
        )
    return model


def methods(estimators, flip_techniques=True):
    """(row name, conversion settings) of every way compared: PTQ with each
    estimator, as it is and (``flip_techniques``) with each technique flipped
    from its default; QAT as it is."""
    from convert.modes import TECHNIQUES

    rows = []
    for name in estimators:
        rows.append((f"PTQ {name}", {"mode": "ptq", "calibration": name}))
        for technique in TECHNIQUES.values() if flip_techniques else ():
            sign = "-" if technique.default else "+"
            rows.append(
                (
                    f"PTQ {name} {sign}{technique.name}",
                    {"mode": "ptq", "calibration": name, technique.name: not technique.default},
                )
            )
    return [*rows, ("QAT", {"mode": "qat"})]


def zoo_rows(name, graph, estimators, models, seeds, flip_techniques=True):
    """For each of ``models`` trainings of zoo entry ``name`` (train.seed 0,
    1, ...): its float row, and one row per method and conversion seed (the
    calibration images drawn, QAT's batch order)."""
    from convert.modes import MODES
    from convert.pipeline import to_tflite

    dataset = ZOO[name][0]
    rows = []
    for trained_seed in range(models):
        folder = os.path.join(
            RESULTS, "quantisation", name if trained_seed == 0 else f"{name}_seed{trained_seed}"
        )
        path = trained(name, folder, trained_seed)
        first = True
        for seed in range(seeds):
            for method, settings in methods(estimators, flip_techniques):
                print(
                    f"[quantisation] {name} model {trained_seed}: {method}, seed {seed}", flush=True
                )
                output = os.path.join(folder, f"{method.replace(' ', '_').lower()}_{seed}.tflite")
                report = to_tflite(
                    path,
                    output,
                    graph=graph,
                    dataset=dataset,
                    seed=seed,
                    log=lambda text: print(f"    {text}", flush=True),
                    **settings,
                )
                if first:  # every report holds the float model's top-1
                    first = False
                    rows.append(
                        {
                            "zoo": name,
                            "method": "float",
                            "model": trained_seed,
                            "top1": report["accuracy"]["float"],
                            "eval_images": report["eval_images"],
                        }
                    )
                key = MODES[settings["mode"]].report_key
                rows.append(_row(name, method, trained_seed, seed, key, report))
    return rows


def _row(name, method, trained_seed, seed, key, report):
    return {
        "zoo": name,
        "method": method,
        "model": trained_seed,
        "seed": seed,
        "top1": report["accuracy"][key],
        "top1_agreement": report["top1_agreement"],
        "output_floor": report["output_floor"]["top1_agreement"],
        "mean_abs_prob_error": report["mean_abs_prob_error"],
        "relative_l2": report["relative_l2"],
        "graph_fidelity": report["graph_fidelity"],
        "eval_images": report["eval_images"],
        "worst_layers": [
            f"{row['layer']} ({row['rmse_per_scale']:.2f})" for row in report["layer_errors"][:3]
        ],
        "qat": report.get("qat"),
        "seconds": report["seconds"],
    }


def summary(rows):
    """Per zoo entry and method: the mean of each figure over the trained
    models and conversion seeds, top-1's and agreement's range, and the
    worst layers of the first model's seed 0."""
    found = {}
    for row in rows:
        found.setdefault((row["zoo"], row["method"]), []).append(row)
    summarised = []
    for (name, method), chosen in found.items():
        row = {
            "zoo": name,
            "method": method,
            "conversions": len(chosen),
            "worst_layers": chosen[0].get("worst_layers", []),
        }
        for key in ("top1", "top1_agreement", "output_floor", "mean_abs_prob_error", "relative_l2"):
            values = [r[key] for r in chosen if r.get(key) is not None]
            if values:
                row[key] = sum(values) / len(values)
                if key in ("top1", "top1_agreement"):
                    row[f"{key}_range"] = (min(values), max(values))
        written = [r["qat"]["written"] for r in chosen if r.get("qat")]
        if written:
            row["qat_wrote_trained"] = written.count("trained")
        summarised.append(row)
    return summarised


def random_s16_rows(estimators, graph):
    """Mixer-S/16 at 224, random weights with a head of std 0.02: the relative
    L2 of each estimator's PTQ logits from the float model's on 20 digits."""
    from convert.pipeline import to_tflite

    model = random_classifier("S16")
    folder = os.path.join(RESULTS, "quantisation", "s16_random")
    os.makedirs(folder, exist_ok=True)
    rows = []
    for name in estimators:
        print(f"[quantisation] Mixer-S/16 (random): PTQ {name}", flush=True)
        report = to_tflite(
            model,
            os.path.join(folder, f"ptq_{name}.tflite"),
            mode="ptq",
            calibration=name,
            graph=graph,
            dataset="digits",
            eval_images=20,
            debug_images=0,
            log=lambda text: print(f"    {text}", flush=True),
        )
        rows.append(
            {
                "zoo": "S/16 random",
                "method": f"PTQ {name}",
                "relative_l2": report["relative_l2"],
                "top1_agreement": report["top1_agreement"],
            }
        )
    return rows


def paired(rows):
    """QAT minus each PTQ method, conversion by conversion (the same model and
    seed): the mean difference of top-1, agreement and relative L2 and its
    standard error, and the most images QAT's agreement fell below the PTQ
    method's in any one conversion, per zoo entry."""
    found = []
    for name in dict.fromkeys(row["zoo"] for row in rows if "model" in row):
        by_run = {}
        for row in rows:
            if row["zoo"] == name and row["method"] != "float":
                by_run.setdefault((row["model"], row["seed"]), {})[row["method"]] = row
        for method in [m for m in next(iter(by_run.values())) if m != "QAT"]:
            entry = {"zoo": name, "versus": method, "conversions": len(by_run)}
            for key in ("top1", "top1_agreement", "relative_l2"):
                differences = [run["QAT"][key] - run[method][key] for run in by_run.values()]
                spread = statistics.stdev(differences) if len(differences) > 1 else 0.0
                entry[key] = (statistics.mean(differences), spread / len(differences) ** 0.5)
            entry["most_images_below"] = max(
                round(
                    (run[method]["top1_agreement"] - run["QAT"]["top1_agreement"])
                    * run["QAT"]["eval_images"]
                )
                for run in by_run.values()
            )
            found.append(entry)
    return found


def paired_table(found):
    def cell(key):
        return lambda entry: "{:+.5f} +- {:.5f}".format(*entry[key])

    return text_table(
        found,
        [
            ("zoo", -13, lambda entry: entry["zoo"]),
            ("QAT minus", -30, lambda entry: entry["versus"]),
            ("top-1", 20, cell("top1")),
            ("agreement", 20, cell("top1_agreement")),
            ("rel L2", 20, cell("relative_l2")),
            ("most below", 10, lambda entry: str(entry["most_images_below"])),
        ],
    )


def table(rows):
    def number(key, fmt):
        return lambda row: "" if row.get(key) is None else f"{row[key]:{fmt}}"

    def spread(key):
        return lambda row: (
            ""
            if f"{key}_range" not in row or row[f"{key}_range"][0] == row[f"{key}_range"][1]
            else "{:.4f}-{:.4f}".format(*row[f"{key}_range"])
        )

    return text_table(
        rows,
        [
            ("zoo", -13, lambda row: row["zoo"]),
            ("method", -30, lambda row: row["method"]),
            ("top-1", 7, number("top1", ".4f")),
            ("range", 14, spread("top1")),
            ("agree", 7, number("top1_agreement", ".4f")),
            ("range", 14, spread("top1_agreement")),
            ("floor", 7, number("output_floor", ".4f")),
            ("prob err", 9, number("mean_abs_prob_error", ".5f")),
            ("rel L2", 7, number("relative_l2", ".4f")),
            (
                " worst layers (RMSE in steps)",
                0,
                lambda row: " " + ", ".join(row.get("worst_layers", [])),
            ),
        ],
    )


def plot(rows, path):
    """Per zoo entry, top-1 agreement with the float model (mean, range as
    error bars) of each method, the output floor dashed; then the relative
    L2 of each method's logits, per zoo entry (Mixer-S/16 included)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    names = list(dict.fromkeys(row["zoo"] for row in rows))
    trained_names = [name for name in names if name != "S/16 random"]
    figure, axes = plt.subplots(
        1, len(trained_names) + 1, figsize=(5.5 * (len(trained_names) + 1), 5)
    )
    for axis, name in zip(axes, trained_names):
        chosen = [row for row in rows if row["zoo"] == name and row["method"] != "float"]
        values = [row["top1_agreement"] for row in chosen]
        spread = [
            [row["top1_agreement"] - row["top1_agreement_range"][0] for row in chosen],
            [row["top1_agreement_range"][1] - row["top1_agreement"] for row in chosen],
        ]
        axis.bar([row["method"] for row in chosen], values, yerr=spread, capsize=3)
        floor = [row["output_floor"] for row in chosen if row.get("output_floor")]
        if floor:
            axis.axhline(
                np.mean(floor),
                color="k",
                linestyle="--",
                linewidth=1,
                label="output floor (float logits at int8 output steps)",
            )
            axis.legend(loc="lower right", fontsize=8)
        low = min(row["top1_agreement_range"][0] for row in chosen)
        axis.set_ylim(max(0.0, low - 0.005), 1.0005)
        axis.set_title(f"{name}: top-1 agreement with float (mean, range)")
        axis.tick_params(axis="x", rotation=90, labelsize=7)
    methods = [m for m in dict.fromkeys(row["method"] for row in rows) if m != "float"]
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        found = {row["method"]: row.get("relative_l2") for row in rows if row["zoo"] == name}
        axes[-1].bar(
            np.arange(len(methods)) + i * width,
            [found.get(m) or 0.0 for m in methods],
            width,
            label=name,
        )
    axes[-1].set_xticks(
        np.arange(len(methods)) + width * (len(names) - 1) / 2, methods, rotation=90, fontsize=7
    )
    axes[-1].set_title("relative L2 of the int8 logits from float (mean)")
    axes[-1].legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=100)


# ``--logits``: the PTQ (percentile) file with int8 logits and with float32
# logits (``convert --logits float32``: the head in float inside the int8
# body's XNNPACK partition), and the dynamic-range file, side by side.
LOGITS_METHODS = (
    ("PTQ, int8 logits", {"mode": "ptq"}),
    ("PTQ, float32 logits", {"mode": "ptq", "logits": "float32"}),
    ("dynamic-range", {"mode": "dynamic", "graph": None}),  # the float modes' plain graph
)


def logits_rows(zoo, model, folder, threads, runs, **settings):
    """One row per ``LOGITS_METHODS`` entry for ``model`` (a path or a Keras
    model): agreement, relative L2, floor, size and delegation from each
    conversion's report, and the files' LiteRT latency measured side by side
    (``convert.benchmark``: interleaved rounds, one worker process per file)."""
    from convert.benchmark import benchmark
    from convert.pipeline import to_tflite

    rows, paths = [], []
    seed = settings.get("seed", 0)
    for method, chosen in LOGITS_METHODS:
        print(f"[quantisation] {zoo} {os.path.basename(folder)} seed {seed}: {method}", flush=True)
        slug = method.replace(", ", "_").replace(" ", "_")
        path = os.path.join(folder, f"logits_{slug}_{seed}.tflite")
        report = to_tflite(
            model, path, log=lambda text: print(f"    {text}", flush=True), **{**settings, **chosen}
        )
        rows.append(
            {
                "zoo": zoo,
                "method": method,
                "model": os.path.basename(folder),
                "seed": seed,
                "top1_agreement": report["top1_agreement"],
                "relative_l2": report["relative_l2"],
                "output_floor": report.get("output_floor", {}).get("top1_agreement"),
                "size_bytes": report["size_bytes"],
                "partitions": report["xnnpack"]["partitions"],
                "ops_outside": report["xnnpack"]["ops_outside"],
                "float_ops": report["float_ops"],
                "eval_images": report["eval_images"],
            }
        )
        paths.append(path)
    timed = benchmark(paths, threads, runs=runs, warmup=max(5, runs // 20), rounds=10)
    for result in timed["results"]:
        row = rows[paths.index(result["path"])]
        row[f"ms_{result['threads']}"] = result["median_ms"]
        row[f"ms_{result['threads']}_p10_p90"] = (result["p10_ms"], result["p90_ms"])
    return rows


def logits_summary(rows, threads):
    """Per zoo entry and method, the means over its models; ``vs_int8_T``: the
    mean over models of each file's latency over the int8-logits file's at T
    threads (measured in the same run)."""
    found = {}
    for row in rows:
        found.setdefault((row["zoo"], row["method"]), []).append(row)
    summarised = []
    for (zoo, method), chosen in found.items():
        entry = {"zoo": zoo, "method": method, "conversions": len(chosen)}
        for key in ("top1_agreement", "relative_l2", "output_floor", "size_bytes"):
            values = [row[key] for row in chosen if row.get(key) is not None]
            entry[key] = sum(values) / len(values) if values else None
        entry["partitions"] = sorted({row["partitions"] for row in chosen})
        entry["ops_outside"] = chosen[0]["ops_outside"]
        bases = [
            base
            for row in chosen
            for base in rows
            if base["zoo"] == zoo
            and (base["model"], base["seed"]) == (row["model"], row["seed"])
            and base["method"] == LOGITS_METHODS[0][0]
        ]
        for count in threads:
            entry[f"ms_{count}"] = statistics.mean(row[f"ms_{count}"] for row in chosen)
            entry[f"vs_int8_{count}"] = statistics.mean(
                row[f"ms_{count}"] / base[f"ms_{count}"] for row, base in zip(chosen, bases)
            )
        # Agreement minus the int8-logits file's, conversion by conversion: mean, standard error.
        differences = [
            row["top1_agreement"] - base["top1_agreement"] for row, base in zip(chosen, bases)
        ]
        spread = statistics.stdev(differences) if len(differences) > 1 else 0.0
        entry["agreement_minus_int8"] = (
            statistics.mean(differences),
            spread / len(differences) ** 0.5,
        )
        summarised.append(entry)
    return summarised


def logits_table(summarised, threads):
    def number(key, fmt):
        return lambda row: "" if row.get(key) is None else f"{row[key]:{fmt}}"

    columns = [
        ("zoo", -13, lambda row: row["zoo"]),
        ("method", -20, lambda row: row["method"]),
        ("conv", 4, lambda row: str(row["conversions"])),
        ("agree", 7, number("top1_agreement", ".4f")),
        ("floor", 7, number("output_floor", ".4f")),
        ("minus int8", 19, lambda row: "{:+.4f} +- {:.4f}".format(*row["agreement_minus_int8"])),
        ("rel L2", 7, number("relative_l2", ".4f")),
        ("KiB", 8, lambda row: f"{row['size_bytes'] / 1024:.0f}"),
        ("parts", 5, lambda row: ",".join(map(str, row["partitions"]))),
    ]
    for count in threads:
        columns += [
            (f"{count}t ms", 9, number(f"ms_{count}", ".4f")),
            ("vs int8", 7, number(f"vs_int8_{count}", ".3f")),
        ]
    columns.append((" outside", 0, lambda row: " " + str(row["ops_outside"])))
    return text_table(summarised, columns)


def logits_main(args):
    """``--logits``: ``LOGITS_METHODS`` on each zoo entry's ``--models``
    trainings (``--seeds`` conversions each, the whole held-out split) and, unless
    ``--skip-s16``, on Mixer-S/16 at 224 (random weights, head std 0.02,
    ``--s16-images`` digits)."""
    threads, rows = args.threads, []
    counts = args.logits_models or [args.models]
    for index, name in enumerate(args.zoo.split(",")):
        for trained_seed in range(counts[min(index, len(counts) - 1)]):
            folder = os.path.join(
                RESULTS, "quantisation", name if trained_seed == 0 else f"{name}_seed{trained_seed}"
            )
            path = trained(name, folder, trained_seed)
            for seed in range(args.seeds):
                rows += logits_rows(
                    name,
                    path,
                    folder,
                    threads,
                    args.runs,
                    dataset=ZOO[name][0],
                    graph=args.graph,
                    seed=seed,
                )
        print(logits_table(logits_summary(rows, threads), threads), flush=True)
    if not args.skip_s16:
        folder = os.path.join(RESULTS, "quantisation", "s16_random")
        os.makedirs(folder, exist_ok=True)
        rows += logits_rows(
            "S/16 random",
            random_classifier("S16"),
            folder,
            threads,
            max(20, args.runs // 10),
            dataset="digits",
            graph=args.graph,
            eval_images=args.s16_images,
            debug_images=0,
        )
    summarised = logits_summary(rows, threads)
    print(cpu_description())
    print(logits_table(summarised, threads))
    output = args.output or os.path.join(RESULTS, "quantisation_logits.json")
    png = write_results(
        {"cpu": cpu_description(), "threads": threads, "summary": summarised, "rows": rows},
        output,
        lambda path: logits_plot(summarised, threads, path),
    )
    print(f"wrote {output} and {png}")


def logits_plot(summarised, threads, path):
    """Agreement with float and latency relative to the int8-logits file, per zoo entry."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    names = list(dict.fromkeys(row["zoo"] for row in summarised))
    figure, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    width = 0.8 / len(LOGITS_METHODS)
    for i, (method, _) in enumerate(LOGITS_METHODS):
        found = {row["zoo"]: row for row in summarised if row["method"] == method}
        x = np.arange(len(names)) + i * width
        axes[0].bar(x, [found[n]["top1_agreement"] for n in names], width, label=method)
        axes[1].bar(x, [found[n][f"vs_int8_{threads[-1]}"] for n in names], width, label=method)
    for axis, title in zip(
        axes, ("top-1 agreement with float", f"latency / int8-logits file, {threads[-1]} threads")
    ):
        axis.set_xticks(np.arange(len(names)) + width, names)
        axis.set_title(title)
        axis.legend(fontsize=8)
    axes[0].set_ylim(0.95, 1.001)
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zoo", default=",".join(ZOO), help=f"entries of {', '.join(ZOO)}")
    parser.add_argument("--graph", default="xnnpack", choices=("xnnpack", "plain"))
    parser.add_argument(
        "--models", type=int, default=4, help="models trained per zoo entry (train.seed 0..N-1)"
    )
    parser.add_argument(
        "--seeds", type=int, default=2, help="conversions per model and method (seeds 0..N-1)"
    )
    parser.add_argument(
        "--estimators", default=None, help="PTQ range estimators compared (default: all)"
    )
    parser.add_argument(
        "--techniques",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also PTQ with each technique flipped from its default",
    )
    parser.add_argument("--skip-s16", action="store_true", help="leave out the Mixer-S/16 rows")
    parser.add_argument(
        "--logits",
        action="store_true",
        help="compare PTQ files with int8 and float32 logits and the dynamic-range file "
        "(agreement, relative L2, size, partitions, latency side by side) instead",
    )
    parser.add_argument(
        "--threads", default="1,2", help="--logits: LiteRT thread counts (default 1,2)"
    )
    parser.add_argument(
        "--runs", type=int, default=2000, help="--logits: timed runs per file (S/16: a tenth)"
    )
    parser.add_argument(
        "--s16-images", type=int, default=100, help="--logits: S/16's evaluation images"
    )
    parser.add_argument(
        "--logits-models",
        type=lambda text: [int(count) for count in text.split(",")],
        default=None,
        help="--logits: models per zoo entry, comma-separated in --zoo's order (default --models)",
    )
    parser.add_argument("--output", default=None)
    args = parser.parse_args()
    unknown = set(args.zoo.split(",")) - set(ZOO)
    if unknown:
        parser.error(f"unknown zoo entries {sorted(unknown)}; known: {', '.join(ZOO)}")
    print(cpu_description(), flush=True)
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    if args.logits:
        args.threads = tuple(int(count) for count in args.threads.split(","))
        return logits_main(args)
    args.output = args.output or os.path.join(RESULTS, "quantisation.json")
    from convert.modes import ESTIMATORS

    estimators = args.estimators.split(",") if args.estimators else ESTIMATORS
    rows = []
    for name in args.zoo.split(","):
        rows += zoo_rows(name, args.graph, estimators, args.models, args.seeds, args.techniques)
        print(table(summary(rows)), flush=True)
    if not args.skip_s16:
        rows += random_s16_rows(estimators, args.graph)
    summarised, differences = summary(rows), paired(rows)
    print(table(summarised))
    print("QAT against each PTQ method, conversion by conversion (mean +- standard error):")
    print(paired_table(differences))
    png = write_results(
        {
            "cpu": cpu_description(),
            "graph": args.graph,
            "models": args.models,
            "seeds": args.seeds,
            "zoo": {name: ZOO[name] for name in args.zoo.split(",")},
            "summary": summarised,
            "paired": differences,
            "rows": rows,
        },
        args.output,
        lambda path: plot(summarised, path),
    )
    print(f"wrote {args.output} and {png}")


if __name__ == "__main__":
    main()
