"""A model with no confirmed super weight through every table and figure: the experiments that need super weights
wrote "skipped" results; each table keeps the model with the reason, each figure says so, nothing crashes."""
import pandas as pd
import pytest

from superweight.report.figures import down_proj_maxima, scaling_curve, stopword_bars, wquant_curves
from superweight.settings import Plots
from superweight.report.tables import act_quant_table, quant_rows, scaling_rows, table1_rows, table5, table6, write_table
from synth import result
from superweight.detect.used import NONE_USED

WHY = NONE_USED  # the one wording of this skip in every result, table and figure
MODELS = ("good", "nosw")


def _ablation():
    out = []
    for m in MODELS:
        out.append(result(m, condition="original", acc=0.6, ppl=20.0))
        for c, acc, ppl in (("prune_sw", 0.3, 2000.0), ("prune_nonsw", 0.58, 21.0), ("prune_sw_restore_sa", 0.4, 400.0)):
            out.append(result(m, condition=c, status="skipped" if m == "nosw" and c != "prune_nonsw" else "done",
                              acc=acc, ppl=ppl))
    return out


def _wquant():
    out = []
    for m in MODELS:
        for method, sw_factor in (("rtn", None), ("sw_aware", None), ("rtn_keep_sw", 1.0), ("rtn_keep_sw", 1.5)):
            needs_sw = method != "rtn"
            r = result(m, kind="wquant", method=method, bits=4, block=1048576, acc=0.5, ppl=40.0,
                       status="skipped" if m == "nosw" and needs_sw else "done")
            if sw_factor is not None:
                r["sw_factor"] = sw_factor
            out.append(r)
    return out


def _aquant():
    return [result(m, kind="aquant", method=k, acc=0.5, ppl=p,
                   status="skipped" if m == "nosw" and k == "sa_aware" else "done")
            for m in MODELS for k, p in (("fp", 20.0), ("naive", 24.0), ("sa_aware", 21.0), ("smoothquant", 22.0))]


def _notes(df, model):
    return set(df.loc[df["model"] == model, "note"].dropna())


def test_tables_keep_the_model_and_say_why(tmp_path):
    t1 = table1_rows(_ablation())
    assert len(t1) == 8 and WHY in _notes(t1, "nosw") and WHY not in _notes(t1, "good")
    nosw = t1[(t1["model"] == "nosw") & (t1["condition"] == "prune_sw")].iloc[0]
    assert pd.isna(nosw.get("avg")) and pd.notna(t1[(t1["model"] == "nosw") & (t1["condition"] == "original")]["avg"]).all()
    written = write_table(t1, tmp_path / "table1")
    md = next(p for p in written if p.suffix == ".md").read_text()
    assert md.count(WHY) == 2 and "nan" not in md.lower()

    sc = [result(m, kind="scaling", factor=f, acc=0.6, ppl=20.0, status="skipped" if m == "nosw" else "done")
          for m in MODELS for f in (0.0, 1.0, 1.5)]
    rows = scaling_rows(sc)
    assert WHY in _notes(rows, "nosw") and len(rows) == 6
    t5 = table5(sc)
    assert list(t5.loc[t5["model"] == "nosw", "note"]) == [WHY]
    assert (t5["model"] == "good").sum() == len(result()["scores"]["tasks"]) + 1  # every task and the average

    q = quant_rows(_wquant())
    assert _notes(q, "nosw") == {WHY} and (q["model"] == "nosw").sum() == 4
    t6 = table6(q[q["method"].isin(["rtn", "rtn_keep_sw"])])  # the workflow gives Table 6 these two methods
    assert list(t6.loc[t6["model"] == "nosw", "variant"]) == ["RTN", "SW restored x1", "SW restored x1.5"]
    assert list(t6.loc[t6["model"] == "nosw", "note"].fillna("")) == ["", WHY, WHY]
    aq = act_quant_table(_aquant())
    row = aq[(aq["model"] == "nosw") & (aq["method"] == "sa_aware")].iloc[0]
    assert row["note"] == WHY and str(row["% of SmoothQuant gain (Wiki-2)"]).startswith("n/a")
    write_table(aq, tmp_path / "table3")  # renders with the n/a cells


def test_figures_say_no_super_weight_used(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    titles = []
    real_savefig = plt.Figure.savefig

    def savefig(fig, *a, **kw):  # every text on the figure, as drawn
        titles.append(" ".join(t.get_text() for t in fig.findobj(matplotlib.text.Text)))
        return real_savefig(fig, *a, **kw)

    style = Plots(dpi=50, format="png")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(plt.Figure, "savefig", savefig)
        stopword_bars(pd.DataFrame(), {"status": "skipped", "reason": WHY}, "nosw", tmp_path / "stop.png", style)
        sc = [result(m, kind="scaling", factor=f, acc=0.6, ppl=20.0, status="skipped" if m == "nosw" else "done")
              for m in MODELS for f in (0.0, 1.0, 1.5)]
        scaling_curve(scaling_rows(sc), tmp_path / "scaling.png", style)
        wquant_curves(quant_rows(_wquant()), 4, tmp_path / "wquant.png", style)
        layers = pd.DataFrame({"layer": [0, 1, 2], "in_max": [1.0, 2.0, 3.0], "out_max": [1.0, 2.5, 2.0]})
        down_proj_maxima(layers, [], f"nosw: {WHY}", tmp_path / "maxima.png", style,
                         candidates=[{"layer": 1, "row": 3, "col": 4, "ppl_ratio": 1.1, "confirmed": False}])
    for name in ("stop.png", "scaling.png", "wquant.png", "maxima.png"):
        assert (tmp_path / name).stat().st_size > 0, name
    stop, scaling, wquant, maxima = titles
    assert f"nosw: {WHY}" in stop and "not applicable" in stop
    assert f"{WHY}: nosw" in scaling
    assert "good sw_aware" in wquant and "nosw rtn" in wquant  # plain RTN needs no super weight
    assert f"not run: nosw rtn_keep_sw: {WHY}; nosw sw_aware: {WHY}" in wquant
    assert "candidate, not confirmed" in maxima and "confirmed super weight " not in maxima.replace(WHY, "")
