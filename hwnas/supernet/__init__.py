"""The weight-entangled ViT supernet, static subnets, checkpoints and ONNX export (needs torch)."""

from hwnas.supernet.checkpoint import load_supernet, save_checkpoint
from hwnas.supernet.export import export_onnx
from hwnas.supernet.supernet import Supernet
from hwnas.supernet.vit import StaticViT

__all__ = ["Supernet", "StaticViT", "export_onnx", "load_supernet", "save_checkpoint"]
