"""The package's helpers for the chapters: what the chapters used to write themselves, the same."""

import torch

from siamese_tutorial.data import PKSampler, balanced_pairs
from siamese_tutorial.distances import euclidean_distance
from siamese_tutorial.evaluation import embed, embedding_distances
from siamese_tutorial.models import ConvEncoder, MLPEncoder
from siamese_tutorial.training import (
    fit,
    fit_pk,
    make_objective,
    seed_everything,
)


def test_balanced_pairs_are_every_similar_pair_and_as_many_dissimilar_ones():
    labels = torch.arange(10).repeat_interleave(3)
    i, j, y = balanced_pairs(labels, seed=1)
    assert (i < j).all()
    assert ((labels[i] == labels[j]) == (y == 0)).all()
    assert int((y == 0).sum()) == 10 * 3 == int((y == 1).sum())
    again = balanced_pairs(labels, seed=1)
    assert all(torch.equal(a, b) for a, b in zip((i, j, y), again))
    other = balanced_pairs(labels, seed=2)
    assert not torch.equal(j, other[1])


def test_fit_pk_is_fit_with_adam_on_the_sampler_s_batches():
    features = torch.randn(120, 20, generator=torch.Generator().manual_seed(0))
    labels = torch.arange(30).repeat_interleave(4)

    def by_hand():
        seed_everything(0)
        encoder = MLPEncoder(in_features=20, hidden=(16,), embedding_dim=4)
        sampler = PKSampler(labels, p=8, k=4, num_batches=20, seed=3)
        batches = [(features[b], labels[b]) for b in sampler]
        optimizer = torch.optim.Adam(encoder.parameters(), lr=1e-3)
        objective = make_objective("contrastive", margin=1.0)
        history = fit(
            encoder,
            batches,
            objective,
            optimizer,
            steps=20,
            device="cpu",
            progress=False,
        )
        return encoder, history

    def helper():
        seed_everything(0)
        encoder = MLPEncoder(in_features=20, hidden=(16,), embedding_dim=4)
        history = fit_pk(
            encoder,
            features,
            labels,
            make_objective("contrastive", margin=1.0),
            steps=20,
            p=8,
            k=4,
            seed=3,
            device="cpu",
            progress=False,
        )
        return encoder, history

    (first, first_history), (second, second_history) = by_hand(), helper()
    assert first_history.loss == second_history.loss
    for name, value in first.state_dict().items():
        assert torch.equal(value, second.state_dict()[name])


def test_embedding_distances_are_the_distances_of_the_pairs_embeddings():
    torch.manual_seed(0)
    encoder = ConvEncoder(width=4, blocks=2, embedding_dim=3, image_size=8)
    images = torch.rand(10, 1, 8, 8)
    i, j = torch.tensor([0, 1, 2, 3]), torch.tensor([4, 5, 6, 9])
    z = embed(encoder, images)
    expected = euclidean_distance(z[i], z[j])
    torch.testing.assert_close(
        embedding_distances(encoder, images, i, j), expected
    )
