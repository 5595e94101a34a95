"""Tests of siamese_tutorial.evaluation: one-shot harness, baselines, episodes, verification metrics."""

import itertools
import math

import numpy as np
import pytest
import sklearn.metrics
import torch
from torch import nn

from siamese_tutorial.data import Omniglot, OneShotRun
from siamese_tutorial.evaluation import (
    Z_95,
    OneShotResult,
    choose_threshold,
    embed,
    episode_accuracy,
    equal_error_rate,
    ink_coordinates,
    mhd_cost,
    modified_hausdorff_distance,
    n_way_k_shot_episodes,
    one_shot_accuracy,
    one_shot_accuracy_from_cost,
    pixel_nearest_neighbour_cost,
    roc_auc,
    roc_curve,
    shift_images,
    verification_accuracy,
    wilson_interval,
)
from siamese_tutorial.models import ConvEncoder, SiameseCNN, SiameseNetwork

# ------------------------------------------------------------------------------------ helpers


def make_run(name, test_labels, num_classes=None, size=4, seed=0):
    """A toy run: random training images, one test image per label (a noisy copy of its class's image)."""
    generator = torch.Generator().manual_seed(seed)
    test_labels = torch.as_tensor(test_labels)
    num_classes = num_classes or int(test_labels.max()) + 1
    train = torch.rand(num_classes, 1, size, size, generator=generator)
    test = train[test_labels] + 0.01 * torch.rand(len(test_labels), 1, size, size, generator=generator)
    return OneShotRun(
        name=name,
        train_images=train,
        test_images=test,
        test_labels=test_labels,
        train_files=[f"training/class{c + 1:02d}.png" for c in range(num_classes)],
        test_files=[f"test/item{i + 1:02d}.png" for i in range(len(test_labels))],
    )


def constant_costs(matrices):
    """A cost function that ignores the images and returns the given matrices, one per call."""
    stream = iter(matrices)
    return lambda test_images, train_images: torch.tensor(next(stream))


def brute_force_mhd(a, b):
    """Modified Hausdorff Distance with plain Python loops (Dubuisson & Jain, 1994)."""
    a, b = a.tolist(), b.tolist()
    a_to_b = sum(min(math.dist(p, q) for q in b) for p in a) / len(a)
    b_to_a = sum(min(math.dist(p, q) for p in a) for q in b) / len(b)
    return max(a_to_b, b_to_a)


def toy_dataset(
    images_per_class=(5, 5, 5, 5, 5, 5, 5, 5), alphabet_of_class=(0, 0, 0, 1, 1, 1, 2, 2), size=6, noise=0.05
):
    """An Omniglot-like split whose images are noisy copies of one random template per class."""
    generator = torch.Generator().manual_seed(0)
    templates = torch.rand(len(images_per_class), 1, size, size, generator=generator)
    labels = torch.repeat_interleave(torch.arange(len(images_per_class)), torch.tensor(images_per_class))
    images = templates[labels] + noise * torch.randn(len(labels), 1, size, size, generator=generator)
    return Omniglot(
        images=images,
        labels=labels,
        character_names=[f"A{a}/character{c:02d}" for c, a in enumerate(alphabet_of_class)],
        alphabet_names=[f"A{a}" for a in sorted(set(alphabet_of_class))],
        character_alphabet=torch.tensor(alphabet_of_class),
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
    [(81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605), (0, 20, 0.0, 0.1611), (1, 29, 0.0061, 0.1718)],
)
def test_wilson_interval_matches_published_values(successes, trials, low, high):
    assert wilson_interval(successes, trials) == pytest.approx((low, high), abs=1e-4)


def test_wilson_interval_matches_the_other_textbook_form():
    # (k + z^2/2) / (n + z^2)  +-  z sqrt(n) / (n + z^2) * sqrt(p (1 - p) + z^2 / (4 n))
    k, n, z = 245, 400, Z_95
    p = k / n
    centre = (k + z**2 / 2) / (n + z**2)
    half = z * math.sqrt(n) / (n + z**2) * math.sqrt(p * (1 - p) + z**2 / (4 * n))
    assert wilson_interval(k, n) == pytest.approx((centre - half, centre + half))
    assert wilson_interval(k, n) == pytest.approx((0.5639, 0.6590), abs=1e-4)


@pytest.mark.parametrize("successes, trials", [(5, 4), (-1, 4), (0, 0)])
def test_wilson_interval_rejects_impossible_counts(successes, trials):
    with pytest.raises(ValueError, match="0 <= successes <= trials"):
        wilson_interval(successes, trials)


# ------------------------------------------------------------------------------------ one-shot harness


def test_harness_scores_known_cost_matrices():
    runs = [make_run("run01", [0, 1, 1], num_classes=3), make_run("run02", [2, 0, 1])]
    costs = [
        [[0.1, 0.5, 0.9], [0.3, 0.2, 0.8], [0.7, 0.6, 0.1]],  # argmin 0, 1, 2: two right
        [[0.9, 0.8, 0.1], [0.2, 0.4, 0.3], [0.5, 0.1, 0.6]],  # argmin 2, 0, 1: all right
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
    result = one_shot_accuracy_from_cost(constant_costs([[[1.0, 1.0], [2.0, 2.0]]]), runs)
    assert result.predictions[0].tolist() == [0, 0]
    assert result.correct == 1


def test_summary_reports_percentages_and_one_line_per_run():
    runs = [make_run("run01", [0, 1]), make_run("run02", [0, 1])]
    result = one_shot_accuracy_from_cost(constant_costs([[[0, 1], [0, 1]], [[0, 1], [1, 0]]]), runs)
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
    with pytest.raises(ValueError, match=r"\(T, C\) = \(3, 2\) cost matrix for run01"):
        one_shot_accuracy_from_cost(lambda test, train: torch.zeros(2, 3), runs)
    with pytest.raises(ValueError, match="NaN"):
        one_shot_accuracy_from_cost(lambda test, train: torch.full((3, 2), math.nan), runs)
    with pytest.raises(ValueError, match="runs is empty"):
        one_shot_accuracy_from_cost(lambda test, train: torch.zeros(3, 2), [])


def test_one_shot_accuracy_of_the_identity_encoder_is_pixel_nearest_neighbour():
    runs = [make_run(f"run{r:02d}", torch.randperm(5, generator=torch.Generator().manual_seed(r)), seed=r)
            for r in range(3)]
    by_encoder = one_shot_accuracy(nn.Flatten(), runs, batch_size=2)
    by_pixels = one_shot_accuracy_from_cost(pixel_nearest_neighbour_cost, runs)
    assert [p.tolist() for p in by_encoder.predictions] == [p.tolist() for p in by_pixels.predictions]
    assert by_encoder.accuracy == 1.0  # test images are near copies of their class's image


def test_one_shot_accuracy_uses_eval_mode_and_restores_training_mode():
    torch.manual_seed(0)
    encoder = nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.Dropout(0.9))
    encoder.train()
    runs = [make_run("run01", [0, 1, 2, 3, 2, 1])]
    first = one_shot_accuracy(encoder, runs)
    second = one_shot_accuracy(encoder, runs)
    assert encoder.training
    assert first.predictions[0].tolist() == second.predictions[0].tolist()  # no dropout noise


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
    assert shift_images(image, 1, 0)[0, 0].nonzero().tolist() == [[1, 3]]  # right
    assert shift_images(image, 0, -1)[0, 0].nonzero().tolist() == [[0, 2]]  # up
    assert shift_images(image, 2, 0).sum() == 0  # pushed out, nothing wraps around
    assert shift_images(torch.ones(1, 1, 3, 3), -1, 1)[0, 0].tolist() == [[0, 0, 0], [1, 1, 0], [1, 1, 0]]


def test_embed_with_shifts_is_the_mean_over_five_views():
    images = torch.rand(3, 1, 6, 6)
    views = [shift_images(images, dx, dy) for dx, dy in [(0, 0), (2, 0), (-2, 0), (0, 2), (0, -2)]]
    expected = torch.stack(views).flatten(2).mean(0)
    assert torch.allclose(embed(nn.Flatten(), images, shifts=2), expected)
    # unit embeddings stay unit: the mean is scaled back to the sphere
    torch.manual_seed(0)
    encoder = ConvEncoder(width=4, blocks=2, embedding_dim=5, normalize=True, image_size=6)
    averaged = embed(SiameseNetwork(encoder), images, shifts=1)
    assert torch.allclose(averaged.norm(dim=1), torch.ones(3))
    assert not torch.allclose(averaged, embed(encoder, images))
    with pytest.raises(ValueError, match="shifts must be >= 0"):
        embed(encoder, images, shifts=-1)


def test_embed_rejects_bad_inputs_and_encoders():
    with pytest.raises(ValueError, match=r"non-empty \(N, C, S, S\)"):
        embed(nn.Flatten(), torch.zeros(3, 4))
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        embed(nn.Flatten(), torch.zeros(3, 1, 2, 2), batch_size=0)
    with pytest.raises(ValueError, match=r"\(B, D\) embeddings"):
        embed(nn.Identity(), torch.zeros(3, 1, 2, 2))


# ------------------------------------------------------------------------------------ baselines


def test_ink_coordinates_are_row_col_centred_on_their_mean():
    image = torch.zeros(1, 5, 5)
    image[0, 1, 1] = image[0, 1, 3] = image[0, 3, 2] = 1.0
    expected = torch.tensor([[1, 1], [1, 3], [3, 2]], dtype=torch.float64) - torch.tensor([5 / 3, 2.0])
    assert torch.allclose(ink_coordinates(image), expected)
    assert torch.allclose(ink_coordinates(image[0]), expected)


def test_ink_coordinates_rejects_blank_and_badly_shaped_images():
    with pytest.raises(ValueError, match="no ink"):
        ink_coordinates(torch.zeros(1, 5, 5))
    with pytest.raises(ValueError, match=r"\(S, S\) or \(1, S, S\)"):
        ink_coordinates(torch.ones(2, 5, 5))


def test_mhd_of_hand_built_point_sets():
    a = torch.tensor([[0.0, 0.0]], dtype=torch.float64)
    b = torch.tensor([[0.0, 0.0], [3.0, 4.0]], dtype=torch.float64)
    # A -> B: 0; B -> A: (0 + 5) / 2.
    assert modified_hausdorff_distance(a, b).item() == pytest.approx(2.5)
    assert modified_hausdorff_distance(b, a).item() == pytest.approx(2.5)
    assert modified_hausdorff_distance(b, b).item() == 0.0


def test_mhd_matches_a_brute_force_loop():
    generator = torch.Generator().manual_seed(0)
    for n, m in [(1, 7), (6, 6), (13, 4)]:
        a = torch.randn(n, 2, generator=generator, dtype=torch.float64)
        b = 3 * torch.randn(m, 2, generator=generator, dtype=torch.float64) + 1
        assert modified_hausdorff_distance(a, b).item() == pytest.approx(brute_force_mhd(a, b), abs=1e-12)


def test_mhd_rejects_empty_or_badly_shaped_point_sets():
    with pytest.raises(ValueError, match="a must be a non-empty"):
        modified_hausdorff_distance(torch.zeros(0, 2), torch.zeros(3, 2))
    with pytest.raises(ValueError, match="b must be a non-empty"):
        modified_hausdorff_distance(torch.zeros(3, 2), torch.zeros(3))


def test_mhd_cost_matches_the_pairwise_definition_on_random_ink():
    generator = torch.Generator().manual_seed(1)
    test = (torch.rand(4, 1, 12, 12, generator=generator) > 0.8).float()
    train = (torch.rand(5, 1, 12, 12, generator=generator) > 0.7).float()
    train[0] = 0.0
    train[0, 0, 0, 11] = 1.0  # a single pixel in a corner; most rows blank
    test[0, 0, :, 0] = 1.0  # a full column at the border
    cost = mhd_cost(test, train)
    assert cost.shape == (4, 5) and cost.dtype == torch.float64
    for i, c in itertools.product(range(4), range(5)):
        expected = brute_force_mhd(ink_coordinates(test[i]), ink_coordinates(train[c]))
        assert cost[i, c].item() == pytest.approx(expected, abs=1e-12)


def test_mhd_cost_matches_the_pairwise_definition_on_real_characters(one_shot_runs):
    run = one_shot_runs[0]
    cost = mhd_cost(run.test_images[:2], run.train_images)
    for i, c in itertools.product(range(2), range(20)):
        a, b = ink_coordinates(run.test_images[i]), ink_coordinates(run.train_images[c])
        assert cost[i, c].item() == pytest.approx(modified_hausdorff_distance(a, b).item(), abs=1e-9)


def test_mhd_cost_rejects_mismatched_or_badly_shaped_images():
    with pytest.raises(ValueError, match="same size"):
        mhd_cost(torch.ones(2, 1, 5, 5), torch.ones(2, 1, 6, 6))
    with pytest.raises(ValueError, match=r"train_images must have shape \(N, 1, S, S\)"):
        mhd_cost(torch.ones(2, 1, 5, 5), torch.ones(2, 5, 5))


def test_mhd_reproduces_the_official_38_8_percent_error(one_shot_runs):
    """The demo of brendenlake/omniglot prints an average error of 38.75% (rounded to 38.8% in its comments)."""
    result = one_shot_accuracy_from_cost(mhd_cost, one_shot_runs)
    assert (result.correct, result.total) == (245, 400)
    assert result.error_percent == pytest.approx(38.75)
    assert np.mean([100 * (1 - a) for a in result.run_accuracies]) == pytest.approx(38.75)


def test_pixel_nearest_neighbour_is_a_much_weaker_baseline(one_shot_runs):
    result = one_shot_accuracy_from_cost(pixel_nearest_neighbour_cost, one_shot_runs)
    assert 1 / 20 < result.accuracy < 0.3


def test_pixel_nearest_neighbour_cost_is_the_euclidean_distance_of_pixels():
    generator = torch.Generator().manual_seed(0)
    test, train = torch.rand(3, 1, 4, 4, generator=generator), torch.rand(2, 1, 4, 4, generator=generator)
    cost = pixel_nearest_neighbour_cost(test, train)
    for i, c in itertools.product(range(3), range(2)):
        assert cost[i, c].item() == pytest.approx(torch.linalg.norm(test[i] - train[c]).item(), abs=1e-5)


# ------------------------------------------------------------------------------------ episodes


def test_episodes_are_deterministic_given_the_seed():
    labels = toy_dataset().labels
    first = n_way_k_shot_episodes(labels, 3, 2, 2, num_episodes=5, seed=7)
    again = n_way_k_shot_episodes(labels, 3, 2, 2, num_episodes=5, seed=7)
    other = n_way_k_shot_episodes(labels, 3, 2, 2, num_episodes=5, seed=8)
    for e, f in zip(first, again):
        assert torch.equal(e.support, f.support) and torch.equal(e.query, f.query)
    assert any(not torch.equal(e.support, f.support) for e, f in zip(first, other))


def test_episodes_have_correct_shapes_answers_and_no_repeated_images():
    labels = toy_dataset().labels
    for episode in n_way_k_shot_episodes(labels, n_way=4, k_shot=2, num_queries=3, num_episodes=20, seed=0):
        assert episode.support.shape == (4, 2) and episode.query.shape == (12,)
        assert len(set(episode.classes.tolist())) == 4
        assert torch.equal(labels[episode.support], episode.classes.unsqueeze(1).expand(-1, 2))
        assert torch.equal(labels[episode.query], episode.classes[episode.answers])
        used = torch.cat([episode.support.flatten(), episode.query]).tolist()
        assert len(set(used)) == len(used)


def test_within_alphabet_episodes_stay_in_one_alphabet_and_skip_small_alphabets():
    dataset = toy_dataset()  # alphabets 0 and 1 have 3 classes each, alphabet 2 only 2
    episodes = n_way_k_shot_episodes(dataset.labels, 3, 1, 1, num_episodes=30, seed=0,
                                     alphabet_labels=dataset.alphabet_labels, within_alphabet=True)
    alphabets_used = set()
    for episode in episodes:
        alphabets = dataset.alphabet_labels[torch.cat([episode.support.flatten(), episode.query])].unique()
        assert len(alphabets) == 1
        alphabets_used.add(int(alphabets))
    assert alphabets_used == {0, 1}


def test_within_alphabet_episodes_on_the_real_evaluation_split(omniglot_evaluation):
    episodes = n_way_k_shot_episodes(omniglot_evaluation.labels, 20, 1, 1, num_episodes=10, seed=0,
                                     alphabet_labels=omniglot_evaluation.alphabet_labels, within_alphabet=True)
    for episode in episodes:
        assert len(omniglot_evaluation.character_alphabet[episode.classes].unique()) == 1


def test_classes_with_too_few_images_are_never_drawn():
    labels = toy_dataset(images_per_class=(5, 2, 5, 5, 5, 5, 5, 5)).labels
    episodes = n_way_k_shot_episodes(labels, 7, 1, 2, num_episodes=20, seed=0)
    assert all(1 not in episode.classes.tolist() for episode in episodes)


def test_episode_errors_say_what_is_missing():
    dataset = toy_dataset()
    labels = dataset.labels
    with pytest.raises(ValueError, match="only 8 of the 8 classes have that many. Lower n_way"):
        n_way_k_shot_episodes(labels, 9, 1, 1, num_episodes=1, seed=0)
    with pytest.raises(ValueError, match="k_shot \\+ num_queries = 6 images, but the largest class has only 5"):
        n_way_k_shot_episodes(labels, 2, 3, 3, num_episodes=1, seed=0)
    with pytest.raises(ValueError, match="needs alphabet_labels"):
        n_way_k_shot_episodes(labels, 2, 1, 1, num_episodes=1, seed=0, within_alphabet=True)
    with pytest.raises(ValueError, match="No alphabet has n_way=4 classes"):
        n_way_k_shot_episodes(labels, 4, 1, 1, 1, 0, alphabet_labels=dataset.alphabet_labels, within_alphabet=True)
    mixed = dataset.alphabet_labels.clone()
    mixed[0] = 1  # one image of class 0 (alphabet 0) claims alphabet 1
    with pytest.raises(ValueError, match="some class has images in several alphabets"):
        n_way_k_shot_episodes(labels, 2, 1, 1, 1, 0, alphabet_labels=mixed, within_alphabet=True)
    with pytest.raises(ValueError, match="one entry per image"):
        n_way_k_shot_episodes(labels, 2, 1, 1, 1, 0, alphabet_labels=mixed[:-1], within_alphabet=True)
    with pytest.raises(ValueError, match="n_way must be >= 2"):
        n_way_k_shot_episodes(labels, 1, 1, 1, num_episodes=1, seed=0)
    with pytest.raises(ValueError, match="k_shot must be >= 1"):
        n_way_k_shot_episodes(labels, 2, 0, 1, num_episodes=1, seed=0)


def test_episode_accuracy_is_perfect_on_separable_classes():
    result = episode_accuracy(nn.Flatten(), toy_dataset(), n_way=3, k_shot=2, num_queries=3, num_episodes=10)
    assert result.accuracy == 1.0 and result.total == 10 * 9
    assert len(result.run_names) == 10 and result.run_names[0] == "episode0001"


def test_episode_accuracy_of_a_constant_encoder_is_chance():
    # All distances tie, so every query is assigned to class 0: one right answer per episode.
    result = episode_accuracy(Zeros(), toy_dataset(), n_way=3, num_episodes=12, within_alphabet=True)
    assert result.accuracy == pytest.approx(1 / 3)
    assert result.correct == 12 and result.confidence_interval == pytest.approx(wilson_interval(12, 36))


def test_episode_accuracy_predicts_the_nearest_prototype():
    dataset = toy_dataset(noise=1.0)  # noisy images and a random 2-D embedding, so that mistakes happen
    torch.manual_seed(0)
    encoder = nn.Sequential(nn.Flatten(), nn.Linear(36, 2))
    result = episode_accuracy(encoder, dataset, n_way=4, k_shot=3, num_queries=2, num_episodes=6,
                              within_alphabet=False, seed=3)
    episodes = n_way_k_shot_episodes(dataset.labels, 4, 3, 2, num_episodes=6, seed=3)
    with torch.no_grad():
        embeddings = encoder(dataset.images).tolist()
    for episode, predicted in zip(episodes, result.predictions):
        support = episode.support.tolist()
        prototypes = [[sum(embeddings[i][d] for i in row) / 3 for d in range(2)] for row in support]
        for q, p in zip(episode.query.tolist(), predicted.tolist()):
            distances = [math.dist(embeddings[q], proto) for proto in prototypes]
            assert p == distances.index(min(distances))
    assert result.correct == sum((p == e.answers).sum().item() for p, e in zip(result.predictions, episodes))
    assert 0 < result.accuracy < 1


# ------------------------------------------------------------------------------------ verification metrics


def test_roc_curve_of_a_hand_worked_example():
    distances = [0.1, 0.35, 0.4, 0.8]
    labels = [0, 1, 0, 1]  # similar pairs at 0.1 and 0.4
    fpr, tpr, thresholds = roc_curve(distances, labels)
    np.testing.assert_allclose(fpr, [0, 0, 0.5, 0.5, 1])
    np.testing.assert_allclose(tpr, [0, 0.5, 0.5, 1, 1])
    np.testing.assert_allclose(thresholds, [-np.inf, 0.1, 0.35, 0.4, 0.8])
    assert roc_auc(distances, labels) == pytest.approx(0.75)  # 3 of the 4 (similar, dissimilar) pairs ordered


def test_roc_curve_and_auc_match_sklearn_with_ties():
    generator = np.random.default_rng(0)
    labels = generator.integers(0, 2, 200)
    distances = np.round(generator.normal(loc=labels.astype(float), scale=1.0), 1)  # rounding makes ties
    fpr, tpr, thresholds = roc_curve(torch.tensor(distances), torch.tensor(labels))
    sk_fpr, sk_tpr, sk_thresholds = sklearn.metrics.roc_curve(labels == 0, -distances, drop_intermediate=False)
    np.testing.assert_allclose(fpr, sk_fpr)
    np.testing.assert_allclose(tpr, sk_tpr)
    np.testing.assert_allclose(thresholds, -sk_thresholds)
    assert roc_auc(distances, labels) == pytest.approx(sklearn.metrics.roc_auc_score(labels == 0, -distances))


def test_auc_extremes():
    assert roc_auc([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1]) == 1.0
    assert roc_auc([0.1, 0.2, 0.8, 0.9], [1, 1, 0, 0]) == 0.0
    assert roc_auc([0.5, 0.5, 0.5, 0.5], [0, 1, 0, 1]) == 0.5


@pytest.mark.parametrize(
    "similar, dissimilar, eer",
    [
        ([0.1, 0.2], [0.5, 0.6], 0.0),  # separable
        ([0.1, 0.4], [0.35, 0.8], 0.5),  # the ROC meets FPR = FNR at a point: (0.5, 0.5)
        ([1, 2, 3], [2.5, 4], 1 / 3),  # on the segment (0, 1/3) -> (0.5, 1/3) of FNR: interpolated
    ],
)
def test_equal_error_rate_of_hand_worked_examples(similar, dissimilar, eer):
    distances = similar + dissimilar
    labels = [0] * len(similar) + [1] * len(dissimilar)
    assert equal_error_rate(distances, labels) == pytest.approx(eer)


def test_verification_accuracy_counts_distance_equal_to_threshold_as_similar():
    assert verification_accuracy([0.1, 0.5, 0.5, 0.9], [0, 0, 1, 1], threshold=0.5) == pytest.approx(0.75)
    assert verification_accuracy(torch.tensor([0.1, 0.9]), torch.tensor([0, 1]), threshold=0.5) == 1.0


def test_choose_threshold_of_a_hand_worked_example():
    distances = [0.1, 0.2, 0.5, 0.4, 0.6, 0.7]
    labels = [0, 0, 0, 1, 1, 1]
    # Cuts after 0.2 and after 0.5 both get 5 of 6 right; the smaller wins, at the midpoint of 0.2 and 0.4.
    assert choose_threshold(distances, labels) == pytest.approx(0.3)
    assert verification_accuracy(distances, labels, 0.3) == pytest.approx(5 / 6)


def test_choose_threshold_maximises_accuracy_against_a_dense_search():
    generator = np.random.default_rng(1)
    labels = generator.integers(0, 2, 100)
    distances = generator.normal(loc=labels.astype(float), scale=0.8)
    threshold = choose_threshold(distances, labels)
    best_on_grid = max(verification_accuracy(distances, labels, t) for t in np.linspace(-3, 4, 5001))
    assert verification_accuracy(distances, labels, threshold) >= best_on_grid


def test_choose_threshold_at_the_ends():
    # Best: call everything dissimilar (3 of 4 right), i.e. a threshold below the smallest distance.
    low = choose_threshold([0.9, 0.1, 0.2, 0.3], [0, 1, 1, 1])
    assert low < 0.1 and verification_accuracy([0.9, 0.1, 0.2, 0.3], [0, 1, 1, 1], low) == 0.75
    # Best: call everything similar (3 of 4 right).
    high = choose_threshold([0.1, 0.2, 0.3, 0.05], [0, 0, 0, 1])
    assert high == pytest.approx(0.3)
    assert verification_accuracy([0.1, 0.2, 0.3, 0.05], [0, 0, 0, 1], high) == 0.75


def test_verification_metrics_reject_bad_inputs():
    with pytest.raises(ValueError, match="same length"):
        roc_curve([0.1, 0.2], [0])
    with pytest.raises(ValueError, match="same length"):
        roc_auc(np.zeros((2, 2)), np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"0 \(similar pair\) or 1 \(dissimilar pair\)"):
        verification_accuracy([0.1, 0.2], [0, 2], threshold=0.5)
    with pytest.raises(ValueError, match="both similar .* and dissimilar"):
        equal_error_rate([0.1, 0.2], [0, 0])
    with pytest.raises(ValueError, match="both similar .* and dissimilar"):
        choose_threshold([0.1, 0.2], [1, 1])
    with pytest.raises(ValueError, match="NaN"):
        roc_curve([0.1, math.nan], [0, 1])
