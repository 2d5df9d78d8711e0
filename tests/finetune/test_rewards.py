"""Reward plug-ins: python-syntax and doctest score what they claim; a reward that raises or returns NaN
scores the sample 0 and counts it; all samples failing is a one-line error."""
import math

import pytest

from genzoo.errors import ConfigError, DataError
from genzoo.finetune.rewards import (REWARDS, function_source, get_reward, python_syntax, register_reward,
                                     score_completions)

DOUBLE = 'def double(x):\n    """Twice x.\n\n    >>> double(2)\n    4\n    >>> double(-1)\n    -2\n    """\n'


def test_function_source_cuts_where_the_function_ends():
    assert function_source("def f(x):\n", "    return x\nprint(1)\n") == "def f(x):\n    return x\n"
    assert function_source("def f(x):", " return x\n\n# c\nx = (") == "def f(x): return x\n\n"
    assert function_source("def f(\n    x,\n):\n", "    if x:\n\n        return 1\n") == "def f(\n    x,\n):\n    if x:\n\n        return 1\n"


@pytest.mark.parametrize("prompt,completion,expected", [
    ("def f(x):\n", "    return x + 1\n", 1.0),
    ("def f(x):\n", "    return x +\n", 0.0),  # a syntax error
    ("def f(x):\n", "", 0.0),  # no body
    ("def f(x):\n", "    return x\nthis is not python (\n", 1.0),  # the text after the function is cut off
    ("def f(x):\n", "return x\n", 0.0),  # the body is not indented: the function ends at once
    (DOUBLE, "", 0.0),  # a docstring is not a body
    (DOUBLE, "    pass\n", 1.0),
    ("def f(x):\n", "    return '\0'\n", 0.0),  # a NUL byte: not Python source (and no crash)
])
def test_python_syntax(prompt, completion, expected):
    assert python_syntax([prompt], [completion]) == [expected]
    assert get_reward("python-syntax") is python_syntax


def test_doctest_scores_the_share_of_examples_passed():
    completions = ["    return 2 * x\n", "    return x + 2\n", "    return (\n", "    while True:\n        pass\n",
                   "    import os\n    os._exit(3)\n"]
    scores = get_reward("doctest")([DOUBLE] * 5, completions, timeout=2.0)
    assert scores == [1.0, 0.5, 0.0, 0.0, 0.0]  # right, half right, no parse, timeout, crash
    gcd = 'def g(a, b):\n    """\n    >>> g(4, 6)\n    2\n    """\n'
    assert get_reward("doctest")([gcd], ["    return gcd(a, b)\n"], modules=["math"]) == [1.0]  # the module's namespace
    with pytest.raises(DataError, match="no >>> examples"):
        get_reward("doctest")(["def f():\n"], ["    return 1\n"])


def flaky(prompts, completions, **columns):
    if any("boom" in c for c in completions):
        raise RuntimeError("boom")
    return [math.nan if "nan" in c else float(len(c)) for c in completions]


def test_failing_samples_score_zero_and_are_counted():
    scores = score_completions(flaky, ["p"] * 4, ["ab", "boom", "nan", "abcd"], "flaky")
    assert scores.values.tolist() == [2.0, 0.0, 0.0, 4.0]  # the whole call raised: scored one by one
    assert scores.failed == 2 and scores.first_error == "RuntimeError: boom"
    short = score_completions(lambda p, c: [1.0], ["p", "p"], ["a", "b"], "short")
    assert short.failed == 0 and short.values.tolist() == [1.0, 1.0]  # a wrong count is retried per sample
    with pytest.raises(DataError, match=r"reward 'flaky' failed on all 2 samples \(first: RuntimeError: boom\)"):
        score_completions(flaky, ["p", "p"], ["boom", "boom!"], "flaky")
    assert score_completions(flaky, ["p"], ["boom"], "flaky", strict=False).failed == 1


def test_reward_names(tmp_path):
    register_reward("test-length")(lambda prompts, completions, **kw: [len(c) for c in completions])
    try:
        assert get_reward("test-length")(["p"], ["abc"]) == [3]
    finally:
        REWARDS.pop("test-length")
    assert get_reward("math:fsum") is math.fsum  # MODULE:FUNCTION
    with pytest.raises(ConfigError, match="did you mean 'doctest'"):
        get_reward("doctests")
    with pytest.raises(ConfigError, match="cannot import 'nope'"):
        get_reward("math:nope")
    with pytest.raises(Exception, match="no such directory"):
        get_reward(f"model:{tmp_path / 'missing'}")
