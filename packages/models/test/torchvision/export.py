"""Exports a torchvision network with random weights for the agreement test.

Usage: /usr/bin/python3 export.py <out dir> <torchvision name>:<input size>:<batch> ...

For each network, writes <out dir>/<name>.safetensors (the state_dict, as torchvision names it) and
<out dir>/<name>.check.safetensors ("input": raw 0-255 RGB pixels, NHWC float32; "logits":
PyTorch's output for them in eval mode). The weights are torchvision's own initialization
under a fixed seed, with batch norm's affine parameters and running statistics randomised
too, so that every tensor the import maps is exercised. Debian has no safetensors package;
the format is an 8-byte little-endian header length, a JSON header and the raw tensors.
"""
import json
import struct
import sys

import numpy as np
import torch
import torchvision

DTYPES = {np.dtype("float32"): "F32", np.dtype("int64"): "I64"}


def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, array in tensors.items():
        array = np.ascontiguousarray(array)
        data = array.astype(array.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": DTYPES[array.dtype], "shape": list(array.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    encoded = json.dumps(header).encode("utf-8")
    encoded += b" " * (-len(encoded) % 8)
    with open(path, "wb") as out:
        out.write(struct.pack("<Q", len(encoded)))
        out.write(encoded)
        for blob in blobs:
            out.write(blob)


def export(name, size, batch, out_dir):
    torch.manual_seed(0)
    model = getattr(torchvision.models, name)(weights=None)
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                count = module.num_features
                module.weight.copy_(torch.rand(count, generator=generator) + 0.5)
                module.bias.copy_(torch.randn(count, generator=generator) * 0.1)
                module.running_mean.copy_(torch.randn(count, generator=generator) * 0.1)
                module.running_var.copy_(torch.rand(count, generator=generator) + 0.5)
            elif isinstance(module, (torch.nn.Linear, torch.nn.Conv2d)) and module.bias is not None:
                module.bias.copy_(torch.randn(module.bias.shape, generator=generator) * 0.01)
    model.eval()
    pixels = torch.rand((batch, size, size, 3), generator=generator) * 255
    mean = torch.tensor([0.485, 0.456, 0.406])
    std = torch.tensor([0.229, 0.224, 0.225])
    normalized = ((pixels / 255 - mean) / std).permute(0, 3, 1, 2).contiguous()
    with torch.no_grad():
        logits = model(normalized)
    state = {key: value.numpy() for key, value in model.state_dict().items()}
    write_safetensors(f"{out_dir}/{name}.safetensors", state)
    write_safetensors(f"{out_dir}/{name}.check.safetensors", {"input": pixels.numpy(), "logits": logits.numpy()})
    params = sum(parameter.numel() for parameter in model.parameters())
    print(json.dumps({"name": name, "params": params}), flush=True)


def main():
    # One process for all of them: importing torch costs more than exporting a small network.
    torch.set_num_threads(1)
    out_dir = sys.argv[1]
    for spec in sys.argv[2:]:
        name, size, batch = spec.split(":")
        export(name, int(size), int(batch), out_dir)


if __name__ == "__main__":
    main()
