"""Tests of siamese_tutorial.models: shapes, shared weights, the registry and input checks."""

import pytest
import torch

from siamese_tutorial.models import (
    ENCODERS,
    ConvEncoder,
    MLPEncoder,
    SiameseCNN,
    SiameseNetwork,
    build_encoder,
)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.mark.parametrize("image_size", [10, 28, 35, 105])
def test_siamese_cnn_output_shape(image_size):
    model = SiameseCNN(image_size=image_size)
    assert model(torch.rand(3, 1, image_size, image_size)).shape == (3, 2)


def test_siamese_cnn_layers_follow_the_seed_tutorial():
    model = SiameseCNN(image_size=28, embedding_dim=5, in_channels=3)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert [(c.in_channels, c.out_channels, c.kernel_size) for c in convs] == [
        (3, 32, (3, 3)),
        (32, 64, (3, 3)),
    ]
    # 28 -> 26 -> 13 -> 11 -> 5: 64 * 5 * 5 flattened features
    assert [(fc.in_features, fc.out_features) for fc in linears] == [
        (64 * 5 * 5, 128),
        (128, 5),
    ]
    assert model(torch.rand(2, 3, 28, 28)).shape == (2, 5)


@pytest.mark.parametrize(
    ("image_size", "blocks", "width", "flat"),
    [
        (28, 4, 8, 8 * 1 * 1),
        (32, 3, 4, 4 * 4 * 4),
        (105, 4, 8, 8 * 6 * 6),
        (16, 4, 8, 8),
    ],
)
def test_conv_encoder_flattened_output(image_size, blocks, width, flat):
    model = ConvEncoder(width=width, blocks=blocks, image_size=image_size)
    assert model.embedding_dim == flat
    assert model(torch.rand(2, 1, image_size, image_size)).shape == (2, flat)


def test_conv_encoder_projection_and_normalization():
    model = ConvEncoder(
        width=8, blocks=2, embedding_dim=6, normalize=True, image_size=12
    )
    z = model(torch.rand(4, 1, 12, 12))
    assert model.embedding_dim == 6 and z.shape == (4, 6)
    torch.testing.assert_close(z.norm(dim=1), torch.ones(4))
    raw = ConvEncoder(
        width=8, blocks=2, embedding_dim=6, normalize=False, image_size=12
    )
    raw.load_state_dict(model.state_dict())
    x = torch.rand(4, 1, 12, 12)
    model.eval(), raw.eval()
    torch.testing.assert_close(
        model(x), torch.nn.functional.normalize(raw(x), dim=1)
    )


def test_mlp_encoder_shapes_and_layers():
    model = MLPEncoder(5, hidden=(7, 3), embedding_dim=4)
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert [(fc.in_features, fc.out_features) for fc in linears] == [
        (5, 7),
        (7, 3),
        (3, 4),
    ]
    assert model(torch.rand(6, 5)).shape == (6, 4)
    assert MLPEncoder(5, hidden=(), embedding_dim=2)(
        torch.rand(6, 5)
    ).shape == (6, 2)


def test_siamese_network_shares_one_set_of_weights():
    encoder = MLPEncoder(4, hidden=(8,), embedding_dim=3)
    net = SiameseNetwork(encoder)
    assert sum(p.numel() for p in net.parameters()) == sum(
        p.numel() for p in encoder.parameters()
    )
    x1, x2 = torch.rand(5, 4), torch.rand(5, 4)
    d = net(x1, x2)
    assert d.shape == (5,)
    torch.testing.assert_close(d, net(x2, x1))
    torch.testing.assert_close(net(x1, x1), torch.zeros(5))
    brute = torch.stack(
        [
            (encoder(x1[i : i + 1]) - encoder(x2[i : i + 1])).norm()
            for i in range(5)
        ]
    )
    torch.testing.assert_close(d, brute)
    torch.testing.assert_close(net.embed(x1), encoder(x1))


def test_siamese_network_gradient_reaches_the_shared_encoder_from_both_inputs():
    encoder = MLPEncoder(4, hidden=(), embedding_dim=3)
    net = SiameseNetwork(encoder)
    x1 = torch.rand(2, 4, requires_grad=True)
    x2 = torch.rand(2, 4, requires_grad=True)
    net(x1, x2).sum().backward()
    assert x1.grad.abs().sum() > 0 and x2.grad.abs().sum() > 0
    # d/dW ||W x1 - W x2|| involves both inputs through the single weight matrix
    assert encoder.net[0].weight.grad.abs().sum() > 0


@pytest.mark.parametrize(
    ("name", "kwargs", "shape"),
    [
        (
            "siamese_cnn",
            {"image_size": 20, "embedding_dim": 3},
            (2, 1, 20, 20),
        ),
        ("mlp", {"in_features": 6, "hidden": [5], "embedding_dim": 2}, (2, 6)),
        (
            "conv",
            {
                "width": 4,
                "blocks": 2,
                "embedding_dim": 5,
                "normalize": True,
                "image_size": 8,
            },
            (2, 1, 8, 8),
        ),
    ],
)
def test_build_encoder_round_trip(name, kwargs, shape):
    model = build_encoder(name, **kwargs)
    assert isinstance(model, ENCODERS[name])
    config = model.config()
    assert config == {
        "name": name,
        "kwargs": {**model.config()["kwargs"], **kwargs},
    }
    rebuilt = build_encoder(config["name"], **config["kwargs"])
    rebuilt.load_state_dict(
        model.state_dict()
    )  # same architecture: the weights fit exactly
    model.eval(), rebuilt.eval()
    x = torch.rand(shape)
    torch.testing.assert_close(rebuilt(x), model(x))
    assert rebuilt.config() == config


def test_build_encoder_unknown_name_lists_the_known_ones():
    with pytest.raises(
        ValueError,
        match=r"unknown encoder 'resnet'.*'conv'.*'mlp'.*'siamese_cnn'",
    ):
        build_encoder("resnet")


@pytest.mark.parametrize(
    ("model", "bad"),
    [
        (SiameseCNN(image_size=28), torch.rand(2, 1, 32, 32)),
        (SiameseCNN(image_size=28), torch.rand(1, 28, 28)),
        (ConvEncoder(width=4, image_size=28), torch.rand(2, 3, 28, 28)),
    ],
)
def test_image_encoders_reject_wrong_shapes(model, bad):
    with pytest.raises(
        ValueError, match=r"expects images of shape \(B, \d+, 28, 28\)"
    ):
        model(bad)


def test_mlp_rejects_wrong_shape():
    with pytest.raises(ValueError, match=r"expects vectors of shape \(B, 5\)"):
        MLPEncoder(5)(torch.rand(2, 6))


def test_siamese_network_rejects_mismatched_pairs():
    net = SiameseNetwork(MLPEncoder(4))
    with pytest.raises(ValueError, match="same shape"):
        net(torch.rand(3, 4), torch.rand(2, 4))


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: SiameseCNN(image_size=9), "image_size >= 10"),
        (lambda: ConvEncoder(blocks=4, image_size=15), "image_size >= 16"),
        (lambda: ConvEncoder(width=0), "width must be an integer >= 1"),
        (
            lambda: ConvEncoder(embedding_dim=0),
            "embedding_dim must be an integer >= 1",
        ),
        (
            lambda: MLPEncoder(3, hidden=(4, 0)),
            r"hidden\[1\] must be an integer >= 1",
        ),
        (lambda: MLPEncoder(0), "in_features must be an integer >= 1"),
    ],
)
def test_constructors_reject_bad_arguments(build, match):
    with pytest.raises(ValueError, match=match):
        build()
