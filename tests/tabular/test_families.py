"""Each family trains a few steps on a mixed table and writes rows with the right columns and dtypes;
conditional sampling honours the value (natively for gan/ddpm, by rejection for the others)."""
import pytest
import torch
from table_helpers import mixed_frame, write_csv

import genzoo as gz
from genzoo.cli.runs import train_run
from genzoo.pipelines.tabular import native_label_arg, sample_table

FAMILIES = {"vae": "", "gan": "y", "maf": "", "ddpm": "class_labels", "gaussian-copula": ""}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tab")
    data = f"table:{write_csv(tmp)}"
    return data, {f: train_run(f, data, steps=3, batch_size=32, out=tmp / f, progress=False,
                               overrides={"hidden": 32, "depth": 2} if f in ("gan", "ddpm") else {}) for f in FAMILIES}


@pytest.mark.parametrize("family", FAMILIES)
def test_trains_and_samples_a_typed_frame(runs, family):
    data, dirs = runs
    model = gz.load(dirs[family])  # the transform travels with the saved model
    assert (dirs[family] / "table_transform.json").is_file()
    assert (native_label_arg(model) or "") == FAMILIES[family]
    a = sample_table(model, 12, generator=torch.Generator().manual_seed(0))
    b = sample_table(model, 12, generator=torch.Generator().manual_seed(0))
    real = mixed_frame()
    assert list(a.columns) == list(real.columns) and len(a) == 12
    assert (a.dtypes == real.dtypes).all()
    assert a.equals(b)  # same seed, same rows
    assert set(a["colour"]) <= {"red", "green", "blue"} and set(a["label"]) <= {"big", "small"}


@pytest.mark.parametrize("family", ["gan", "ddpm", "maf"])
def test_condition_is_honoured(runs, family):
    _, dirs = runs
    model = gz.load(dirs[family])
    rows = sample_table(model, 10, generator=torch.Generator().manual_seed(1), condition={"label": "small"})
    assert len(rows) == 10 and (rows["label"] == "small").all()


def test_native_labels_follow_training_frequencies(runs):
    """Unconditioned rows of a label-conditional model draw labels from the data, not uniformly."""
    _, dirs = runs
    model = gz.load(dirs["gan"])
    seen, original = [], model.sample

    def spy(n, generator=None, y=None):
        seen.append(y.clone())
        return original(n, generator=generator, y=y)

    model.sample = spy
    sample_table(model, 3000, generator=torch.Generator().manual_seed(0))
    counts = model.table_transform.column("label")["counts"]
    share = torch.cat(seen).float().mean().item()
    assert abs(share - counts[1] / sum(counts)) < 0.03 and counts[0] != counts[1]


def test_rejection_gives_up_with_a_one_line_error(runs):
    from genzoo.errors import DataError

    _, dirs = runs
    model = gz.load(dirs["gaussian-copula"])
    with pytest.raises(DataError, match=r"only \d+ of 2000 rows with colour=blue in 1 draws") as e:
        sample_table(model, 2000, generator=torch.Generator().manual_seed(0), condition={"colour": "blue"}, max_draws=1)
    assert "\n" not in str(e.value)
