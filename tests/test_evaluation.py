"""Tests of siamese_tutorial.evaluation: the one-shot harness, embeddings, episode accuracy."""

import math

import pytest
import torch
from torch import nn

from siamese_tutorial.baselines import pixel_nearest_neighbour_cost
from siamese_tutorial.data import LabelledImages, n_way_k_shot_episodes
from siamese_tutorial.evaluation import (
    Z_95,
    OneShotResult,
    embed,
    episode_accuracy,
    one_shot_accuracy,
    one_shot_accuracy_from_cost,
    shift_images,
    wilson_interval,
)
from siamese_tutorial.models import ConvEncoder, SiameseCNN, SiameseNetwork
from siamese_tutorial.omniglot import OneShotRun

# ------------------------------------------------------------------------------------ helpers


def make_run(name, test_labels, num_classes=None, size=4, seed=0):
    """A toy run: random training images, one test image per label (a noisy copy of its class's image)."""
    generator = torch.Generator().manual_seed(seed)
    test_labels = torch.as_tensor(test_labels)
    num_classes = num_classes or int(test_labels.max()) + 1
    train = torch.rand(num_classes, 1, size, size, generator=generator)
    test = train[test_labels] + 0.01 * torch.rand(
        len(test_labels), 1, size, size, generator=generator
    )
    return OneShotRun(
        name=name,
        train_images=train,
        test_images=test,
        test_labels=test_labels,
        train_files=[
            f"training/class{c + 1:02d}.png" for c in range(num_classes)
        ],
        test_files=[
            f"test/item{i + 1:02d}.png" for i in range(len(test_labels))
        ],
    )


def constant_costs(matrices):
    """A cost function that ignores the images and returns the given matrices, one per call."""
    stream = iter(matrices)
    return lambda test_images, train_images: torch.tensor(next(stream))


def toy_dataset(
    images_per_class=(5, 5, 5, 5, 5, 5, 5, 5),
    alphabet_of_class=(0, 0, 0, 1, 1, 1, 2, 2),
    size=6,
    noise=0.05,
):
    """An Omniglot-like split whose images are noisy copies of one random template per class."""
    generator = torch.Generator().manual_seed(0)
    templates = torch.rand(
        len(images_per_class), 1, size, size, generator=generator
    )
    labels = torch.repeat_interleave(
        torch.arange(len(images_per_class)), torch.tensor(images_per_class)
    )
    images = templates[labels] + noise * torch.randn(
        len(labels), 1, size, size, generator=generator
    )
    return LabelledImages(
        images=images,
        labels=labels,
        class_names=[
            f"A{a}/character{c:02d}" for c, a in enumerate(alphabet_of_class)
        ],
        group_names=[f"A{a}" for a in sorted(set(alphabet_of_class))],
        class_group=torch.tensor(alphabet_of_class),
    )


class Zeros(nn.Module):
    """An encoder that maps every image to the same embedding: every prediction is a tie."""

    def forward(self, x):
        return torch.zeros(len(x), 3)


# ------------------------------------------------------------------------------------ Wilson interval


def test_wilson_interval_at_the_extremes_has_closed_forms():
    n, z2 = 10, Z_95**2
    assert wilson_interval(0, n) == pytest.approx((0.0, z2 / (n + z2)))
    assert wilson_interval(n, n) == pytest.approx((n / (n + z2), 1.0))
    assert wilson_interval(0, 10)[1] == pytest.approx(0.2775, abs=1e-4)


@pytest.mark.parametrize(
    "successes, trials, low, high",
    # Newcombe (1998), "Two-sided confidence intervals for the single proportion", Table I, method 3.
    [
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_wilson_interval_matches_published_values(
    successes, trials, low, high
):
    assert wilson_interval(successes, trials) == pytest.approx(
        (low, high), abs=1e-4
    )


def test_wilson_interval_matches_the_other_textbook_form():
    # (k + z^2/2) / (n + z^2)  +-  z sqrt(n) / (n + z^2) * sqrt(p (1 - p) + z^2 / (4 n))
    k, n, z = 245, 400, Z_95
    p = k / n
    centre = (k + z**2 / 2) / (n + z**2)
    half = (
        z * math.sqrt(n) / (n + z**2) * math.sqrt(p * (1 - p) + z**2 / (4 * n))
    )
    assert wilson_interval(k, n) == pytest.approx(
        (centre - half, centre + half)
    )
    assert wilson_interval(k, n) == pytest.approx((0.5639, 0.6590), abs=1e-4)


@pytest.mark.parametrize("successes, trials", [(5, 4), (-1, 4), (0, 0)])
def test_wilson_interval_rejects_impossible_counts(successes, trials):
    with pytest.raises(ValueError, match="0 <= successes <= trials"):
        wilson_interval(successes, trials)


# ------------------------------------------------------------------------------------ one-shot harness


def test_harness_scores_known_cost_matrices():
    runs = [
        make_run("run01", [0, 1, 1], num_classes=3),
        make_run("run02", [2, 0, 1]),
    ]
    costs = [
        [
            [0.1, 0.5, 0.9],
            [0.3, 0.2, 0.8],
            [0.7, 0.6, 0.1],
        ],  # argmin 0, 1, 2: two right
        [
            [0.9, 0.8, 0.1],
            [0.2, 0.4, 0.3],
            [0.5, 0.1, 0.6],
        ],  # argmin 2, 0, 1: all right
    ]
    result = one_shot_accuracy_from_cost(constant_costs(costs), runs)
    assert isinstance(result, OneShotResult)
    assert [p.tolist() for p in result.predictions] == [[0, 1, 2], [2, 0, 1]]
    assert (result.correct, result.total) == (5, 6)
    assert result.run_accuracies == pytest.approx([2 / 3, 1.0])
    assert result.accuracy == pytest.approx(5 / 6)
    assert result.error == pytest.approx(1 / 6)
    assert result.accuracy_percent == pytest.approx(500 / 6)
    assert result.error_percent == pytest.approx(100 / 6)
    assert result.confidence_interval == pytest.approx(wilson_interval(5, 6))
    assert result.run_names == ["run01", "run02"]


def test_harness_breaks_ties_towards_the_first_class_like_numpy_argmin():
    runs = [make_run("run01", [0, 1])]
    result = one_shot_accuracy_from_cost(
        constant_costs([[[1.0, 1.0], [2.0, 2.0]]]), runs
    )
    assert result.predictions[0].tolist() == [0, 0]
    assert result.correct == 1


def test_summary_reports_percentages_and_one_line_per_run():
    runs = [make_run("run01", [0, 1]), make_run("run02", [0, 1])]
    result = one_shot_accuracy_from_cost(
        constant_costs([[[0, 1], [0, 1]], [[0, 1], [1, 0]]]), runs
    )
    text = result.summary()
    assert "accuracy 75.00% (3/4), error 25.00%" in text
    low, high = result.confidence_interval
    assert f"[{100 * low:.2f}%, {100 * high:.2f}%]" in text
    assert text.splitlines()[1:] == [
        "run    accuracy    error",
        "run01    50.00%   50.00%",
        "run02   100.00%    0.00%",
    ]
    assert "run01" not in result.summary(per_run=False)


def test_harness_rejects_wrong_shapes_nan_and_no_runs():
    runs = [make_run("run01", [0, 1, 1])]
    with pytest.raises(
        ValueError, match=r"\(T, C\) = \(3, 2\) cost matrix for run01"
    ):
        one_shot_accuracy_from_cost(
            lambda test, train: torch.zeros(2, 3), runs
        )
    with pytest.raises(ValueError, match="NaN"):
        one_shot_accuracy_from_cost(
            lambda test, train: torch.full((3, 2), math.nan), runs
        )
    with pytest.raises(ValueError, match="runs is empty"):
        one_shot_accuracy_from_cost(lambda test, train: torch.zeros(3, 2), [])


def test_one_shot_accuracy_of_the_identity_encoder_is_pixel_nearest_neighbour():
    runs = [
        make_run(
            f"run{r:02d}",
            torch.randperm(5, generator=torch.Generator().manual_seed(r)),
            seed=r,
        )
        for r in range(3)
    ]
    by_encoder = one_shot_accuracy(nn.Flatten(), runs, batch_size=2)
    by_pixels = one_shot_accuracy_from_cost(pixel_nearest_neighbour_cost, runs)
    assert [p.tolist() for p in by_encoder.predictions] == [
        p.tolist() for p in by_pixels.predictions
    ]
    assert (
        by_encoder.accuracy == 1.0
    )  # test images are near copies of their class's image


def test_one_shot_accuracy_uses_eval_mode_and_restores_training_mode():
    torch.manual_seed(0)
    encoder = nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.Dropout(0.9))
    encoder.train()
    runs = [make_run("run01", [0, 1, 2, 3, 2, 1])]
    first = one_shot_accuracy(encoder, runs)
    second = one_shot_accuracy(encoder, runs)
    assert encoder.training
    assert (
        first.predictions[0].tolist() == second.predictions[0].tolist()
    )  # no dropout noise


def test_embed_without_gradient_and_through_a_siamese_network():
    torch.manual_seed(0)
    encoder = SiameseCNN(image_size=28, embedding_dim=3)
    images = torch.rand(5, 1, 28, 28)
    embeddings = embed(encoder, images, batch_size=2)
    assert embeddings.shape == (5, 3) and not embeddings.requires_grad
    assert torch.allclose(embed(SiameseNetwork(encoder), images), embeddings)
    encoder.eval()
    assert torch.allclose(encoder(images), embeddings, atol=1e-6)


def test_shift_images_moves_ink_and_fills_the_border_with_paper():
    image = torch.zeros(1, 1, 4, 4)
    image[0, 0, 1, 2] = 1.0
    assert torch.equal(shift_images(image, 0, 0), image)
    assert shift_images(image, 1, 0)[0, 0].nonzero().tolist() == [
        [1, 3]
    ]  # right
    assert shift_images(image, 0, -1)[0, 0].nonzero().tolist() == [
        [0, 2]
    ]  # up
    assert (
        shift_images(image, 2, 0).sum() == 0
    )  # pushed out, nothing wraps around
    assert shift_images(torch.ones(1, 1, 3, 3), -1, 1)[0, 0].tolist() == [
        [0, 0, 0],
        [1, 1, 0],
        [1, 1, 0],
    ]


def test_embed_with_shifts_is_the_mean_over_five_views():
    images = torch.rand(3, 1, 6, 6)
    views = [
        shift_images(images, dx, dy)
        for dx, dy in [(0, 0), (2, 0), (-2, 0), (0, 2), (0, -2)]
    ]
    expected = torch.stack(views).flatten(2).mean(0)
    assert torch.allclose(embed(nn.Flatten(), images, shifts=2), expected)
    # unit embeddings stay unit: the mean is scaled back to the sphere
    torch.manual_seed(0)
    encoder = ConvEncoder(
        width=4, blocks=2, embedding_dim=5, normalize=True, image_size=6
    )
    averaged = embed(SiameseNetwork(encoder), images, shifts=1)
    assert torch.allclose(averaged.norm(dim=1), torch.ones(3))
    assert not torch.allclose(averaged, embed(encoder, images))
    with pytest.raises(
        ValueError, match="shifts must be a whole number of pixels"
    ):
        embed(encoder, images, shifts=-1)
    with pytest.raises(
        ValueError,
        match=r"from 0 to 5 \(the images are 6 pixels wide\); got 6",
    ):
        embed(
            encoder, images, shifts=6
        )  # a shift by the whole image leaves nothing but paper


def test_embed_refuses_non_finite_embeddings():
    # A diverged encoder must not be scored: every distance to NaN compares False, so a harness
    # would silently predict the first class and report chance accuracy as a result.
    encoder = ConvEncoder(width=4, blocks=2, embedding_dim=5, image_size=6)
    with torch.no_grad():
        encoder.projection.weight.fill_(math.nan)
    with pytest.raises(
        FloatingPointError,
        match="embeddings: 15 of 15 values are NaN or infinite",
    ):
        embed(encoder, torch.rand(3, 1, 6, 6))
    run = make_run("run01", [0, 1], size=6)
    with pytest.raises(FloatingPointError, match="lower learning rate"):
        one_shot_accuracy(encoder, [run])
    with pytest.raises(FloatingPointError):
        embed(
            ConvEncoder(width=4, blocks=2, image_size=6),
            torch.full((2, 1, 6, 6), math.nan),
        )


def test_embed_rejects_bad_inputs_and_encoders():
    with pytest.raises(ValueError, match=r"non-empty \(N, C, S, S\)"):
        embed(nn.Flatten(), torch.zeros(3, 4))
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
        embed(nn.Flatten(), torch.zeros(3, 1, 2, 2), batch_size=0)
    with pytest.raises(ValueError, match=r"\(B, D\) embeddings"):
        embed(nn.Identity(), torch.zeros(3, 1, 2, 2))


# ------------------------------------------------------------------------------------ episodes


def test_episodes_are_deterministic_given_the_seed():
    labels = toy_dataset().labels
    first = n_way_k_shot_episodes(labels, 3, 2, 2, num_episodes=5, seed=7)
    again = n_way_k_shot_episodes(labels, 3, 2, 2, num_episodes=5, seed=7)
    other = n_way_k_shot_episodes(labels, 3, 2, 2, num_episodes=5, seed=8)
    for e, f in zip(first, again):
        assert torch.equal(e.support, f.support) and torch.equal(
            e.query, f.query
        )
    assert any(
        not torch.equal(e.support, f.support) for e, f in zip(first, other)
    )


def test_episodes_have_correct_shapes_answers_and_no_repeated_images():
    labels = toy_dataset().labels
    for episode in n_way_k_shot_episodes(
        labels, n_way=4, k_shot=2, num_queries=3, num_episodes=20, seed=0
    ):
        assert episode.support.shape == (4, 2) and episode.query.shape == (12,)
        assert len(set(episode.classes.tolist())) == 4
        assert torch.equal(
            labels[episode.support], episode.classes.unsqueeze(1).expand(-1, 2)
        )
        assert torch.equal(
            labels[episode.query], episode.classes[episode.answers]
        )
        used = torch.cat([episode.support.flatten(), episode.query]).tolist()
        assert len(set(used)) == len(used)


def test_within_group_episodes_stay_in_one_alphabet_and_skip_small_alphabets():
    dataset = (
        toy_dataset()
    )  # alphabets 0 and 1 have 3 classes each, alphabet 2 only 2
    episodes = n_way_k_shot_episodes(
        dataset.labels,
        3,
        1,
        1,
        num_episodes=30,
        seed=0,
        group_labels=dataset.group_labels,
        within_group=True,
    )
    alphabets_used = set()
    for episode in episodes:
        alphabets = dataset.group_labels[
            torch.cat([episode.support.flatten(), episode.query])
        ].unique()
        assert len(alphabets) == 1
        alphabets_used.add(int(alphabets))
    assert alphabets_used == {0, 1}


def test_within_group_episodes_on_the_real_evaluation_split(
    omniglot_evaluation,
):
    episodes = n_way_k_shot_episodes(
        omniglot_evaluation.labels,
        20,
        1,
        1,
        num_episodes=10,
        seed=0,
        group_labels=omniglot_evaluation.group_labels,
        within_group=True,
    )
    for episode in episodes:
        assert (
            len(omniglot_evaluation.class_group[episode.classes].unique()) == 1
        )


def test_classes_with_too_few_images_are_never_drawn():
    labels = toy_dataset(images_per_class=(5, 2, 5, 5, 5, 5, 5, 5)).labels
    episodes = n_way_k_shot_episodes(labels, 7, 1, 2, num_episodes=20, seed=0)
    assert all(1 not in episode.classes.tolist() for episode in episodes)


def test_episode_errors_say_what_is_missing():
    dataset = toy_dataset()
    labels = dataset.labels
    with pytest.raises(
        ValueError, match="only 8 of the 8 classes have that many. Lower n_way"
    ):
        n_way_k_shot_episodes(labels, 9, 1, 1, num_episodes=1, seed=0)
    with pytest.raises(
        ValueError,
        match="k_shot \\+ num_queries = 6 images, but the largest class has only 5",
    ):
        n_way_k_shot_episodes(labels, 2, 3, 3, num_episodes=1, seed=0)
    with pytest.raises(ValueError, match="needs group_labels"):
        n_way_k_shot_episodes(
            labels, 2, 1, 1, num_episodes=1, seed=0, within_group=True
        )
    with pytest.raises(ValueError, match="No group has n_way=4 classes"):
        n_way_k_shot_episodes(
            labels,
            4,
            1,
            1,
            1,
            0,
            group_labels=dataset.group_labels,
            within_group=True,
        )
    mixed = dataset.group_labels.clone()
    mixed[0] = 1  # one image of class 0 (alphabet 0) claims alphabet 1
    with pytest.raises(
        ValueError, match="some class has images in several groups"
    ):
        n_way_k_shot_episodes(
            labels, 2, 1, 1, 1, 0, group_labels=mixed, within_group=True
        )
    with pytest.raises(ValueError, match="one entry per image"):
        n_way_k_shot_episodes(
            labels, 2, 1, 1, 1, 0, group_labels=mixed[:-1], within_group=True
        )
    with pytest.raises(ValueError, match="n_way must be >= 2"):
        n_way_k_shot_episodes(labels, 1, 1, 1, num_episodes=1, seed=0)
    with pytest.raises(ValueError, match="k_shot must be an integer >= 1"):
        n_way_k_shot_episodes(labels, 2, 0, 1, num_episodes=1, seed=0)


def drawn_dataset(classes=6, drawers=5, groups=2, size=6):
    """A data set where image (c, d) is class c drawn by drawer d: one image per class and drawer."""
    labels = torch.arange(classes).repeat_interleave(drawers)
    images = torch.rand(
        len(labels), 1, size, size, generator=torch.Generator().manual_seed(0)
    )
    return LabelledImages(
        images=images,
        labels=labels,
        class_names=[f"c{c}" for c in range(classes)],
        group_names=[f"g{g}" for g in range(groups)],
        class_group=torch.arange(classes) % groups,
        drawers=torch.arange(drawers).repeat(classes),
    )


def test_runs_style_episodes_take_every_support_from_one_drawer_and_every_query_from_another():
    data = drawn_dataset(classes=8, drawers=6, groups=2)
    episodes = n_way_k_shot_episodes(
        data.labels,
        n_way=3,
        k_shot=2,
        num_queries=2,
        num_episodes=40,
        seed=3,
        group_labels=data.group_labels,
        within_group=True,
        style="runs",
        drawers=data.drawers,
    )
    pairs_of_drawers = set()
    for episode in episodes:
        support_drawers, query_drawers = (
            data.drawers[episode.support],
            data.drawers[episode.query].view(3, 2),
        )
        # one set of k_shot drawers for every class's support, other drawers for the queries
        assert (support_drawers == support_drawers[0]).all() and (
            query_drawers == query_drawers[0]
        ).all()
        assert not set(support_drawers[0].tolist()) & set(
            query_drawers[0].tolist()
        )
        assert (
            len(set(data.group_labels[episode.support.flatten()].tolist()))
            == 1
        )
        assert torch.equal(
            data.labels[episode.query], episode.classes.repeat_interleave(2)
        )
        pairs_of_drawers.add(
            (
                tuple(support_drawers[0].tolist()),
                tuple(query_drawers[0].tolist()),
            )
        )
    assert (
        len(pairs_of_drawers) > 20
    )  # the drawers vary from episode to episode
    again = n_way_k_shot_episodes(
        data.labels,
        3,
        2,
        2,
        40,
        3,
        data.group_labels,
        True,
        "runs",
        data.drawers,
    )
    assert all(
        torch.equal(a.support, b.support) and torch.equal(a.query, b.query)
        for a, b in zip(episodes, again)
    )


def test_runs_style_episodes_say_what_they_need():
    data = drawn_dataset(classes=4, drawers=3)
    with pytest.raises(ValueError, match="style='runs' needs drawers"):
        n_way_k_shot_episodes(data.labels, 2, 1, 1, 1, 0, style="runs")
    with pytest.raises(ValueError, match="unknown episode style 'drawers'"):
        n_way_k_shot_episodes(data.labels, 2, 1, 1, 1, 0, style="drawers")
    sparse = data.subset(
        ~((data.labels < 3) & (data.drawers == 0))
    )  # drawer 0 drew only class 3
    with pytest.raises(
        ValueError,
        match="only 1 classes of a group have an image by each of the drawers",
    ):
        n_way_k_shot_episodes(
            sparse.labels, 2, 1, 1, 30, 0, style="runs", drawers=sparse.drawers
        )


def test_runs_style_omniglot_episodes_match_the_official_runs(
    omniglot_evaluation,
):
    # The official runs take all 20 training images from one drawer and all 20 test images from another
    # (run01: drawer 05 and drawer 08); runs-style episodes of the evaluation split do the same.
    episodes = n_way_k_shot_episodes(
        omniglot_evaluation.labels,
        20,
        1,
        1,
        10,
        0,
        omniglot_evaluation.group_labels,
        True,
        "runs",
        omniglot_evaluation.drawers,
    )
    for episode in episodes:
        assert (
            len(
                set(
                    omniglot_evaluation.drawers[
                        episode.support.flatten()
                    ].tolist()
                )
            )
            == 1
        )
        assert (
            len(set(omniglot_evaluation.drawers[episode.query].tolist())) == 1
        )


def test_episode_accuracy_is_perfect_on_separable_classes():
    result = episode_accuracy(
        nn.Flatten(),
        toy_dataset(),
        n_way=3,
        k_shot=2,
        num_queries=3,
        num_episodes=10,
    )
    assert result.accuracy == 1.0 and result.total == 10 * 9
    assert len(result.run_names) == 10 and result.run_names[0] == "episode0001"


def test_episode_accuracy_of_a_constant_encoder_is_chance():
    # All distances tie, so every query is assigned to class 0: one right answer per episode.
    result = episode_accuracy(
        Zeros(), toy_dataset(), n_way=3, num_episodes=12, within_group=True
    )
    assert result.accuracy == pytest.approx(1 / 3)
    assert (
        result.correct == 12
        and result.confidence_interval
        == pytest.approx(wilson_interval(12, 36))
    )


def test_episode_accuracy_predicts_the_nearest_prototype():
    dataset = toy_dataset(
        noise=1.0
    )  # noisy images and a random 2-D embedding, so that mistakes happen
    torch.manual_seed(0)
    encoder = nn.Sequential(nn.Flatten(), nn.Linear(36, 2))
    result = episode_accuracy(
        encoder,
        dataset,
        n_way=4,
        k_shot=3,
        num_queries=2,
        num_episodes=6,
        within_group=False,
        seed=3,
    )
    episodes = n_way_k_shot_episodes(
        dataset.labels, 4, 3, 2, num_episodes=6, seed=3
    )
    with torch.no_grad():
        embeddings = encoder(dataset.images).tolist()
    for episode, predicted in zip(episodes, result.predictions):
        support = episode.support.tolist()
        prototypes = [
            [sum(embeddings[i][d] for i in row) / 3 for d in range(2)]
            for row in support
        ]
        for q, p in zip(episode.query.tolist(), predicted.tolist()):
            distances = [
                math.dist(embeddings[q], proto) for proto in prototypes
            ]
            assert p == distances.index(min(distances))
    assert result.correct == sum(
        (p == e.answers).sum().item()
        for p, e in zip(result.predictions, episodes)
    )
    assert 0 < result.accuracy < 1


def test_published_figures_say_what_they_were_measured_on():
    """Koch et al.'s 92% was measured on trials of their own, on another split: not set against the runs."""
    from siamese_tutorial.evaluation import (
        PUBLISHED_ACCURACY,
        PUBLISHED_RESULTS,
    )

    koch = next(r for r in PUBLISHED_RESULTS if r.source == "Koch et al. 2015")
    assert (
        not koch.on_official_runs
        and "400 trials of its own" in koch.measured_on
    )
    assert koch.label not in PUBLISHED_ACCURACY
    assert PUBLISHED_ACCURACY == {
        r.label: r.accuracy for r in PUBLISHED_RESULTS if r.on_official_runs
    }
    assert set(PUBLISHED_ACCURACY) == {
        "People (Lake et al. 2015)",
        "Bayesian Program Learning (Lake et al. 2015)",
        "Attentive Recurrent Comparators (Shyam et al. 2017)",
    }
    assert all(r.measured_on and 0 < r.accuracy < 1 for r in PUBLISHED_RESULTS)
