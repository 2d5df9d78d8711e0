"""Code generation judged by functional correctness: a sandbox for untrusted programs, pass@k, HumanEval."""
from .humaneval import STOP_SEQUENCES, check_program, evaluate_samples, problems, read_samples, truncate_at_stop
from .passk import mean_pass_at_k, pass_at_k
from .sandbox import Limits, RunResult, isolated, run_program, run_programs

__all__ = ["Limits", "RunResult", "STOP_SEQUENCES", "check_program", "evaluate_samples", "mean_pass_at_k",
           "isolated", "pass_at_k", "problems", "read_samples", "run_program", "run_programs", "truncate_at_stop"]
