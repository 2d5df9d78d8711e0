"""LoRA on the diffusion U-Net: a DDPM trained on all ``digits``, LoRA-tuned on one class only.

Reports the share of samples the shipped digits classifier (``genzoo.features``, the FID network)
assigns to that class, before and after tuning, and FID-digits against that class's real test
images (features of the same network).

    python benchmarks/finetune_digits.py --out /tmp/ft-digits --digit 3
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("runs/finetune-digits"))
    ap.add_argument("--digit", type=int, default=3)
    ap.add_argument("--base-steps", type=int, default=400)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--sample-steps", type=int, default=20)
    args = ap.parse_args()

    import genzoo as gz
    from genzoo.data.base import GenDataset
    from genzoo.features.classifier import load_extractor
    from genzoo.finetune import LoraConfig, save_adapter, trainable_parameters

    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    train, test = gz.load_dataset("digits", split="train"), gz.load_dataset("digits", split="test")
    base_dir = out / "base"
    if not (base_dir / "config.json").exists():
        torch.manual_seed(0)
        model = gz.build("ddpm", train, num_classes=None)  # unconditional: the class comes from the adapter
        gz.Trainer(model, train, steps=args.base_steps, batch_size=64, lr=2e-3, out=base_dir, progress=False, sample_every=0).fit()
    net = load_extractor("digits").eval()

    def measure(model) -> dict:
        with torch.no_grad():
            x = model.sample(args.n, generator=torch.Generator().manual_seed(0), steps=args.sample_steps, sampler="dpm++2m")
            feats, logits = net(x)
            real_feats, _ = net(test.x[test.y == args.digit].float())
        return {"share_of_digit": float((logits.argmax(1) == args.digit).float().mean()),
                "fid_vs_digit": float(gz.metrics.fid_from_features(real_feats, feats))}

    base = gz.load(base_dir)
    before = measure(base)
    one = GenDataset(f"digits-{args.digit}", "train", "image", train.x[train.y == args.digit], levels=train.levels)
    config = LoraConfig(r=8, lora_alpha=16, target_modules=["conv1", "conv2", "to_q", "to_k", "to_v", "to_out.0"])
    torch.manual_seed(0)
    trainer = gz.Trainer(base, one, steps=args.steps, batch_size=64, lr=2e-3, adapter=config, ema_decay=None, progress=False)
    base.peft_base = str(base_dir)
    trainer.fit()
    save_adapter(base, out / f"lora-{args.digit}", base=base_dir)
    trainable, total = trainable_parameters(base)
    after = measure(base.eval())
    result = {"digit": args.digit, "base_steps": args.base_steps, "lora_steps": args.steps, "n": args.n,
              "trainable": trainable, "total": total, "before": before, "after": after}
    (out / "result.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
