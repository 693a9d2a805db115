#!/usr/bin/python3
"""Side-by-side k-means benchmark: `styleseg cluster` against FAISS and scikit-learn.

Every tool clusters the same HDF5 file (dataset `vectors`, float32 [N, D]) with the same K on
the same machine in one run; every tool's final centroids are then scored by the same numpy
code on the full data set, so the inertia column compares like with like whatever each tool
reports about itself. Two data sets:

  mixture    a seeded Gaussian mixture with uneven cluster sizes (the easy-to-reproduce case)
  generator  per-pixel features of one synthesis layer of a random-weight StyleGAN2 generator,
             made with `styleseg init-gan` + `styleseg generate` (the case styleseg is for)

Data sets are cached under OUT/data (file names carry their parameters) because making the
generator features takes minutes. Run through tools/bench/bench_kmeans.sh, which installs the
Python packages; `--quick` makes a short trial.
"""

import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import h5py
import numpy as np

# Cores used by every tool: the comparison is "each tool with the whole machine".
CORES = os.cpu_count() or 1

# Extra `styleseg cluster` arguments per styleseg row; everything else (file, K, seed,
# threads) is common to all rows and added by run_styleseg.
STYLESEG_LLOYD = ["--algorithm", "lloyd"]  # --iterations is appended from --iterations
STYLESEG_MINIBATCH = ["--algorithm", "minibatch"]


# ----------------------------------------------------------------------------- data sets

@dataclass
class Dataset:
    name: str
    path: Path
    k: int
    description: str
    n: int = 0
    d: int = 0
    load_seconds: float = 0.0
    reference: dict = field(default_factory=dict)  # extra scores shown under the table


def write_atomically(path: Path, fill: Callable[[h5py.File], None]) -> None:
    """Writes an HDF5 file under a temporary name first, so an interrupted run never leaves a
    half-written file that a later run would take for a cached data set."""
    tmp = path.with_name(path.name + ".tmp")
    with h5py.File(tmp, "w") as f:
        fill(f)
    tmp.rename(path)


def make_mixture(path: Path, n: int, d: int, k: int, size_ratio: float, seed: int) -> None:
    """Gaussian mixture with geometric cluster weights (largest/smallest = size_ratio) and
    per-cluster spreads between 0.5 and 1.5: the small clusters are the ones a poor
    initialisation merges, which is where the tools' inertias differ."""
    rng = np.random.default_rng(seed)
    weights = size_ratio ** (-np.arange(k) / (k - 1))
    weights /= weights.sum()
    sizes = np.floor(weights * n).astype(np.int64)
    sizes[0] += n - sizes.sum()
    centers = rng.normal(0.0, 1.0, (k, d))
    spreads = rng.uniform(0.5, 1.5, k)
    # Shuffled, so that mini-batch methods reading the file in order see every cluster.
    labels = rng.permutation(np.repeat(np.arange(k), sizes))
    vectors = (centers[labels] + rng.normal(size=(n, d)) * spreads[labels, None]).astype(np.float32)

    def fill(f: h5py.File) -> None:
        f["vectors"] = vectors
        f["labels"] = labels
        f["centers"] = centers.astype(np.float32)
        f.attrs["seed"] = seed
        f.attrs["size_ratio"] = size_ratio

    write_atomically(path, fill)


def make_generator_features(path: Path, work: Path, bin_path: str, count: int, log_dir: Path) -> None:
    """Random-weight 256x256 config-f generator (512 channels at 64x64), features of layer 7
    (the 64x64 block), reshaped from [C, D, h, w] to [C*h*w, D] so that every tool reads the
    same [N, D] file."""
    work.mkdir(parents=True, exist_ok=True)
    checkpoint = work / "generator.pt"
    features = work / f"features_c{count}.h5"
    if not checkpoint.exists():
        run_logged([bin_path, "init-gan", "--out", str(checkpoint), "--resolution", "256", "--seed", "0"],
                   log_dir / "init-gan.log")
    if not features.exists():
        run_logged([bin_path, "generate", "--checkpoint", str(checkpoint), "--out", str(features),
                    "--count", str(count), "--feature-layer", "7", "--batch", "4", "--seed", "1", "--force"],
                   log_dir / f"generate_c{count}.log")

    def fill(f: h5py.File) -> None:
        with h5py.File(features, "r") as src:
            maps = src["features"]
            c, d, h, w = maps.shape
            out = f.create_dataset("vectors", (c * h * w, d), dtype=np.float32)
            # A few samples at a time: the whole set is 2 GB per copy at the default count.
            step = 8
            for i in range(0, c, step):
                block = maps[i:i + step]
                out[i * h * w:(i + len(block)) * h * w] = block.transpose(0, 2, 3, 1).reshape(-1, d)
            f.attrs["samples"] = c
            f.attrs["feature_shape"] = (d, h, w)

    write_atomically(path, fill)
    features.unlink()  # the [N, D] copy holds the same numbers


# ----------------------------------------------------------------------------- scoring

def score(vectors: np.ndarray, centroids: np.ndarray, chunk: int = 32768):
    """Inertia (sum of squared distances to the nearest centroid, float64) and cluster sizes.

    The nearest centroid comes from ||c||^2 - 2 x.c (float32 matmul; ||x||^2 is the same for
    every centroid). The distance itself is then taken from the residual x - c rather than from
    the expanded form, whose float32 cancellation would cost digits when the clusters are small
    compared with the norms (as with generator features)."""
    c = np.ascontiguousarray(centroids, dtype=np.float32)
    c_sq = np.einsum("kd,kd->k", c, c, dtype=np.float64).astype(np.float32)
    total = 0.0
    counts = np.zeros(len(c), dtype=np.int64)
    for s in range(0, len(vectors), chunk):
        x = vectors[s:s + chunk]
        nearest = (c_sq[None, :] - 2.0 * (x @ c.T)).argmin(axis=1)
        residual = x - c[nearest]
        np.square(residual, out=residual)
        total += residual.sum(axis=1, dtype=np.float64).sum()
        counts += np.bincount(nearest, minlength=len(c))
    return total, counts


# ----------------------------------------------------------------------------- tools

class Unavailable(Exception):
    """The tool cannot run here (row marked "not available")."""


class Failed(Exception):
    """The tool ran and failed (row marked "failed")."""


@dataclass
class Fit:
    centroids: np.ndarray
    seconds: float
    iterations: str
    reported_inertia: Optional[float] = None  # the tool's own last objective, for the JSON
    note: str = ""  # appended to the tool's note (styleseg: its own stage time)


@dataclass
class Tool:
    id: str
    label: str
    run: Callable[["Context", Dataset, np.ndarray, int], Fit]  # (ctx, data set, vectors, seed)
    note: str = ""


@dataclass
class Context:
    bin: str
    out: Path
    iterations: int
    styleseg_missing: Optional[str]  # why `styleseg cluster` cannot run, or None
    seeds: int = 1  # each tool runs with seeds 0..seeds-1: median time, mean inertia


def run_logged(cmd: list, log: Path) -> float:
    """Runs a command with its output in a log file; returns its wall time in seconds."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as f:
        f.write("$ " + " ".join(cmd) + "\n")
        f.flush()
        start = time.perf_counter()
        rc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT).returncode
        seconds = time.perf_counter() - start
    if rc != 0:
        raise Failed(f"exit {rc}, see {log}")
    return seconds


def styleseg_missing(bin_path: str) -> Optional[str]:
    if not os.access(bin_path, os.X_OK):
        return f"no binary at {bin_path}"
    help_run = subprocess.run([bin_path, "cluster", "--help"], capture_output=True)
    if help_run.returncode != 0:
        return "no 'cluster' command in this build"
    return None


def styleseg_row(tool_id: str, label: str, ranks: int, args: list) -> Tool:
    """A `styleseg cluster` row: `ranks` MPI ranks sharing the cores, extra arguments `args`."""
    threads = max(1, CORES // ranks)

    def run(ctx: Context, ds: Dataset, _vectors: np.ndarray, seed: int) -> Fit:
        if ctx.styleseg_missing:
            raise Unavailable(ctx.styleseg_missing)
        launcher = []
        if ranks > 1:
            if not shutil.which("mpirun"):
                raise Unavailable("no mpirun")
            launcher = ["mpirun", "-np", str(ranks), "--allow-run-as-root", "--oversubscribe"]
        out = ctx.out / "runs" / f"{ds.name}_{tool_id}_seed{seed}.h5"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.unlink(missing_ok=True)
        cmd = launcher + [ctx.bin, "cluster", "--features", str(ds.path), "--dataset", "vectors",
                          "--clusters", str(ds.k), "--out", str(out), "--seed", str(seed),
                          "--threads", str(threads)] + args
        # The wall time covers the whole process (start, MPI launch, HDF5 read, output), while
        # the Python rows time the fit alone; the report gives the Python load time beside it.
        seconds = run_logged(cmd, ctx.out / "logs" / f"{ds.name}_{tool_id}_seed{seed}.log")
        with h5py.File(out, "r") as f:
            centroids = f["centroids"][...]
            inertia = f["inertia"][...]
            stage = float(f.attrs["seconds"])  # the stage alone: from the file read to the result
        return Fit(centroids, seconds, str(len(inertia)), float(inertia[-1]) if len(inertia) else None,
                   f"stage {stage:.2f} s")

    note = f"--threads {threads}" + (" per rank" if ranks > 1 else "") + "; whole process"
    return Tool(tool_id, label, run, note)


def faiss_tool(full: bool) -> Callable:
    def run(ctx: Context, ds: Dataset, vectors: np.ndarray, seed: int) -> Fit:
        import faiss
        faiss.omp_set_num_threads(CORES)
        params = dict(niter=ctx.iterations, seed=seed, verbose=False)
        if full:
            # FAISS trains on a random subset of 256*K points unless told otherwise.
            params["max_points_per_centroid"] = len(vectors)
        km = faiss.Kmeans(ds.d, ds.k, **params)
        start = time.perf_counter()
        km.train(vectors)
        seconds = time.perf_counter() - start
        return Fit(km.centroids.copy(), seconds, str(ctx.iterations), float(km.obj[-1]))
    return run


def sklearn_lloyd(ctx: Context, ds: Dataset, vectors: np.ndarray, seed: int) -> Fit:
    from sklearn.cluster import KMeans
    # tol=0: run up to --iterations like FAISS does instead of stopping at sklearn's
    # centre-shift tolerance (it still stops when the assignment no longer changes).
    km = KMeans(n_clusters=ds.k, n_init=1, max_iter=ctx.iterations, tol=0.0, random_state=seed,
                algorithm="lloyd")
    start = time.perf_counter()
    km.fit(vectors)
    seconds = time.perf_counter() - start
    return Fit(km.cluster_centers_, seconds, str(km.n_iter_), float(km.inertia_))


def sklearn_minibatch(ctx: Context, ds: Dataset, vectors: np.ndarray, seed: int) -> Fit:
    from sklearn.cluster import MiniBatchKMeans
    # max_iter counts passes over the data; sklearn's default early stopping (no improvement
    # of the smoothed batch inertia for 10 steps) usually ends it much sooner.
    km = MiniBatchKMeans(n_clusters=ds.k, batch_size=4096, n_init=1, max_iter=ctx.iterations,
                         random_state=seed)
    start = time.perf_counter()
    km.fit(vectors)
    seconds = time.perf_counter() - start
    return Fit(km.cluster_centers_, seconds, f"{km.n_steps_} steps", float(km.inertia_))


def all_tools(iterations: int) -> list:
    lloyd = STYLESEG_LLOYD + ["--iterations", str(iterations)]
    return [
        styleseg_row("styleseg-lloyd", "styleseg lloyd, 1 rank", 1, lloyd),
        styleseg_row("styleseg-lloyd-2r", "styleseg lloyd, 2 ranks", 2, lloyd),
        styleseg_row("styleseg-lloyd-ninit4", "styleseg lloyd, 1 rank, 4 restarts", 1, lloyd + ["--n-init", "4"]),
        # Cheap restarts: 16 k-means++ draws refined on a 16k sample, the best one kept.
        styleseg_row("styleseg-lloyd-trials", "styleseg lloyd, 1 rank, 16 init trials", 1,
                     lloyd + ["--init-trials", "16", "--init-vectors", "16384"]),
        styleseg_row("styleseg-minibatch", "styleseg minibatch, 1 rank", 1, STYLESEG_MINIBATCH),
        Tool("faiss-default", "faiss (default)", faiss_tool(full=False), "trains on 256*K sampled points"),
        Tool("faiss-full", "faiss (full data)", faiss_tool(full=True), "max_points_per_centroid = N"),
        Tool("sklearn-lloyd", "sklearn KMeans lloyd", sklearn_lloyd, "k-means++ init, tol=0"),
        Tool("sklearn-minibatch", "sklearn MiniBatchKMeans", sklearn_minibatch,
             "batch 4096, default early stopping"),
    ]


# ----------------------------------------------------------------------------- report

def run_dataset(ctx: Context, ds: Dataset, tools: list) -> list:
    start = time.perf_counter()
    with h5py.File(ds.path, "r") as f:
        vectors = f["vectors"][...]
        true_centers = f["centers"][...] if "centers" in f else None
    ds.load_seconds = time.perf_counter() - start
    ds.n, ds.d = vectors.shape
    if true_centers is not None:
        ds.reference["inertia at the generating means"] = score(vectors, true_centers)[0]
    print(f"\n== {ds.name}: {ds.n:,} x {ds.d}, K={ds.k} ({ds.path}, read in {ds.load_seconds:.1f} s)",
          flush=True)

    rows = []
    for tool in tools:
        row = {"id": tool.id, "tool": tool.label, "note": tool.note, "status": "ok"}
        try:
            fits = [tool.run(ctx, ds, vectors, seed) for seed in range(ctx.seeds)]
            scores = [score(vectors, fit.centroids) for fit in fits]
            inertias = [inertia for inertia, _ in scores]
            fit = fits[0]
            row.update(seconds=float(np.median([f.seconds for f in fits])), iterations=fit.iterations,
                       inertia=float(np.mean(inertias)), inertia_per_seed=inertias,
                       reported_inertia=fit.reported_inertia, cluster_sizes=scores[0][1].tolist())
            if fit.note:
                row["note"] = f"{row['note']}; {fit.note}" + (" (seed 0)" if ctx.seeds > 1 else "")
            if ctx.seeds > 1:
                row["note"] += f"; inertia over {ctx.seeds} seeds {min(inertias):.4e} to {max(inertias):.4e}"
            print(f"  {tool.label:30s} {row['seconds']:8.2f} s  inertia {row['inertia']:.6e}", flush=True)
        except Unavailable as e:
            row.update(status="not available", reason=str(e))
        except Failed as e:
            row.update(status="failed", reason=str(e))
        if row["status"] != "ok":
            print(f"  {tool.label:30s} {row['status']}: {row['reason']}", flush=True)
        rows.append(row)
    del vectors
    return rows


def table(ds: Dataset, rows: list) -> str:
    done = [r for r in rows if r["status"] == "ok"]
    best = min((r["inertia"] for r in done), default=None)
    faiss = next((r for r in done if r["id"] == "faiss-full"), None) or \
        next((r for r in done if r["id"] == "faiss-default"), None)
    lines = ["| tool | iterations | wall s | inertia | vs best | time vs FAISS | vectors/s | note |",
             "|---|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        if r["status"] != "ok":
            lines.append(f"| {r['tool']} | – | – | – | – | – | – | {r['status']}: {r['reason']} |")
            continue
        rel = r["inertia"] / best - 1.0
        vs_best = "best" if rel == 0.0 else f"{100 * rel:+.2f} %"
        vs_faiss = f"{r['seconds'] / faiss['seconds']:.2f}x" if faiss else "–"
        lines.append(f"| {r['tool']} | {r['iterations']} | {r['seconds']:.2f} | {r['inertia']:.6e} | "
                     f"{vs_best} | {vs_faiss} | {ds.n / r['seconds']:,.0f} | {r['note']} |")
    return "\n".join(lines)


def dataset_section(ds: Dataset, rows: list) -> str:
    refs = "".join(f"- {name}: {value:.6e}\n" for name, value in ds.reference.items())
    return (f"## {ds.name}: {ds.n:,} vectors x {ds.d}, K = {ds.k}\n\n"
            f"{ds.description}. File `{ds.path}`; reading it into Python takes {ds.load_seconds:.2f} s "
            f"(part of the styleseg times, not of the Python ones).\n\n"
            f"{table(ds, rows)}\n\n{refs}")


def machine() -> dict:
    import faiss
    import sklearn
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    except OSError:
        rev = ""
    return {"date": datetime.datetime.now().isoformat(timespec="seconds"), "host": platform.node(),
            "cpu_cores": CORES, "python": platform.python_version(), "numpy": np.__version__,
            "faiss": faiss.__version__, "sklearn": sklearn.__version__, "h5py": h5py.__version__,
            "git": rev}


# ----------------------------------------------------------------------------- main

def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bin", default=os.environ.get("BIN", "build/styleseg"), help="styleseg binary")
    p.add_argument("--out", default=os.environ.get("OUT", "out/bench/kmeans"), help="output folder")
    p.add_argument("--quick", action="store_true", help="short trial: 50k mixture vectors, 20 generator samples")
    p.add_argument("--mixture-n", type=int, help="mixture vectors (default 200000, quick 50000)")
    p.add_argument("--gen-count", type=int,
                   help="generator samples, 4096 vectors each (default 245 -> 1,003,520 vectors; quick 20)")
    p.add_argument("--iterations", type=int, default=50, help="Lloyd iterations (and mini-batch passes cap)")
    p.add_argument("--datasets", default="mixture,generator", help="comma-separated: mixture, generator")
    p.add_argument("--seeds", type=int, default=1,
                   help="runs per tool, seeds 0..N-1: the table shows the median time and the mean inertia "
                        "(one seed's local minimum decides a single run's inertia)")
    p.add_argument("--tools", help="comma-separated tool ids (default all): " +
                   ", ".join(t.id for t in all_tools(50)))
    a = p.parse_args()

    mixture_n = a.mixture_n or (50_000 if a.quick else 200_000)
    gen_count = a.gen_count or (20 if a.quick else 245)
    out = Path(a.out)
    data = out / "data"
    data.mkdir(parents=True, exist_ok=True)
    tools = all_tools(a.iterations)
    if a.tools:
        wanted = a.tools.split(",")
        unknown = set(wanted) - {t.id for t in tools}
        if unknown:
            p.error(f"unknown tool ids: {', '.join(sorted(unknown))}")
        tools = [t for t in tools if t.id in wanted]
    ctx = Context(bin=a.bin, out=out, iterations=a.iterations, styleseg_missing=styleseg_missing(a.bin),
                  seeds=max(1, a.seeds))
    if ctx.styleseg_missing:
        print(f"styleseg cluster not available ({ctx.styleseg_missing}): its rows are skipped")

    datasets = []
    for name in a.datasets.split(","):
        if name == "mixture":
            path = data / f"mixture_n{mixture_n}_d64_k16_s0.h5"
            if not path.exists():
                print(f"making {path}", flush=True)
                make_mixture(path, mixture_n, d=64, k=16, size_ratio=50.0, seed=0)
            datasets.append(Dataset(name, path, 16, "Gaussian mixture, 16 clusters, sizes geometric "
                                    "(largest/smallest = 50), numpy seed 0"))
        elif name == "generator":
            path = data / f"generator_c{gen_count}_l7.h5"
            if not path.exists():
                print(f"making {path} (styleseg init-gan + generate, {gen_count} samples)", flush=True)
                try:
                    make_generator_features(path, data / "generator-work", a.bin, gen_count, out / "logs")
                except (Failed, OSError) as e:
                    print(f"generator data set skipped: {e}")
                    continue
            datasets.append(Dataset(name, path, 8, f"StyleGAN2 features: random-weight 256x256 "
                                    f"generator, layer 7 (64x64), {gen_count} samples as [N*h*w, C]"))
        else:
            p.error(f"unknown data set '{name}'")

    info = machine()
    results = []
    sections = []
    for ds in datasets:
        rows = run_dataset(ctx, ds, tools)
        results.append({"dataset": ds.name, "path": str(ds.path), "n": ds.n, "d": ds.d, "k": ds.k,
                        "load_seconds": ds.load_seconds, "reference": ds.reference, "rows": rows})
        sections.append(dataset_section(ds, rows))

    report = (f"# k-means benchmark\n\n"
              f"{info['date']}, {info['host']}, {CORES} cores; styleseg `{ctx.bin}` (git {info['git']}), "
              f"faiss {info['faiss']}, sklearn {info['sklearn']}, numpy {info['numpy']}.\n\n"
              f"Each tool uses all {CORES} cores, up to {a.iterations} iterations, "
              + (f"seeds 0 to {ctx.seeds - 1}: wall s is the median and inertia the mean over them. "
                 if ctx.seeds > 1 else "K-means seed 0. ") +
              f"Inertia: every tool's final centroids scored by the same numpy code on the full data "
              f"set. Wall s: the fit for the Python tools, the whole `styleseg cluster` process "
              f"(including reading the file) for styleseg. Time vs FAISS: against faiss (full data). "
              f"vectors/s: N / wall s.\n\n" + "\n".join(sections))
    (out / "report.md").write_text(report)
    (out / "results.json").write_text(json.dumps({"machine": info, "iterations": a.iterations,
                                                  "datasets": results}, indent=2))
    print("\n" + report)
    print(f"report: {out / 'report.md'}, raw numbers: {out / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
