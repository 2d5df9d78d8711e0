"""Text generation for the web UI: streamed pieces (genzoo.generation.TextStreamer) or whole texts,
with the KGW watermark (genzoo.safety.text_watermark) when a key is given, as ``genzoo generate`` does."""
from __future__ import annotations

import threading

import torch

from ..errors import DataError

GENERATIONS = threading.BoundedSemaphore(2)  # at most two generations at once (2-core machines)


def _kwargs(pipe, opts: dict) -> dict:
    """``generate`` keywords from the request's decoding options (and the watermark processor)."""
    procs = []
    if opts.get("watermark_key") is not None:
        from ..cli.watermark import watermark_config
        from ..safety import WatermarkLogitsProcessor

        cfg = watermark_config(opts["watermark_key"], opts["watermark_gamma"], opts["watermark_delta"])
        procs.append(WatermarkLogitsProcessor(cfg, pipe.model.config.vocab_size))
    return dict(max_new_tokens=opts["max_new_tokens"], do_sample=not opts["greedy"], temperature=opts["temperature"],
                top_k=opts.get("top_k"), top_p=opts.get("top_p"), logits_processor=procs,
                generator=torch.Generator().manual_seed(opts["seed"]), return_full_text=False)


def check_prompt(pipe, prompt: str, max_new_tokens: int) -> None:
    """Refuse (400) before streaming: an empty prompt, or one that leaves no room in the context."""
    n, context = len(pipe.tokenizer.encode(prompt)), pipe.model.config.block_size
    if not n:
        raise DataError("the prompt encodes to no tokens; type some text")
    if n + max_new_tokens > context:
        raise DataError(f"prompt ({n} tokens) + max new tokens ({max_new_tokens}) exceed the model's context of "
                        f"{context}; ask for at most {max(0, context - n)} new tokens")


def watermark_score(pipe, text: str, opts: dict) -> dict | None:
    """The KGW detector's z and p of the generated text for the request's key (None without a key)."""
    if opts.get("watermark_key") is None:
        return None
    from ..cli.watermark import watermark_config
    from ..safety.text_watermark import detect

    cfg = watermark_config(opts["watermark_key"], opts["watermark_gamma"], opts["watermark_delta"])
    try:
        return detect(text, cfg, pipe.model.config.vocab_size, tokenizer=pipe.tokenizer)
    except DataError as e:  # too short to score
        return {"error": str(e)}


def complete(pipe, prompt: str, opts: dict) -> str:
    """The whole continuation at once (the arena)."""
    check_prompt(pipe, prompt, opts["max_new_tokens"])
    with GENERATIONS, torch.no_grad():
        return pipe(prompt, **_kwargs(pipe, opts))[0]["generated_text"]


def stream(pipe, prompt: str, opts: dict):
    """Check the request now (errors are 4xx before any byte is sent), then return a generator of
    ("token", piece) as tokens arrive, then ("done", text) or ("error", message)."""
    check_prompt(pipe, prompt, opts["max_new_tokens"])
    return _events(pipe, prompt, opts)


def _events(pipe, prompt: str, opts: dict):
    from ..generation import TextStreamer

    streamer = TextStreamer(_Visible(pipe.tokenizer))
    result: dict = {}

    def run():
        try:
            with GENERATIONS, torch.no_grad():
                result["text"] = pipe(prompt, streamer=streamer, **_kwargs(pipe, opts))[0]["generated_text"]
        except Exception as e:  # reported to the browser as one line
            result["error"] = f"{type(e).__name__}: {e}".splitlines()[0]
        finally:
            streamer.end()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    for piece in streamer:
        yield "token", piece
    thread.join()
    yield ("error", result["error"]) if "error" in result else ("done", result["text"])


class _Visible:
    """The tokenizer with special tokens (e.g. <|endoftext|>) left out of decoded text."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer

    def decode(self, ids) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True)
