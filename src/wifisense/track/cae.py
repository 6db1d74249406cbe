"""1-D convolutional autoencoder that compresses one calibrated CSI frame into a d-dim embedding.

A frame is a real array ``[C, S]``: C = 4 x antenna pairs channels (real, imaginary, phase,
magnitude of each pair) over S subcarriers (:func:`csi_frame_channels` builds it). The encoder
convolves along the subcarrier axis with stride 2, the decoder mirrors it; the embedding feeds
the CSI band of the track models. Leading axes (batch, time, ...) are kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def csi_frame_channels(csi: Tensor) -> Tensor:
    """Complex CSI ``[..., S, A]`` (subcarriers, antenna pairs) -> real ``[..., 4 * A, S]``.

    Channel order: real of all pairs, imaginary of all pairs, phase, magnitude.
    """
    csi = torch.as_tensor(csi)
    parts = [csi.real, csi.imag, torch.angle(csi), csi.abs()]
    return torch.cat(parts, dim=-1).transpose(-1, -2).to(torch.float32)


class CSIAutoencoder(nn.Module):
    """Conv1d encoder/decoder over subcarriers with a linear bottleneck of size ``embed_dim``.

    Args:
        in_channels: C, channels of a frame (4 x antenna pairs).
        length: S, subcarriers per frame.
        embed_dim: d, embedding size.
        channels: conv widths of the encoder (the decoder mirrors them); each halves the length.
        kernel_size: odd kernel size of every conv.
    """

    def __init__(self, in_channels: int, length: int, embed_dim: int, channels: Sequence[int] = (16, 32),
                 kernel_size: int = 5):
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError("kernel_size must be odd")
        self.in_channels, self.length, self.embed_dim = in_channels, length, embed_dim
        pad = kernel_size // 2
        widths = [in_channels, *channels]
        enc: list[nn.Module] = []
        lengths = [length]
        for a, b in pairwise(widths):
            enc += [nn.Conv1d(a, b, kernel_size, stride=2, padding=pad), nn.GELU()]
            lengths.append((lengths[-1] + 2 * pad - kernel_size) // 2 + 1)
        self.encoder_conv = nn.Sequential(*enc)
        self.code_shape = (widths[-1], lengths[-1])
        self.to_embedding = nn.Linear(widths[-1] * lengths[-1], embed_dim)
        self.from_embedding = nn.Linear(embed_dim, widths[-1] * lengths[-1])
        dec: list[nn.Module] = []
        rev = widths[::-1]
        for a, b in pairwise(rev):
            dec += [nn.ConvTranspose1d(a, b, kernel_size, stride=2, padding=pad, output_padding=1), nn.GELU()]
        dec[-1] = nn.Identity()       # linear output layer: CSI values are signed
        self.decoder_conv = nn.Sequential(*dec)

    def encode(self, frames: Tensor) -> Tensor:
        """[..., C, S] -> [..., d]."""
        lead = frames.shape[:-2]
        h = self.encoder_conv(frames.reshape(-1, self.in_channels, self.length))
        return self.to_embedding(h.flatten(1)).reshape(*lead, self.embed_dim)

    def decode(self, embedding: Tensor) -> Tensor:
        """[..., d] -> [..., C, S]."""
        lead = embedding.shape[:-1]
        h = self.from_embedding(embedding.reshape(-1, self.embed_dim)).reshape(-1, *self.code_shape)
        out = self.decoder_conv(h)
        # transposed convs give a power-of-two multiple of the code length: crop/stretch to S
        if out.shape[-1] >= self.length:
            out = out[..., : self.length]
        else:
            out = F.interpolate(out, size=self.length, mode="linear", align_corners=False)
        return out.reshape(*lead, self.in_channels, self.length)

    def forward(self, frames: Tensor) -> tuple[Tensor, Tensor]:
        """frames [..., C, S] -> (reconstruction [..., C, S], embedding [..., d])."""
        embedding = self.encode(frames)
        return self.decode(embedding), embedding

    def reconstruction_loss(self, frames: Tensor) -> Tensor:
        """Mean squared reconstruction error of a batch of frames."""
        recon, _ = self(frames)
        return F.mse_loss(recon, frames)
