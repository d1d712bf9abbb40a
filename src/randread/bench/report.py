"""Render a benchmark report: rich tables on a terminal, JSON, and a PNG plot."""

from __future__ import annotations

import importlib
import json
from typing import TYPE_CHECKING, Any

from rich.table import Table

if TYPE_CHECKING:
    from pathlib import Path

    from rich.console import Console

__all__ = ["percent_shares", "print_report", "write_json", "write_plot"]

_PHASES = ("lookup", "io", "decode", "checksum", "other")


def _mib(size: float) -> str:
    return f"{size / (1 << 20):.2f}"


def _build(machine: dict[str, Any]) -> str:
    """Say whether threads can run Python code in parallel (reports before 0.2 lack the keys)."""
    gil = "GIL on" if machine.get("gil_enabled", True) else "GIL off"
    return f"free-threaded build, {gil}" if machine.get("free_threaded") else gil


def print_report(report: dict[str, Any], console: Console) -> None:
    """Print the summary, the cost breakdown and the thread scaling tables."""
    corpus = report["corpus"]
    machine = report["machine"]
    console.print(
        f"Corpus: {corpus['description']}: {corpus['entries']} entries, "
        f"{_mib(corpus['total_bytes'])} MiB, mean {corpus['mean_entry_bytes'] / 1024:.1f} KiB"
    )
    console.print(
        f"Machine: Python {machine['python']} ({_build(machine)}) on {machine['platform']}, "
        f"{machine['cpus']} CPUs, deflate backend {machine['deflate_backend']}"
    )
    results = report["results"]
    baseline = results[0]
    summary = Table(title="Random single-entry reads (µs per read; x = speed-up over zipfile)")
    for column in ("format", "size MiB", "open µs", "uniform µs", "x", "zipf µs", "scan MB/s"):
        summary.add_column(column, justify="left" if column == "format" else "right")
    for result in results:
        summary.add_row(
            result["format"],
            _mib(result["file_size"]),
            f"{result['open_us']:.0f}",
            f"{result['uniform_us']:.1f}",
            f"{baseline['uniform_us'] / result['uniform_us']:.2f}",
            f"{result['zipf_us']:.1f}",
            f"{result['scan_mb_per_s']:.0f}",
        )
    console.print(summary)

    breakdown = Table(title="Where a read's time goes (µs per read, and share of the total)")
    breakdown.add_column("format")
    for phase in (*_PHASES, "total"):
        breakdown.add_column(phase, justify="right")
    for result in results:
        parts = result["breakdown_us"]
        if "decode" not in parts:
            continue
        shares = percent_shares([parts[phase] for phase in _PHASES])
        breakdown.add_row(
            result["format"],
            *(
                f"{parts[phase]:.1f} ({share}%)"
                for phase, share in zip(_PHASES, shares, strict=True)
            ),
            f"{parts['total']:.1f}",
        )
    console.print(breakdown)

    threads = sorted({int(n) for result in results for n in result["threads_ops_per_s"]})
    scaling = Table(title="Threads sharing one reader (reads per second; x = ratio to 1 thread)")
    scaling.add_column("format")
    for count in threads:
        scaling.add_column(f"{count} thr", justify="right")
        scaling.add_column("x", justify="right")
    failures = []
    for result in results:
        ops = {int(n): value for n, value in result["threads_ops_per_s"].items()}
        one = ops.get(1) or next(value for value in ops.values() if value)
        cells = []
        for count in threads:
            value = ops.get(count)
            cells += ["failed", ""] if value is None else [f"{value:,.0f}", f"{value / one:.2f}"]
        scaling.add_row(result["format"], *cells)
        if result.get("threads_failure"):
            failures.append(f"{result['format']}: {result['threads_failure']}")
    console.print(scaling)
    for failure in failures:
        console.print(f"Shared by threads, {failure}")


def write_json(report: dict[str, Any], path: Path) -> None:
    """Write the report as JSON."""
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


def percent_shares(values: list[float]) -> list[int]:
    """Whole percentages of ``values``' sum that add up to exactly 100 (largest remainders)."""
    whole = sum(values)
    if whole <= 0:
        return [0] * len(values)
    exact = [100 * value / whole for value in values]
    shares = [int(share) for share in exact]
    by_remainder = sorted(
        range(len(values)), key=lambda index: exact[index] - shares[index], reverse=True
    )
    for index in by_remainder[: 100 - sum(shares)]:
        shares[index] += 1
    return shares


def write_plot(report: dict[str, Any], path: Path) -> None:
    """Write a PNG: µs per read by format (stacked by phase) and thread scaling.

    Needs matplotlib (``pip install 'randread[plot]'``).
    """
    try:
        matplotlib = importlib.import_module("matplotlib")
    except ImportError:
        msg = "--plot needs matplotlib: pip install 'randread[plot]'"
        raise RuntimeError(msg) from None
    matplotlib.use("Agg")
    pyplot = importlib.import_module("matplotlib.pyplot")
    results = report["results"]
    names = [result["format"] for result in results]
    figure, (left, right) = pyplot.subplots(1, 2, figsize=(13, 5))
    bottoms = [0.0] * len(results)
    for phase in _PHASES:
        values = [result["breakdown_us"].get(phase, 0.0) for result in results]
        left.barh(names, values, left=bottoms, label=phase)
        bottoms = [b + v for b, v in zip(bottoms, values, strict=True)]
    for index, result in enumerate(results):
        if "decode" not in result["breakdown_us"]:
            left.barh(names[index], result["uniform_us"], color="grey")
    left.invert_yaxis()
    left.set_xlabel("µs per random read")
    left.set_title("Where a read's time goes")
    left.legend()
    for result in results:
        ops = {int(n): value for n, value in result["threads_ops_per_s"].items() if value}
        counts = sorted(ops)
        right.plot(
            counts, [ops[n] / ops[counts[0]] for n in counts], marker="o", label=result["format"]
        )
    right.set_xlabel("threads sharing one reader")
    right.set_ylabel("throughput / one thread")
    right.set_title("Thread scaling")
    right.legend(fontsize="small")
    figure.suptitle(f"randread bench: {report['corpus']['description']}")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    pyplot.close(figure)
