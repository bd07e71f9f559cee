"""The latency-versus-streams plot of figure 3."""
# One line style per series, in the order given: the headline (stored conversations), plain messages, the stub.
STYLES = ("-", "--", ":")
NAMES = {"p99": "p99 produced → received", "lateness_p99": "p99 lateness vs schedule"}


def latency_vs_streams(series, target_ms, path):
    """Plot p99 added latency and lateness (median of runs, bars from min to max) against the stream count;
    `series` maps each line's label to its sweep ({count: summaries})."""
    # matplotlib takes a second to import and only this figure draws.
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.5), dpi=120)
    for (label, sweep), style in zip(series.items(), STYLES):
        counts = sorted(sweep)
        for key, marker in (("p99", "o"), ("lateness_p99", "s")):
            points = [sweep[n][key] for n in counts]
            middle = [p["median"] for p in points]
            below = [p["median"] - p["min"] for p in points]
            above = [p["max"] - p["median"] for p in points]
            axes.errorbar(counts, middle, yerr=[below, above], linestyle=style, marker=marker, capsize=3,
                          label=f"{label} {NAMES[key]}")
    axes.axhline(target_ms, color="red", linestyle="--", linewidth=1, label=f"target ≤ {target_ms} ms")
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("simultaneous streams, 50 chunks/s each")
    axes.set_ylabel("ms per chunk")
    axes.set_title("Added latency per chunk vs simultaneous streams")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
