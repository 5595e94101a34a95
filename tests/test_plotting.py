"""Tests of siamese_tutorial.plotting: every figure draws on small data, labelled, without a display."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from siamese_tutorial.diagrams import (  # noqa: E402
    draw_contrastive_margin,
    draw_triplet_bands,
    draw_twin_encoder,
)
from siamese_tutorial.omniglot import OneShotRun  # noqa: E402
from siamese_tutorial.plotting import (  # noqa: E402
    MISTAKE_COLOUR,
    RIGHT_COLOUR,
    plot_accuracy_by_ways,
    plot_answers,
    plot_distance_histograms,
    plot_embedding_2d,
    plot_ideas,
    plot_images,
    plot_mistakes,
    plot_open_set,
    plot_roc,
    plot_training_curves,
    set_style,
)
from siamese_tutorial.training import History  # noqa: E402
from siamese_tutorial.verification import (  # noqa: E402
    equal_error_rate,
    open_set_curve,
    roc_auc,
    roc_curve,
)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def assert_labelled(ax, xlabel=True, ylabel=True):
    assert ax.get_title()
    if xlabel:
        assert ax.get_xlabel()
    if ylabel:
        assert ax.get_ylabel()


def toy_run(size=8):
    generator = torch.Generator().manual_seed(0)
    train = (torch.rand(5, 1, size, size, generator=generator) > 0.6).float()
    test_labels = torch.tensor([3, 0, 4, 1, 2])
    return OneShotRun(
        name="run01",
        train_images=train,
        test_images=train[test_labels],
        test_labels=test_labels,
        train_files=[f"training/class{c:02d}.png" for c in range(1, 6)],
        test_files=[f"test/item{i:02d}.png" for i in range(1, 6)],
    )


def history_dict():
    return {
        "step": [10, 20, 30],
        "seconds": [1.0, 2.0, 3.0],
        "values": {
            "loss": [1.0, 0.6, 0.4],
            "active_fraction": [0.9, 0.5, 0.3],
            "mean_positive_distance": [0.8, 0.5, 0.4],
            "mean_negative_distance": [0.9, 1.1, 1.3],
        },
        "validation": [[20, 0.5], [30, 0.6]],
    }


def test_set_style_applies_seaborn_whitegrid():
    matplotlib.rcParams["axes.grid"] = False
    set_style(force=True)
    assert matplotlib.rcParams["axes.grid"]
    assert matplotlib.rcParams["axes.facecolor"] == "white"


def test_plot_images_grid_with_titles():
    images = torch.rand(5, 1, 6, 6)
    fig = plot_images(images, titles=list("abcde"), ncols=3)
    assert len(fig.axes) == 5
    assert [ax.get_title() for ax in fig.axes] == list("abcde")
    assert fig.axes[3].get_subplotspec().get_geometry()[:2] == (2, 3)
    shown = fig.axes[4].images[0]
    np.testing.assert_allclose(shown.get_array(), images[4, 0].numpy())
    assert shown.get_cmap().name == "gray_r" and shown.get_clim() == (
        0.0,
        1.0,
    )  # ink = 1 is black
    assert len(fig.axes[0].get_xticks()) == 0


def test_plot_images_rejects_bad_input():
    with pytest.raises(ValueError, match=r"\(N, 1, H, W\) or \(N, H, W\)"):
        plot_images(torch.rand(6, 6))
    with pytest.raises(ValueError, match="one entry per image"):
        plot_images(torch.rand(2, 6, 6), titles=["only one"])
    with pytest.raises(ValueError, match="ncols must be >= 1"):
        plot_images(torch.rand(2, 6, 6), ncols=0)


def test_plot_embedding_2d_one_colour_per_class_with_legend():
    embeddings = torch.randn(30, 2, generator=torch.Generator().manual_seed(0))
    labels = torch.arange(30) % 3
    ax = plot_embedding_2d(
        embeddings, labels, class_names=["alpha", "beta", "gamma"]
    )
    assert_labelled(ax)
    assert len(ax.collections) == 3
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "alpha",
        "beta",
        "gamma",
    ]
    colours = {tuple(c.get_facecolor()[0]) for c in ax.collections}
    assert len(colours) == 3


def test_plot_embedding_2d_without_legend_for_many_classes_and_into_a_given_axes():
    _, ax = plt.subplots()
    points = np.random.default_rng(0).normal(size=(40, 2))
    out = plot_embedding_2d(points, np.arange(40) % 20, ax=ax, max_legend=10)
    assert out is ax and ax.get_legend() is None and len(ax.collections) == 20


def test_plot_embedding_2d_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"shape \(N, 2\).*project"):
        plot_embedding_2d(torch.zeros(4, 3), torch.zeros(4))
    with pytest.raises(ValueError, match="one per embedding"):
        plot_embedding_2d(torch.zeros(4, 2), torch.zeros(3))


def test_plot_distance_histograms_with_threshold():
    generator = np.random.default_rng(0)
    labels = generator.integers(0, 2, 100)
    distances = generator.normal(loc=labels.astype(float), scale=0.3)
    ax = plot_distance_histograms(
        torch.tensor(distances), torch.tensor(labels), threshold=0.5
    )
    assert_labelled(ax)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == [
        "similar (label 0)",
        "dissimilar (label 1)",
        "threshold 0.5",
    ]


def test_plot_distance_histograms_rejects_bad_labels():
    with pytest.raises(ValueError, match=r"0 \(similar pair\) or 1"):
        plot_distance_histograms([0.1, 0.2], [0, 3])
    with pytest.raises(ValueError, match="same length"):
        plot_distance_histograms([0.1, 0.2], [0])


def test_plot_roc_with_auc_and_eer():
    distances, labels = [0.1, 0.35, 0.4, 0.8], [0, 1, 0, 1]
    fpr, tpr, _ = roc_curve(distances, labels)
    auc, eer = roc_auc(distances, labels), equal_error_rate(distances, labels)
    ax = plot_roc(fpr=fpr, tpr=tpr, auc=auc, eer=eer, label="toy")
    assert_labelled(ax)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["toy (AUC = 0.750)", "EER = 0.500", "chance"]
    np.testing.assert_allclose(
        ax.lines[1].get_xydata(), [[0.5, 0.5]]
    )  # on the line FPR = 1 - TPR


def test_plot_roc_rejects_mismatched_rates():
    with pytest.raises(ValueError, match="same length"):
        plot_roc(fpr=[0, 1], tpr=[0, 0.5, 1])


def test_plot_roc_takes_distances_and_labels_like_its_neighbours_and_refuses_rates_in_their_place():
    distances, labels = [0.1, 0.35, 0.4, 0.8], [0, 1, 0, 1]
    ax = plot_roc(distances, labels, label="toy")
    fpr, tpr, _ = roc_curve(distances, labels)
    np.testing.assert_allclose(ax.lines[0].get_xydata(), np.c_[fpr, tpr])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "toy (AUC = 0.750)",
        "EER = 0.500",
        "chance",
    ]
    with pytest.warns(
        FutureWarning, match="write plot_roc\\(fpr=fpr, tpr=tpr\\)"
    ):
        old_form = plot_roc(
            fpr, tpr, auc=0.75
        )  # the form of earlier versions: the right curve, and said
    np.testing.assert_allclose(old_form.lines[0].get_xydata(), np.c_[fpr, tpr])
    with (
        pytest.raises(ValueError, match="rates in \\[0, 1\\].*integer labels"),
        pytest.warns(FutureWarning),
    ):
        plot_roc(
            distances, [0.0, 1.0, 0.0, 1.0]
        )  # float labels: never drawn as a curve of garbage
    with pytest.raises(
        ValueError, match="either the pairs' distances and labels"
    ):
        plot_roc(distances, labels, auc=0.9)
    with pytest.raises(ValueError, match="rates in \\[0, 1\\]"):
        plot_roc(
            fpr=[0, 0.35, 0.4, 0.8, 1.3], tpr=tpr
        )  # distances in the place of rates
    with pytest.raises(
        ValueError, match="needs the pairs' distances and labels"
    ):
        plot_roc()


@pytest.mark.parametrize("as_dict", [True, False])
def test_plot_training_curves_from_a_history_or_a_dict(as_dict):
    history = history_dict() if as_dict else History.from_dict(history_dict())
    fig = plot_training_curves(history)
    assert len(fig.axes) == 4
    for ax in fig.axes:
        assert_labelled(ax)
    loss_ax, _, distance_ax, validation_ax = fig.axes
    np.testing.assert_allclose(loss_ax.lines[0].get_ydata(), [1.0, 0.6, 0.4])
    assert len(distance_ax.lines) == 2
    np.testing.assert_allclose(
        validation_ax.lines[0].get_xydata(), [[20, 0.5], [30, 0.6]]
    )


def test_plot_training_curves_draws_only_what_was_logged():
    data = history_dict()
    data["validation"] = []
    fig = plot_training_curves(data)
    assert [ax.get_title() for ax in fig.axes] == [
        "Training loss",
        "Active (loss > 0) triplets or pairs",
        "Distances in the batch",
    ]  # no empty validation
    softmax = {
        "step": [1, 2],
        "values": {"loss": [2.0, 1.0], "batch_accuracy": [0.1, 0.4]},
        "validation": [[2, 0.3]],
    }
    assert [ax.get_title() for ax in plot_training_curves(softmax).axes] == [
        "Training loss",
        "Accuracy on the training batch",
        "Validation",
    ]


def test_plot_training_curves_rejects_other_objects():
    with pytest.raises(ValueError, match="training.History or a dict"):
        plot_training_curves([1, 2, 3])


def test_plot_mistakes_shows_every_wrong_trial_of_every_run():
    run = toy_run()
    other = OneShotRun(
        "run02",
        run.train_images,
        run.test_images,
        run.test_labels,
        run.train_files,
        run.test_files,
    )
    predictions = [
        torch.tensor([3, 0, 1, 1, 0]),
        run.test_labels,
    ]  # run01: items 3 and 5 wrong; run02: none
    fig = plot_mistakes([run, other], predictions, ncols=3)
    assert fig.get_suptitle() == "The 2 trials answered wrongly"
    assert [ax.get_title() for ax in fig.axes] == [
        "run01, item 3: chose 2, true 5",
        "run01, item 5: chose 1, true 3",
    ]
    # The panel of item 3 is: its test image | training image 1 (chosen) | training image 4 (true).
    panel = fig.axes[0].images[0].get_array()
    size = run.test_images.shape[-1]
    np.testing.assert_array_equal(
        panel[:, :size], run.test_images[2, 0].numpy()
    )
    np.testing.assert_array_equal(
        panel[:, size + 2 : 2 * size + 2], run.train_images[1, 0].numpy()
    )
    np.testing.assert_array_equal(
        panel[:, 2 * size + 4 :], run.train_images[4, 0].numpy()
    )
    assert (
        fig.get_size_inches()[0] / 2 >= 3
    )  # each panel of three images gets 3 inches or more: legible


def test_plot_mistakes_rejects_bad_predictions():
    run = toy_run()
    with pytest.raises(
        ValueError, match=r"predictions for run01 must have shape \(5,\)"
    ):
        plot_mistakes([run], [torch.tensor([0, 1])])
    with pytest.raises(ValueError, match="no mistake to draw"):
        plot_mistakes([run], [run.test_labels])
    with pytest.raises(ValueError, match="one prediction tensor per run"):
        plot_mistakes([run, run], [run.test_labels])


def test_plot_answers_frames_right_answers_green_and_wrong_ones_red():
    fig = plot_answers(
        torch.rand(3, 1, 6, 6),
        ["#0", "unknown", "#1"],
        ["#0", "#2", "unknown"],
        ncols=3,
    )
    green, red = (
        matplotlib.colors.to_rgba(c) for c in (RIGHT_COLOUR, MISTAKE_COLOUR)
    )
    assert [ax.spines["top"].get_edgecolor() for ax in fig.axes] == [
        green,
        red,
        red,
    ]
    assert [ax.get_title() for ax in fig.axes] == [
        "#0",
        "unknown\n(is #2)",
        "#1\n(is unknown)",
    ]
    assert fig.get_suptitle().startswith("1 of 3 answers right")
    with pytest.raises(ValueError, match="one answer and one truth per image"):
        plot_answers(torch.rand(2, 1, 6, 6), ["a"], ["a", "b"])


def test_plot_open_set_marks_the_chosen_threshold_on_both_panels():
    curve = open_set_curve([0.1, 0.3, 0.5], [True, False, True], [0.2, 0.6])
    rates_ax, tradeoff_ax = plot_open_set(curve, 0.25)
    for ax in (rates_ax, tradeoff_ax):
        assert_labelled(ax)
    assert rates_ax.lines[-1].get_xdata()[0] == 0.25
    np.testing.assert_allclose(
        tradeoff_ax.lines[-1].get_xydata(), [[50.0, 100 * 2 / 3]]
    )
    # the point says what it is beside it, where no legend covers the curve
    assert tradeoff_ax.get_legend() is None and [
        t.get_text() for t in tradeoff_ax.texts
    ] == ["chosen: 50.0% accepted strangers,\n66.7% rejected enrolled"]


def test_plot_accuracy_by_ways_draws_error_bars():
    rows = [
        {
            "ways": w,
            "shots": 1,
            "classes": "within one alphabet",
            "accuracy": a,
            "ci95": (a - 0.05, a + 0.04),
        }
        for w, a in [(5, 0.95), (20, 0.85)]
    ]
    ax = plot_accuracy_by_ways(rows)
    assert_labelled(ax)
    assert (
        len(ax.containers) == 1 and len(ax.containers[0].lines[2]) == 1
    )  # one error-bar collection
    segments = ax.containers[0].lines[2][0].get_segments()
    np.testing.assert_allclose(
        [s[:, 1] for s in segments], [[90, 99], [80, 89]]
    )


def test_plot_roc_draws_chance_once_for_several_curves():
    ax = plot_roc(fpr=[0, 0.5, 1], tpr=[0, 0.8, 1], label="a")
    plot_roc([0.1, 0.5, 0.2, 0.9], [0, 1, 1, 0], label="b", ax=ax)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert (
        labels.count("chance") == 1
        and labels[2].startswith("b (AUC =")
        and len(labels) == 4
    )


def test_diagrams_draw_without_error_and_label_what_they_show():
    assert "one encoder applied twice" in " ".join(
        draw_twin_encoder().get_title().split()
    )
    margin_ax = draw_contrastive_margin(margin=2.0)
    assert any("margin $m = 2$" in t.get_text() for t in margin_ax.texts)
    bands = [
        t.get_text() for t in draw_triplet_bands().get_legend().get_texts()
    ]
    assert [label.split(":")[0] for label in bands] == [
        "hard",
        "semi-hard",
        "easy",
    ]


def test_plot_ideas_draws_each_seed_against_its_recipe_s_band():
    rows = [
        {"idea": "recipe", "varies": None, "seeds": [87.0, 87.5]},
        {"idea": "better", "varies": "recipe", "seeds": [88.0]},
        {"idea": "worse", "varies": "recipe", "seeds": [86.0, 87.2]},
    ]
    rows[0]["against"] = []
    rows[1]["against"] = rows[2]["against"] = [87.0, 87.5]
    ax = plot_ideas(rows)
    # each idea named above its row, under a heading: the recipe it varies
    assert [t.get_text() for t in ax.texts] == [
        "recipe",
        "varying recipe:",
        "better",
        "worse",
    ]
    assert ax.get_ylim()[0] > ax.get_ylim()[1]  # the first idea at the top
    name_y = {t.get_text(): t.get_position()[1] for t in ax.texts}
    dots = {
        line.get_xdata()[0]: (line.get_ydata()[0], line.get_color())
        for line in ax.get_lines()
        if line.get_marker() == "o"
    }
    for idea, seed in (("recipe", 87.0), ("better", 88.0), ("worse", 86.0)):
        assert 0 < dots[seed][0] - name_y[idea] < 0.5  # just under its name
    assert (
        dots[88.0][1] == RIGHT_COLOUR and dots[86.0][1] == MISTAKE_COLOUR
    )  # above / below every seed
    assert (
        dots[87.2][1] == dots[87.0][1] == "0.3"
    )  # among them, or the recipe itself
    assert (
        len(ax.collections) == 2
    )  # a band for each idea measured against a recipe
