r"""Encoders (the network ``f`` that maps an input to an embedding) and the Siamese twin network.

A Siamese network (Bromley et al., 1993, "Signature Verification using a 'Siamese' Time Delay
Neural Network"; Chopra, Hadsell & LeCun, 2005) compares two inputs by embedding both with **the
same** encoder and measuring the distance between the embeddings:

.. math:: D_W(x_1, x_2) = \lVert f_W(x_1) - f_W(x_2) \rVert_2

Every encoder here is an :class:`Encoder`: an ``nn.Module`` mapping a batch to ``(B, embedding_dim)``
embeddings whose :meth:`Encoder.config` rebuilds the same architecture with :func:`build_encoder`
(this is what checkpoints store next to the weights).

- :class:`SiameseCNN`: the small network of the seed tutorial, with a 2-D embedding to draw.
- :class:`MLPEncoder`: for feature vectors (toy problems).
- :class:`ConvEncoder`: the usual Omniglot encoder of few-shot learning (Vinyals et al., 2016;
  Snell et al., 2017): blocks of conv / batch norm / ReLU / max pool.

Two wrappers train an encoder: :class:`SiameseNetwork` (the twins: one encoder, a distance) and
:class:`SoftmaxClassifier` (a plain classifier whose penultimate features serve as the embedding:
the baseline a similarity model is measured against). :func:`encoder_of` unwraps either.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .checks import check_positive
from .distances import euclidean_distance

__all__ = [
    "Encoder",
    "SiameseCNN",
    "MLPEncoder",
    "ConvEncoder",
    "ENCODERS",
    "build_encoder",
    "SiameseNetwork",
    "SoftmaxClassifier",
    "encoder_of",
]


def _check_images(x: Tensor, channels: int, size: int, who: str) -> None:
    if x.dim() != 4 or x.shape[1:] != (channels, size, size):
        raise ValueError(
            f"{who} expects images of shape (B, {channels}, {size}, {size}); got {tuple(x.shape)}. "
            f"Resize the images to {size}x{size} (e.g. load_omniglot(image_size={size})) or build the "
            "encoder with a matching image_size / in_channels."
        )


class Encoder(nn.Module):
    """Base class of the encoders: ``forward(x) -> (B, embedding_dim)``, rebuildable from :meth:`config`.

    Subclasses set the class attribute ``name`` (their key in :data:`ENCODERS`), the attribute
    ``embedding_dim`` and ``self._kwargs`` (their constructor arguments).
    """

    name: ClassVar[str]
    embedding_dim: int
    _kwargs: dict[str, Any]

    def config(self) -> dict[str, Any]:
        """The recipe of this architecture.

        Returns
        -------
        dict
            ``{"name": ..., "kwargs": {...}}`` such that ``build_encoder(c["name"], **c["kwargs"])``
            builds the same architecture (with fresh weights).
        """
        return {"name": self.name, "kwargs": dict(self._kwargs)}


class SiameseCNN(Encoder):
    """The convolutional network of the seed tutorial, ending in a small embedding.

    ``conv 3x3, 32 -> ReLU -> max pool 2x2 -> conv 3x3, 64 -> ReLU -> max pool 2x2 -> flatten ->
    linear 128 -> ReLU -> linear embedding_dim``. The convolutions have no padding, so the spatial size
    goes ``S -> S-2 -> (S-2)//2 -> (S-2)//2 - 2 -> ((S-2)//2 - 2)//2`` (28 -> 26 -> 13 -> 11 -> 5).

    Parameters
    ----------
    image_size : int
        Side ``S`` of the square input images, at least 10.
    embedding_dim : int
        Output size; 2 (the default) puts the embeddings in a plane that can be drawn.
    in_channels : int
        Channels ``C`` of the input images.
    """

    name = "siamese_cnn"

    def __init__(
        self,
        image_size: int = 28,
        embedding_dim: int = 2,
        in_channels: int = 1,
    ) -> None:
        super().__init__()
        check_positive(embedding_dim=embedding_dim, in_channels=in_channels)
        side = ((image_size - 2) // 2 - 2) // 2
        if side < 1:
            raise ValueError(
                "SiameseCNN needs image_size >= 10 (two unpadded 3x3 "
                "convolutions and two 2x2 poolings leave no pixel of a "
                f"{image_size}x{image_size} image); got {image_size}"
            )
        self._kwargs = {
            "image_size": image_size,
            "embedding_dim": embedding_dim,
            "in_channels": in_channels,
        }
        self.image_size, self.in_channels = image_size, in_channels
        self.embedding_dim = embedding_dim
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 32, kernel_size=3),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, kernel_size=3),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
        )
        self.head = nn.Sequential(
            nn.Linear(64 * side * side, 128),
            nn.ReLU(),
            nn.Linear(128, embedding_dim),
        )

    def forward(self, x: Tensor) -> Tensor:
        """Embed images ``(B, C, S, S)`` into ``(B, embedding_dim)``."""
        _check_images(x, self.in_channels, self.image_size, "SiameseCNN")
        return self.head(self.features(x))


class MLPEncoder(Encoder):
    """A multi-layer perceptron for feature vectors: ``linear -> ReLU`` per hidden layer, then a linear embedding.

    Parameters
    ----------
    in_features : int
        Size ``F`` of the input vectors.
    hidden : sequence of int
        Widths of the hidden layers (may be empty: a linear map).
    embedding_dim : int
        Output size.
    """

    name = "mlp"

    def __init__(
        self,
        in_features: int,
        hidden: Sequence[int] = (64, 64),
        embedding_dim: int = 2,
    ) -> None:
        super().__init__()
        check_positive(in_features=in_features, embedding_dim=embedding_dim)
        check_positive(**{f"hidden[{i}]": h for i, h in enumerate(hidden)})
        self._kwargs = {
            "in_features": in_features,
            "hidden": list(hidden),
            "embedding_dim": embedding_dim,
        }
        self.in_features, self.embedding_dim = in_features, embedding_dim
        widths = [in_features, *hidden]
        layers: list[nn.Module] = []
        for width_in, width_out in zip(widths, widths[1:]):
            layers += [nn.Linear(width_in, width_out), nn.ReLU()]
        self.net = nn.Sequential(*layers, nn.Linear(widths[-1], embedding_dim))

    def forward(self, x: Tensor) -> Tensor:
        """Embed vectors ``(B, F)`` into ``(B, embedding_dim)``."""
        if x.dim() != 2 or x.shape[1] != self.in_features:
            raise ValueError(
                f"MLPEncoder expects vectors of shape (B, {self.in_features}); got {tuple(x.shape)}. "
                "Flatten the inputs with x.reshape(len(x), -1) or build the encoder with a matching in_features."
            )
        return self.net(x)


class ConvEncoder(Encoder):
    """The standard Omniglot encoder of few-shot learning (Vinyals et al., 2016; Snell et al., 2017).

    ``blocks`` times ``conv 3x3 (padding 1, width filters) -> BatchNorm -> ReLU -> max pool 2x2``
    (computed as max pool, then ReLU: the same function, cheaper),
    then flatten (``width * (S // 2**blocks)**2`` features: 64 for 28x28 images and 4 blocks),
    then an optional linear layer to ``embedding_dim``, then an optional L2 normalisation.

    Why normalise: on the unit sphere every distance lies in ``[0, 2]``, so a margin has a fixed
    meaning (0.2 is a tenth of the diameter) instead of one relative to a scale the network could
    otherwise inflate to satisfy the margin for free, and distances stay comparable across
    training (FaceNet, Schroff et al., 2015).

    Parameters
    ----------
    in_channels : int
        Channels ``C`` of the input images.
    width : int
        Filters of every convolution.
    blocks : int
        Number of conv blocks; each halves the image side, so ``image_size >= 2**blocks``.
    embedding_dim : int, optional
        Size of a final linear layer; None keeps the flattened features.
    normalize : bool
        L2-normalise the output, ``f(x) / ||f(x)||_2``.
    image_size : int
        Side ``S`` of the square input images.

    Attributes
    ----------
    embedding_dim : int
        Output size (computed when the ``embedding_dim`` argument is None).
    """

    name = "conv"

    def __init__(
        self,
        in_channels: int = 1,
        width: int = 64,
        blocks: int = 4,
        embedding_dim: int | None = None,
        normalize: bool = False,
        image_size: int = 28,
    ) -> None:
        super().__init__()
        check_positive(in_channels=in_channels, width=width, blocks=blocks)
        if embedding_dim is not None:
            check_positive(embedding_dim=embedding_dim)
        side = image_size // 2**blocks
        if side < 1:
            raise ValueError(
                f"ConvEncoder with {blocks} blocks halves the image {blocks} times, so it needs "
                f"image_size >= {2**blocks}; got {image_size}. Use fewer blocks or larger images."
            )
        self._kwargs = {
            "in_channels": in_channels,
            "width": width,
            "blocks": blocks,
            "embedding_dim": embedding_dim,
            "normalize": normalize,
            "image_size": image_size,
        }
        self.in_channels, self.image_size, self.normalize = (
            in_channels,
            image_size,
            normalize,
        )
        layers: list[nn.Module] = []
        for block in range(blocks):
            # Pooling before the ReLU is the same function as after it (ReLU and max commute, and
            # gradients flow to the same pixels), with the ReLU on a quarter of the values: the
            # recipe's CPU step is about a fifth faster, its losses and weights bit for bit the same.
            layers += [
                nn.Conv2d(
                    in_channels if block == 0 else width,
                    width,
                    kernel_size=3,
                    padding=1,
                ),
                nn.BatchNorm2d(width),
                nn.MaxPool2d(2),
                nn.ReLU(),
            ]
        # Channels-last tensors let the CPU's oneDNN kernels run about twice as fast (measured on 2 cores).
        self.features = nn.Sequential(*layers, nn.Flatten()).to(
            memory_format=torch.channels_last
        )
        flat = width * side * side
        self.projection = (
            nn.Linear(flat, embedding_dim)
            if embedding_dim is not None
            else nn.Identity()
        )
        self.embedding_dim = flat if embedding_dim is None else embedding_dim

    def forward(self, x: Tensor) -> Tensor:
        """Embed images ``(B, C, S, S)`` into ``(B, embedding_dim)`` (unit rows if ``normalize``)."""
        _check_images(x, self.in_channels, self.image_size, "ConvEncoder")
        x = x.contiguous(memory_format=torch.channels_last)
        z = self.projection(self.features(x))
        return F.normalize(z, dim=1) if self.normalize else z


ENCODERS: dict[str, type[Encoder]] = {
    cls.name: cls for cls in (SiameseCNN, MLPEncoder, ConvEncoder)
}
"""The encoders :func:`build_encoder` knows, by name."""


def build_encoder(name: str, **kwargs: Any) -> Encoder:
    """Build an encoder by its registry name, e.g. ``build_encoder("conv", embedding_dim=128)``.

    ``build_encoder(**encoder.config())`` rebuilds the architecture of ``encoder`` (fresh weights).

    Parameters
    ----------
    name : str
        A key of :data:`ENCODERS`: ``"siamese_cnn"``, ``"mlp"`` or ``"conv"``.
    **kwargs
        Constructor arguments of that encoder.

    Returns
    -------
    Encoder
        The new encoder.
    """
    if name not in ENCODERS:
        raise ValueError(
            f"unknown encoder {name!r}; choose one of {sorted(ENCODERS)}"
        )
    return ENCODERS[name](**kwargs)


class SiameseNetwork(nn.Module):
    r"""Twin network: one encoder, with shared weights, applied to both inputs of a pair.

    .. math:: D_W(x_1, x_2) = \lVert f_W(x_1) - f_W(x_2) \rVert_2

    The two "twins" of Bromley et al. (1993) are one and the same module, so they have a single set
    of parameters: the distance is symmetric, ``D_W(x, x) = 0``, and every pair trains the one ``f_W``
    from both sides. Comparing is then cheap: embed each image once, compare embeddings.

    Parameters
    ----------
    encoder : Encoder
        The shared network ``f_W``.
    """

    def __init__(self, encoder: Encoder) -> None:
        super().__init__()
        self.encoder = encoder

    def embed(self, x: Tensor) -> Tensor:
        """The embeddings ``f_W(x)``, ``(B, D)``, of a batch of inputs."""
        return self.encoder(x)

    def forward(self, x1: Tensor, x2: Tensor) -> Tensor:
        """Distances ``(B,)`` between the embeddings of paired inputs ``x1[i]`` and ``x2[i]``."""
        if x1.shape != x2.shape:
            raise ValueError(
                "x1 and x2 must be batches of the same shape (one pair per "
                f"row); got {tuple(x1.shape)} and {tuple(x2.shape)}"
            )
        return euclidean_distance(self.embed(x1), self.embed(x2))


class SoftmaxClassifier(nn.Module):
    r"""An encoder followed by one linear layer to class scores, trained with cross-entropy.

    .. math:: p(y = c \mid x) = \operatorname{softmax}_c\big(W f(x) + b\big)

    This is the classifier that a similarity model is compared with: it learns a fixed list of
    ``num_classes`` classes. Its encoder's output :math:`f(x)` (the *penultimate features*) can still
    serve as an embedding for classes it never saw, compared by distance like a Siamese network's.

    Parameters
    ----------
    encoder : Encoder
        The feature extractor :math:`f`.
    num_classes : int
        The number of training classes.
    """

    def __init__(self, encoder: Encoder, num_classes: int) -> None:
        super().__init__()
        check_positive(num_classes=num_classes)
        self.encoder = encoder
        self.num_classes = num_classes
        self.head = nn.Linear(encoder.embedding_dim, num_classes)

    def embed(self, x: Tensor) -> Tensor:
        """The penultimate features ``f(x)``, ``(B, D)``."""
        return self.encoder(x)

    def forward(self, x: Tensor) -> Tensor:
        """Class scores (logits) ``(B, num_classes)``."""
        return self.head(self.encoder(x))


def encoder_of(model: nn.Module) -> nn.Module:
    """The encoder inside a :class:`SiameseNetwork` or :class:`SoftmaxClassifier`; any other model itself."""
    return (
        model.encoder
        if isinstance(model, (SiameseNetwork, SoftmaxClassifier))
        else model
    )
