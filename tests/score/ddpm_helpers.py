"""A tiny saved image ddpm shared by the editing and provenance tests."""
import torch

import genzoo as gz


def tiny_ddpm_dir(root):
    """A random 1x8x8 ddpm (4 sampling steps) saved in ``root/ddpm``."""
    torch.manual_seed(0)
    model = gz.build("ddpm", shape=(1, 8, 8), block_out_channels=(8, 16), attention_levels=(1,), norm_num_groups=4,
                     num_train_timesteps=100, sample_steps=4).eval()
    model.save_pretrained(root / "ddpm")
    return root / "ddpm"
