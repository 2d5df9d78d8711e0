"""The closing table of the same-run speed benchmarks (``bench_lora.py``, ``bench_dpo.py``)."""
from __future__ import annotations


def print_speed_table(s_per_step: dict[str, float], peak_rss_mb: dict[str, float], trainable: dict[str, int],
                      anchor: str, label: str) -> None:
    """Seconds per step, steps/s, peak RSS and trainable parameters of ``genzoo`` and ``anchor`` (keys of
    the dicts), then the steps/s ratio genzoo/``label`` and the peak-memory ratio."""
    print(f"{'':8} {'s/step':>8} {'steps/s':>8} {'peak RSS MB':>12} trainable")
    for lib in ("genzoo", anchor):
        print(f"{lib:8} {s_per_step[lib]:8.3f} {1 / s_per_step[lib]:8.3f} {peak_rss_mb[lib]:12.0f} {trainable[lib]}")
    print(f"speed ratio genzoo/{label} (steps/s): {s_per_step[anchor] / s_per_step['genzoo']:.2f}x; "
          f"peak memory ratio: {peak_rss_mb['genzoo'] / peak_rss_mb[anchor]:.2f}")
