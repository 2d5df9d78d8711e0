"""Run MOSES' own metric code (molsets 0.3.1, ``moses.metrics.get_all_metrics``) on a SMILES file.

Used by tests/molecules (parity) and benchmarks/moses_table.py (speed); genzoo itself never imports
molsets. molsets 0.3.1 no longer imports on current libraries, so two shims are installed first, in
this process only: ``rdkit.six`` (removed from RDKit; its SA scorer imports ``iteritems``) and
``pandas.DataFrame.append`` (removed in pandas 2; it joins the MCF and PAINS tables).

    python benchmarks/moses_reference.py GEN.smi OUT.json [--test T.smi --test-sf S.smi --train R.smi]

Without --test/--train it scores against MOSES' default split (test statistics from its npz files).
Writes the metrics and the seconds ``get_all_metrics`` took.
"""
import argparse
import json
import sys
import time
import types


def install_shims():
    import pandas as pd

    six = types.ModuleType("rdkit.six")
    six.iteritems = lambda d: iter(d.items())
    six.PY3 = True
    sys.modules.setdefault("rdkit.six", six)
    if not hasattr(pd.DataFrame, "append"):
        pd.DataFrame.append = lambda self, other, sort=False, ignore_index=False: pd.concat(
            [self, other], sort=sort, ignore_index=ignore_index)


def read(path):
    return [line.strip() for line in open(path)] if path else None


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("gen")
    p.add_argument("out")
    p.add_argument("--test")
    p.add_argument("--test-sf")
    p.add_argument("--train")
    p.add_argument("--k", default="1000,10000")
    p.add_argument("--n-jobs", type=int, default=1)
    a = p.parse_args(argv)
    install_shims()
    import warnings

    warnings.filterwarnings("ignore")
    from moses.metrics import get_all_metrics

    gen = read(a.gen)
    t = time.perf_counter()
    metrics = get_all_metrics(gen, k=[int(k) for k in a.k.split(",")], n_jobs=a.n_jobs, test=read(a.test),
                              test_scaffolds=read(a.test_sf), train=read(a.train))
    seconds = time.perf_counter() - t
    json.dump({"metrics": {k: float(v) for k, v in metrics.items()}, "seconds": seconds}, open(a.out, "w"), indent=1)


if __name__ == "__main__":
    main()
