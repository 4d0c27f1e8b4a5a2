"""Experiment: the LLM reads the fused best token of each kept position (one-hot), not the soft mix."""
import runpy, sys
import torch
import voxlm.model.modeling_voxlm as m
from voxlm.model import soft_tokens

def hard_mix(positions, table, picked, scale=1.0, bias=None):
    rows = table[picked].to(positions.dtype)
    scores = torch.einsum("pd,pkd->pk", positions, rows) * scale
    if bias is not None:
        scores = scores + bias.to(scores.dtype)
    return rows[torch.arange(len(rows)), scores.argmax(-1)]

m.soft_token_mix = hard_mix
sys.argv = [sys.argv[1]] + sys.argv[2:]
runpy.run_path(sys.argv[0], run_name="__main__")
