"""Greedy decoding speed: genzoo GPT vs transformers GPT2LMHeadModel, same process, same weights.

Random-weight GPT-2 shapes (nothing downloaded): the transformers model is built from a GPT2Config,
saved, and loaded into genzoo with ``GPT.from_pretrained`` (the HF conversion path). Both decode the
same 16-token prompt greedily for 128 new tokens; the tokens must be identical in fp32.

Batch-1 decoding of the 124M shape reads every weight once per token, so its speed is bounded by
memory bandwidth: tokens/s ≤ copy bandwidth / weight bytes. The script measures the copy bandwidth
and prints that limit and how close each implementation gets. ``--modes bf16,int8,int8-dynamic`` adds
genzoo's reduced-precision formats (int8 = weight-only; int8-dynamic also quantises activations), reporting speed against transformers fp32, token agreement and the
relative perplexity change on held-out tokens (``--ppl-model DIR --ppl-data pystdlib`` measures it
on real text with a trained model instead of the random-weight one).

    python benchmarks/bench_decode.py                       # everything (a few minutes)
    python benchmarks/bench_decode.py --shape 10M --new 32  # a first look
    python benchmarks/bench_decode.py --shape 10M --new 200 --protocol issue  # issue 21's measurement
"""
from __future__ import annotations

import argparse
import math
import tempfile
import time

import torch

SHAPES = {
    "124M": dict(n_layer=12, n_head=12, n_embd=768, vocab_size=50257, n_positions=1024),
    "10M": dict(n_layer=6, n_head=6, n_embd=384, vocab_size=65, n_positions=256),
}


def copy_bandwidth(mb: int = 512, repeats: int = 5) -> float:
    """Bytes/s of a large tensor copy (read + write both counted)."""
    a = torch.empty(mb * 2**20 // 4)
    b = torch.empty_like(a)
    a.fill_(1.0)
    b.copy_(a)
    best = min(_cpu_timed(lambda: b.copy_(a)) for _ in range(repeats))
    return 2 * a.numel() * 4 / best


def _cpu_timed(fn) -> float:
    """CPU seconds of this process (steadier than wall time on a shared machine)."""
    t = time.process_time()
    fn()
    return time.process_time() - t


def weight_bytes(model: torch.nn.Module) -> int:
    """Bytes read per decoded token: the blocks, the final norm and the LM head (the embedding
    tables are only indexed, one row each, unless the head is tied to them)."""
    if not hasattr(model, "transformer"):  # a transformers model: everything once
        modules = [model]
    else:
        modules = [model.transformer.h, model.transformer.ln_f, model.lm_head]
    seen, total = set(), 0
    for module in modules:
        for m in module.modules():
            if getattr(m, "packed", None) is not None:  # fbgemm-packed int8 weights (what is read) replace the int8 buffer
                if isinstance(getattr(m, "weight", None), torch.Tensor):
                    seen.add(m.weight.data_ptr())
                total += m.in_features * m.out_features + 4 * m.out_features
        for t in list(module.parameters()) + list(module.buffers()):
            if t.data_ptr() not in seen:
                seen.add(t.data_ptr())
                total += t.numel() * t.element_size()
    return total


def decode_hf(hf, prompt, new):
    return hf.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=new, min_new_tokens=new,
                       do_sample=False, pad_token_id=0, eos_token_id=None)


def decode_gz(model, prompt, new):
    return model.generate(prompt, max_new_tokens=new, eos_token_id=None)


def best_times(fns: dict, repeats: int) -> dict:
    """{name: (best wall seconds, best CPU seconds of this process, output)} over ``repeats`` rounds.

    The implementations run interleaved (one call of each per round), so a machine whose speed
    drifts slows all of them alike and the ratios stay comparable. On a shared machine the CPU time
    is the steadier figure: it leaves out the time other processes held the core (it still
    includes memory-bandwidth contention)."""
    best = {name: (math.inf, math.inf, None) for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            w, c = time.perf_counter(), time.process_time()
            out = fn()
            wall, cpu = time.perf_counter() - w, time.process_time() - c
            best[name] = (min(best[name][0], wall), min(best[name][1], cpu), out)
    return best


@torch.inference_mode()
def perplexity(model, x: torch.Tensor) -> float:
    lp = model.token_log_probs(x)[:, 1:]  # next-token predictions only
    return math.exp(-lp.float().mean().item())


def run_shape(name, batches, new, prompt_len, modes, repeats, bandwidth, ppl_tokens):
    from transformers import GPT2Config, GPT2LMHeadModel

    from genzoo.models.gpt import GPT

    torch.manual_seed(0)
    hf = GPT2LMHeadModel(GPT2Config(**SHAPES[name], bos_token_id=0, eos_token_id=0)).eval()
    with tempfile.TemporaryDirectory() as d:
        hf.save_pretrained(d)
        models = {"fp32": GPT.from_pretrained(d)}
        for mode in modes:
            if mode != "fp32":  # "fp32-t": fp32 in the (in, out) layout, quantize("fp32")
                models[mode] = GPT.from_pretrained(d).quantize("fp32" if mode == "fp32-t" else mode)
    vocab = SHAPES[name]["vocab_size"]
    prompt = torch.randint(0, vocab, (1, prompt_len), generator=torch.Generator().manual_seed(1))
    decode_hf(hf, prompt, 4), decode_gz(models["fp32"], prompt, 4)  # warm up
    wbytes = weight_bytes(models["fp32"])
    limit = bandwidth / wbytes
    print(f"\n== {name}: {sum(p.numel() for p in models['fp32'].parameters()) / 1e6:.1f}M params, "
          f"{wbytes / 1e6:.0f} MB fp32 weights -> batch-1 bandwidth limit {limit:.1f} tok/s")
    rows = []
    for batch in batches:
        p = prompt.repeat(batch, 1)
        fns = {"transformers fp32": lambda: decode_hf(hf, p, new)}
        fns.update({f"genzoo {mode}": (lambda m=model: decode_gz(m, p, new)) for mode, model in models.items()})
        times = best_times(fns, repeats)
        w_hf, c_hf, out_hf = times.pop("transformers fp32")
        hf_tps, hf_cpu = batch * new / w_hf, batch * new / c_hf
        extra = f"{100 * hf_cpu / limit:.0f}% of {limit:.0f}" if batch == 1 else ""
        rows.append((name, batch, "transformers fp32", hf_tps, 1.0, hf_cpu, 1.0, "-", extra))
        for (impl, (w, c, out)), model in zip(times.items(), models.values()):
            same = (out == out_hf)[:, prompt_len:].float().mean().item()
            tps, cpu = batch * new / w, batch * new / c
            extra = ""
            if batch == 1:
                lim = bandwidth / weight_bytes(model)
                extra = f"{100 * cpu / lim:.0f}% of {lim:.0f}"
            rows.append((name, batch, impl, tps, tps / hf_tps, cpu, cpu / hf_cpu, f"{100 * same:.1f}%", extra))
    held_out = torch.randint(0, vocab, (4, 64), generator=torch.Generator().manual_seed(2)) if ppl_tokens is None else ppl_tokens
    if ppl_tokens is None:
        ref = perplexity(models["fp32"], held_out)
        for mode, model in models.items():
            print(f"   perplexity ({mode}, random held-out tokens): {perplexity(model, held_out):.4f} "
                  f"({100 * (perplexity(model, held_out) / ref - 1):+.3f}% vs fp32)")
    return rows


def ppl_on_text(model_dir: str, data: str, modes) -> None:
    """Relative perplexity change of bf16 / int8 weights on held-out text with a trained model."""
    import genzoo as gz
    from genzoo.models.gpt import GPT
    from genzoo.nn.quantized import Int8Linear

    test = gz.load_dataset(data, split="test")
    x = test.x[:64]
    ref = perplexity(GPT.from_pretrained(model_dir), x)
    print(f"\n== held-out {data} ({x.numel()} tokens), model {model_dir}: fp32 perplexity {ref:.4f}")
    for mode in modes:
        if mode == "fp32":
            continue
        model = GPT.from_pretrained(model_dir).quantize("fp32" if mode == "fp32-t" else mode)
        ppl = perplexity(model, x)
        print(f"   {mode}: perplexity {ppl:.4f} ({100 * (ppl / ref - 1):+.3f}% vs fp32)")
        int8 = [m for m in model.modules() if isinstance(m, Int8Linear)]
        for kernel in int8[0].kernels() if int8 else ():  # quantize keeps the faster kernel: show each one
            for m in int8:
                m.kernel = kernel
            ppl = perplexity(model, x)
            print(f"   {mode}, {kernel} kernel: perplexity {ppl:.4f} ({100 * (ppl / ref - 1):+.3f}% vs fp32)")


def issue_protocol(name: str, new: int, prompt_len: int, rounds: int, batch: int = 1, forced: bool = False) -> None:
    """Issue 21's measurement: random weights saved by transformers' GPT2LMHeadModel and loaded with
    ``GPT.from_pretrained``; ``torch.inference_mode``; default threads; transformers called with
    ``min_new_tokens=new, pad_token_id=0``, genzoo with a plain ``model.generate(p, max_new_tokens=new,
    do_sample=False)`` (the default path). Also genzoo with ``decode_split = 1`` (one ``addmm`` per
    layer: the default path before the timed split) and, with ``forced``, with the split forced to the
    thread count.
    ``rounds`` interleaved rounds (one call of each per round); prints every round's ratio
    transformers time / genzoo time, their median, and the ratio of the best times."""
    import os
    import statistics

    import transformers
    from transformers import GPT2Config, GPT2LMHeadModel

    from genzoo.models.gpt import GPT
    from genzoo.nn.decode_kernels import SPLIT_CHOICES
    from genzoo.nn.decode_step import decode_split

    transformers.logging.set_verbosity_error()
    torch.manual_seed(0)
    hf = GPT2LMHeadModel(GPT2Config(**SHAPES[name], bos_token_id=0, eos_token_id=0)).eval()
    with tempfile.TemporaryDirectory() as d:
        hf.save_pretrained(d)
        models = {"genzoo default": GPT.from_pretrained(d), "genzoo addmm (before)": GPT.from_pretrained(d)}
        if forced:
            models["genzoo split (forced)"] = GPT.from_pretrained(d)
            models["genzoo split (forced)"].decode_split = torch.get_num_threads()
    models["genzoo addmm (before)"].decode_split = 1
    p = torch.randint(0, SHAPES[name]["vocab_size"], (batch, prompt_len), generator=torch.Generator().manual_seed(1))
    fns = {"transformers": lambda: hf.generate(p, max_new_tokens=new, min_new_tokens=new, do_sample=False, pad_token_id=0)}
    fns.update({impl: (lambda m=m: m.generate(p, max_new_tokens=new, do_sample=False)) for impl, m in models.items()})
    print(f"\n== issue protocol, {name}, batch {batch}, prompt {prompt_len}, {new} greedy tokens, "
          f"{torch.get_num_threads()} threads, load {os.getloadavg()}")
    with torch.inference_mode():
        start = time.perf_counter()
        split = decode_split(models["genzoo default"], batch)  # the one-time choice (generate makes it too)
        print(f"split chosen by timing: {split} ({time.perf_counter() - start:.3f} s, once per process)")
        outs = {impl: fn() for impl, fn in fns.items()}  # warm up
        for impl, out in outs.items():
            same = bool((out == outs["transformers"]).all()) if out.shape == outs["transformers"].shape else False
            print(f"   {impl}: {out.shape[1] - prompt_len} new tokens, same as transformers: {same}")
        times = {impl: [] for impl in fns}
        for i in range(rounds):
            for impl, fn in fns.items():
                start = time.perf_counter()
                fn()
                times[impl].append(time.perf_counter() - start)
            print(f"   round {i + 1}: " + ", ".join(f"{impl} {t[-1]:.3f} s" for impl, t in times.items()), flush=True)
    hf_times = times.pop("transformers")
    print(f"transformers: median {batch * new / statistics.median(hf_times):.1f} tok/s")
    for impl, ts in times.items():
        ratios = [h / t for h, t in zip(hf_times, ts)]
        print(f"{impl}: median {batch * new / statistics.median(ts):.1f} tok/s; vs transformers per round "
              f"{', '.join(f'{r:.2f}' for r in ratios)}; median {statistics.median(ratios):.2f}x, "
              f"best/best {min(hf_times) / min(ts):.2f}x")
    print(f"load after: {os.getloadavg()}; choices: {list(SPLIT_CHOICES.values())}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shape", default="all", choices=["all", "none", *SHAPES])
    ap.add_argument("--batches", default="1,8", help="batch sizes for 124M (10M always uses 1)")
    ap.add_argument("--new", type=int, default=128)
    ap.add_argument("--prompt", type=int, default=16)
    ap.add_argument("--modes", default="fp32,fp32-t,bf16,int8,int8-dynamic")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--protocol", default="table", choices=["table", "issue"],
                    help="issue: issue 21's measurement (plain generate calls, default path vs transformers)")
    ap.add_argument("--rounds", type=int, default=15, help="interleaved rounds of --protocol issue")
    ap.add_argument("--forced-split", action="store_true", help="--protocol issue: add genzoo with the split forced on")
    ap.add_argument("--ppl-model", default=None)
    ap.add_argument("--ppl-data", default="pystdlib")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.protocol == "issue":
        for name in SHAPES if args.shape == "all" else [args.shape]:
            for batch in [int(b) for b in args.batches.split(",")] if name == "124M" else [1]:
                issue_protocol(name, args.new, args.prompt, args.rounds, batch, args.forced_split)
        return
    modes = args.modes.split(",")
    bandwidth = copy_bandwidth()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, copy bandwidth {bandwidth / 1e9:.1f} GB/s")
    rows = []
    if args.shape in ("all", "124M"):
        rows += run_shape("124M", [int(b) for b in args.batches.split(",")], args.new, args.prompt, modes, args.repeats, bandwidth, None)
    if args.shape in ("all", "10M"):
        rows += run_shape("10M", [1], args.new, args.prompt, modes, args.repeats, bandwidth, None)
    print("\n| shape | batch | implementation | tok/s (wall) | vs HF fp32 | tok/s (CPU time) | vs HF fp32 | same tokens as HF | CPU-time tok/s vs bandwidth limit |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, batch, impl, tps, ratio, cpu, cratio, same, extra in rows:
        print(f"| {name} | {batch} | {impl} | {tps:.1f} | {ratio:.2f}x | {cpu:.1f} | {cratio:.2f}x | {same} | {extra} |")
    if args.ppl_model:
        ppl_on_text(args.ppl_model, args.ppl_data, modes)


if __name__ == "__main__":
    main()
