import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from medprep_helpers.display import overlay_masks, show_images  # noqa: E402


def test_grid_uses_grey_colormap_and_titles():
    fig = show_images([np.zeros((5, 5)), np.ones((5, 7)), np.zeros((5, 5, 4))], ["a", "b", "c"], ncols=2)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == ["a", "b", "c"]
    assert visible[0].images[0].get_cmap().name == "gray"
    assert len(fig.axes) == 4 and not fig.axes[3].get_visible()
    plt.close(fig)


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="titles"):
        show_images([np.zeros((3, 3))], ["a", "b"])
    with pytest.raises(ValueError, match="2-D"):
        show_images([np.zeros((3, 3, 3, 3))])
    with pytest.raises(ValueError, match="masks\\['heart'\\]"):
        overlay_masks(np.zeros((4, 4)), {"heart": np.zeros((3, 3), bool)})
    plt.close("all")


def test_overlay_draws_one_contour_per_nonempty_mask():
    heart = np.zeros((20, 20), bool)
    heart[5:12, 6:14] = True
    ax = overlay_masks(np.zeros((20, 20)), {"heart": heart, "lungs": np.zeros((20, 20), bool)}, title="t")
    assert ax.get_title() == "t"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["heart"]
    plt.close("all")


def test_show_rejects_generic_or_missing_alt_text():
    fig, _ = plt.subplots()
    from medprep_helpers.display import show

    for alt in ["figure", "Image.", "", "x y"]:
        with pytest.raises(ValueError, match="alt must describe"):
            show(fig, alt=alt)
    with pytest.raises(TypeError, match="alt must be a str"):
        show(fig, alt=None)
    with pytest.raises(TypeError, match="fig must be a matplotlib Figure"):
        show("not a figure", alt="three real words")
    plt.close(fig)


def test_show_attaches_alt_text_to_the_png_output():
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    from medprep_helpers.display import show

    InteractiveShell.instance()
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    with capture_output() as captured:
        show(fig, alt="A rising diagonal line from 0 to 1.")
    (output,) = captured.outputs
    assert "image/png" in output.data
    assert output.metadata["image/png"]["alt"] == "A rising diagonal line from 0 to 1."
