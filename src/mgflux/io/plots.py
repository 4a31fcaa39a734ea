"""PNG plots of a time course (matplotlib, Agg backend: no screen needed)."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_run(result, out_dir: str | Path) -> list[Path]:
    """Write serum, urine, pools and segment-share plots for a :class:`RunResult`; return the paths."""
    plt = _plt()
    out = Path(out_dir)
    t = result.time_day
    paths = []

    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(t, result["serum_mg_total_mM"], label="total")
    ax.plot(t, result["serum_mg_ionized_mM"], label="ionised")
    ax.axhline(0.7, color="crimson", ls="--", lw=1, label="0.7 mM (hypomagnesemia)")
    ax.set_xlabel("time (day)")
    ax.set_ylabel("serum Mg (mM)")
    ax.set_title(f"{result.scenario}: serum Mg")
    ax.legend()
    paths.append(_save(fig, out / "serum.png", plt))

    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(t, result["urine_mg_mmol_per_day"], label="urine")
    ax.plot(t, result["absorbed_mmol_per_day"], label="net absorbed")
    ax.plot(t, result["intake_mmol_per_day"], label="intake", alpha=0.6)
    ax.set_xlabel("time (day)")
    ax.set_ylabel("mmol/day")
    ax2 = ax.twinx()
    ax2.plot(t, result["femg_percent"], color="grey", ls=":", label="FEMg (%)")
    ax2.set_ylabel("FEMg (%)")
    ax.set_title(f"{result.scenario}: urinary Mg and absorption")
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, loc="best")
    paths.append(_save(fig, out / "urine.png", plt))

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    axes[0].plot(t, result["body_mg_mmol"], label="body")
    axes[0].plot(t, result["bone_pool_mmol"], label="bone")
    axes[0].plot(t, result["intracellular_pool_mmol"], label="intracellular")
    axes[0].set_ylabel("mmol")
    axes[0].set_xlabel("time (day)")
    axes[0].set_title("Mg pools")
    axes[0].legend()
    axes[1].plot(t, result["trpm6_relative"], label="TRPM6 expression")
    axes[1].plot(t, result["dct_mass_relative"], label="DCT mass")
    axes[1].axhline(1.0, color="grey", lw=0.8)
    axes[1].set_xlabel("time (day)")
    axes[1].set_ylabel("relative to baseline")
    axes[1].set_title("adaptation")
    axes[1].legend()
    paths.append(_save(fig, out / "pools.png", plt))

    fig, ax = plt.subplots(figsize=(7, 4))
    pt, tal, dct = result["reabsorbed_pt_percent"], result["reabsorbed_tal_percent"], result["reabsorbed_dct_percent"]
    ax.stackplot(t, pt, tal, dct, result["femg_percent"], labels=["PT", "TAL", "DCT", "urine (FEMg)"], alpha=0.85)
    ax.set_ylim(0, 100)
    ax.set_xlabel("time (day)")
    ax.set_ylabel("% of filtered load")
    ax.set_title(f"{result.scenario}: where filtered Mg goes")
    ax.legend(loc="lower left")
    paths.append(_save(fig, out / "segments.png", plt))
    if "serum_ca_total_mM" in result.timecourse:
        paths.append(_plot_calcium(result, t, out, plt))
    return paths


def _plot_calcium(result, t, out: Path, plt) -> Path:
    """Ca/PTH panel: serum Ca (total, ionised) with the CTCAE hypocalcaemia limit, PTH and calcitriol, urine Ca."""
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    axes[0].plot(t, result["serum_ca_total_mM"], label="total")
    axes[0].plot(t, result["serum_ca_ionized_mM"], label="ionised")
    axes[0].axhline(2.10, color="crimson", ls="--", lw=1, label="2.10 mM (hypocalcaemia)")
    axes[0].set_ylabel("serum Ca (mM)")
    axes[0].set_title("serum Ca")
    axes[0].legend()
    axes[1].plot(t, result["pth_pg_per_mL"], label="PTH (pg/mL)")
    axes[1].axhspan(15, 65, color="grey", alpha=0.15, label="PTH reference 15-65")
    axes[1].set_ylabel("PTH (pg/mL)")
    ax2 = axes[1].twinx()
    ax2.plot(t, result["calcitriol_pM"], color="tab:orange", label="calcitriol (pM)")
    ax2.set_ylabel("calcitriol (pM)")
    h1, l1 = axes[1].get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    axes[1].legend(h1 + h2, l1 + l2, loc="best")
    axes[1].set_title("PTH and calcitriol")
    axes[2].plot(t, result["urine_ca_mmol_per_day"], label="urine Ca (mmol/day)")
    ax3 = axes[2].twinx()
    ax3.plot(t, result["urine_ca_creatinine_ratio"], color="grey", ls=":", label="Ca/creatinine (mmol/mmol)")
    ax3.axhline(0.7, color="crimson", ls="--", lw=1, label="0.7 (hypercalciuria)")
    ax3.set_ylabel("Ca/creatinine")
    h1, l1 = axes[2].get_legend_handles_labels()
    h2, l2 = ax3.get_legend_handles_labels()
    axes[2].legend(h1 + h2, l1 + l2, loc="best")
    axes[2].set_title("urinary Ca")
    for ax in axes:
        ax.set_xlabel("time (day)")
    fig.suptitle(f"{result.scenario}: calcium, PTH, calcitriol")
    return _save(fig, out / "calcium.png", plt)


def _save(fig, path: Path, plt, dpi: int = 110) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


def plot_tornado(names, values, path, title, xlabel, conf=None, top: int = 15) -> Path:
    """A tornado plot of the *top* largest |values| (with error bars *conf*) into *path*."""
    plt = _plt()
    values = np.asarray(values, dtype=float)
    order = np.argsort(-np.abs(values))[:top][::-1]
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(order) + 1.5))
    colors = ["tab:blue" if values[i] >= 0 else "tab:red" for i in order]
    ax.barh([names[i] for i in order], values[order], color=colors,
            xerr=None if conf is None else np.asarray(conf)[order])
    ax.axvline(0, color="black", lw=0.8)
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    return _save(fig, Path(path), plt, dpi=120)


def plot_comparison(c, path) -> None:
    """The kidney and gut waterfalls of a :func:`mgflux.compare` result (and the Ca one beside them) into *path*."""
    plt = _plt()
    h, p = c.healthy.observables, c.patient.observables
    calcium = "ca_filtered_load" in h
    if calcium:  # Mg kidney, Ca kidney beside it, gut
        fig, ax3 = plt.subplots(1, 3, figsize=(16, 4.2), gridspec_kw={"width_ratios": [5, 5, 3]})
        axes, ax_ca = [ax3[0], ax3[2]], ax3[1]
    else:
        fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), gridspec_kw={"width_ratios": [5, 3]})
    labels = ["filtered", "PT", "TAL", "DCT", "urine"]
    keys = ["filtered_load", "pt_reabsorption", "tal_reabsorption", "dct_reabsorption", "urine_rate"]
    x = np.arange(len(labels))
    axes[0].bar(x - 0.2, [h[k] for k in keys], 0.4, label="healthy")
    axes[0].bar(x + 0.2, [p[k] for k in keys], 0.4, label=c.scenario)
    axes[0].set_xticks(x, labels)
    axes[0].set_ylabel("mmol/day")
    axes[0].set_title("kidney: filtered and reabsorbed per segment")
    axes[0].legend()
    glabels = ["intake", "absorbed", "secreted", "faeces"]
    gh = [c.healthy["intake_mmol_per_day"], h["flux_si_absorption"] + h["flux_colon_absorption"],
          h["flux_endogenous_secretion"], c.healthy["faecal_mg_mmol_per_day"]]
    gp = [c.patient["intake_mmol_per_day"], p["flux_si_absorption"] + p["flux_colon_absorption"],
          p["flux_endogenous_secretion"], c.patient["faecal_mg_mmol_per_day"]]
    xg = np.arange(len(glabels))
    axes[1].bar(xg - 0.2, gh, 0.4, label="healthy")
    axes[1].bar(xg + 0.2, gp, 0.4, label=c.scenario)
    axes[1].set_xticks(xg, glabels)
    axes[1].set_title("gut (Mg)")
    if calcium:  # the Ca waterfall beside the Mg one (same segments, shared TAL terms)
        axes[0].set_title("kidney Mg per segment")
        ckeys = ["ca_filtered_load", "ca_pt_reabsorption", "ca_tal_reabsorption", "ca_dct_reabsorption", "ca_urine_rate"]
        ax_ca.bar(x - 0.2, [h[k] for k in ckeys], 0.4, label="healthy")
        ax_ca.bar(x + 0.2, [p[k] for k in ckeys], 0.4, label=c.scenario)
        ax_ca.set_xticks(x, ["filtered", "PT", "TAL", "DCT/CNT", "urine"])
        ax_ca.set_yscale("log")
        ax_ca.set_ylabel("mmol/day (log scale)")
        ax_ca.set_title("kidney Ca per segment")
        ax_ca.legend()
    _save(fig, path, plt)
