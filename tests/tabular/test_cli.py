"""genzoo train/sample/eval on tables, and bad input: one-line errors, exit code 2."""
import pandas as pd
import pytest
from cli_run import run_cli
from table_helpers import write_csv


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from genzoo.cli.runs import train_run

    tmp = tmp_path_factory.mktemp("cli")
    data = f"table:{write_csv(tmp)}"
    return data, train_run("gaussian-copula", data, steps=2, out=tmp / "run", progress=False), tmp


def test_sample_condition_to_csv_and_eval_it(run, capsys):
    data, out, tmp = run
    code, _, err = run_cli(["sample", out, "-n", 15, "--condition", "colour=green", "--out", tmp / "s.csv"], capsys)
    assert code == 0, err
    rows = pd.read_csv(tmp / "s.csv")
    assert len(rows) == 15 and (rows["colour"] == "green").all()  # gaussian-copula: by rejection
    code, out_text, err = run_cli(["eval", tmp / "s.csv", "--data", data, "--metrics", "tstr,dcr", "--json"], capsys)
    assert code == 0, err
    assert '"tstr_ratio"' in out_text and '"dcr"' in out_text


@pytest.mark.parametrize("args,message", [
    (["--condition", "colour=purple"], "error: column 'colour' has no value 'purple' in training"),
    (["--condition", "shade=red"], "error: the table has no column 'shade'"),
    (["--condition", "size=3"], "error: column 'size' is numeric"),
    (["--condition", "colour"], "error: --condition 'colour': write COLUMN=VALUE"),
    (["--out", "rows.png"], "error: --out rows.png: rows of a table are written as CSV"),
])
def test_bad_sample_input(run, capsys, args, message):
    _, out, tmp = run
    code, _, err = run_cli(["sample", out, "-n", 5, *args], capsys)
    assert code == 2 and err.startswith(message) and err.count("\n") == 1, err


def test_bad_tables(tmp_path, capsys):
    (tmp_path / "empty.csv").write_text("")
    code, _, err = run_cli(["train", "vae", "--data", f"table:{tmp_path / 'empty.csv'}", "--out", tmp_path / "r"], capsys)
    assert code == 2 and err.startswith("error: table:") and "empty" in err and err.count("\n") == 1, err
    code, _, err = run_cli(["train", "vae", "--data", "table:" + str(tmp_path / "nope.csv"), "--out", tmp_path / "r"], capsys)
    assert code == 2 and "no such file" in err and err.count("\n") == 1
    table = write_csv(tmp_path)
    code, _, err = run_cli(["train", "vae", "--data", f"table:{table}", "--data-arg", "types=flag:ordinal",
                            "--out", tmp_path / "r"], capsys)
    assert code == 2 and err.startswith("error: column 'flag' has unknown type 'ordinal'; use one of numeric, categorical"), err
    assert err.count("\n") == 1
    code, _, err = run_cli(["eval", tmp_path / "empty.csv", "--data", "wine", "--metrics", "tstr"], capsys)
    assert code == 2 and "empty" in err and err.count("\n") == 1
    assert not (tmp_path / "r").exists()


def test_condition_on_a_non_table_model(tmp_path, capsys):
    from genzoo.cli.runs import train_run

    out = train_run("gaussian", "moons", steps=1, out=tmp_path / "g", progress=False)
    code, _, err = run_cli(["sample", out, "-n", 3, "--condition", "a=b"], capsys)
    assert code == 2 and err.startswith("error: --condition is for models trained on tables") and err.count("\n") == 1


def test_eval_of_rows_that_do_not_fit_the_table(run, tmp_path, capsys):
    data, _, _ = run
    pd.DataFrame({"alcohol": [1.0, 2.0]}).to_csv(tmp_path / "other.csv", index=False)
    code, _, err = run_cli(["eval", tmp_path / "other.csv", "--data", data, "--metrics", "dcr"], capsys)
    assert code == 2 and err.startswith("error: the synthetic rows lack column 'size'") and err.count("\n") == 1, err
    rows = pd.read_csv(run[2] / "mixed.csv").assign(size="big")
    rows.to_csv(tmp_path / "text.csv", index=False)
    code, _, err = run_cli(["eval", tmp_path / "text.csv", "--data", data, "--metrics", "dcr"], capsys)
    assert code == 2 and err.startswith("error: column 'size' of the synthetic rows holds non-numbers") and err.count("\n") == 1, err
