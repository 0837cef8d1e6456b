"""Figure grids for radiographs, with grey colormaps and titles done right.

Everything here draws with matplotlib (``skimage.io.imshow`` is deprecated
and going away). Functions return the matplotlib ``Figure`` so a notebook
can tweak or save it.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["show", "show_images", "overlay_masks", "MASK_COLOURS"]

#: Colours used for mask outlines, one per mask name.
MASK_COLOURS = {"thorax": "tab:orange", "lungs": "tab:cyan", "heart": "tab:red", "text": "yellow"}


_GENERIC_ALT = {"figure", "image", "plot", "chart", "graph", "picture", "img", "fig"}


def show(fig, alt: str) -> None:
    """Display a matplotlib figure in the notebook with alternative text, then close it.

    Screen readers, JupyterLab and the HTML export read the text from the output's metadata
    (``{"image/png": {"alt": ...}}``): say what the figure shows and what to notice in it.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    alt : str
        A specific description (at least a few words; not just "figure" or "image").

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> fig, ax = plt.subplots()
    >>> show(fig, alt="figure")
    Traceback (most recent call last):
    ...
    ValueError: alt must describe what the figure shows (a few words, not a generic word), got 'figure'
    """
    from matplotlib.figure import Figure

    if not isinstance(fig, Figure):
        raise TypeError(f"fig must be a matplotlib Figure, got {type(fig).__name__}")
    if not isinstance(alt, str):
        raise TypeError(f"alt must be a str, got {type(alt).__name__}")
    text = " ".join(alt.split())
    if len(text.split()) < 3 or text.lower().strip(".") in _GENERIC_ALT:
        raise ValueError(f"alt must describe what the figure shows (a few words, not a generic word), got {alt!r}")
    import matplotlib.pyplot as plt

    try:
        from IPython import get_ipython
        from IPython.display import display

        shell = get_ipython()
    except ImportError:  # pragma: no cover - IPython comes with JupyterLab
        shell = None
    if shell is not None:
        import base64

        from IPython.core.pylabtools import print_figure

        # The PNG the inline backend would show (same tight bounding box), with the alt text attached.
        png = base64.b64encode(print_figure(fig, "png", bbox_inches="tight")).decode("ascii")
        display({"image/png": png, "text/plain": f"<Figure: {text}>"}, raw=True, metadata={"image/png": {"alt": text}})
    plt.close(fig)


def _as_displayable(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim == 2:
        return image
    if image.ndim == 3 and image.shape[2] in (3, 4):
        return image
    raise ValueError(f"each image must be 2-D (grey) or H x W x 3/4 (RGB/RGBA), got shape {image.shape}")


def show_images(
    images: Sequence[np.ndarray],
    titles: Sequence[str] | None = None,
    *,
    ncols: int | None = None,
    size: float = 3.2,
    suptitle: str | None = None,
    axis_off: bool = True,
    vmin: float | None = None,
    vmax: float | None = None,
):
    """Show images side by side in a grid, grey-scale, each with its title.

    Grey images use ``cmap="gray"`` and are scaled per image unless
    ``vmin``/``vmax`` are given (give them to compare brightness between
    images honestly). RGB and RGBA images are shown as they are.

    Parameters
    ----------
    images : sequence of ndarray
    titles : sequence of str, optional
        One per image.
    ncols : int, optional
        Columns of the grid (default: all in one row, at most 5).
    size : float
        Height and width of one panel in inches.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> fig = show_images([np.zeros((4, 4)), np.ones((4, 6))], ["zeros", "ones"])
    >>> len(fig.axes)
    2
    """
    import matplotlib.pyplot as plt

    images = [_as_displayable(im) for im in images]
    if not images:
        raise ValueError("images must contain at least one image")
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"titles must have one entry per image ({len(images)}), got {len(titles)}")
    ncols = ncols or min(len(images), 5)
    if not isinstance(ncols, (int, np.integer)) or ncols < 1:
        raise ValueError(f"ncols must be a positive integer, got {ncols!r}")
    nrows = int(np.ceil(len(images) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + (0.4 if suptitle else 0)), squeeze=False)
    for index, ax in enumerate(axes.flat):
        if index >= len(images):
            ax.set_visible(False)
            continue
        image = images[index]
        if image.ndim == 2:
            ax.imshow(image, cmap="gray", vmin=vmin, vmax=vmax, interpolation="antialiased")
        else:
            ax.imshow(image)
        if titles is not None:
            ax.set_title(titles[index], fontsize=10)
        if axis_off:
            ax.set_axis_off()
    if suptitle:
        fig.suptitle(suptitle)
    if axis_off:
        # Fixed spacing: without tick labels there is nothing for tight_layout to
        # measure, and it costs ~0.3 s per figure (the inline backend trims the margins).
        title_room = 0.35 / (size * nrows + (0.4 if suptitle else 0))
        fig.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=1 - title_room * (2 if suptitle else 1),
                            wspace=0.04, hspace=0.12 * 3.2 / size + 0.1)
    else:
        fig.tight_layout()
    return fig


def overlay_masks(image: np.ndarray, masks: dict[str, np.ndarray], *, ax=None, title: str | None = None, legend: bool = True):
    """Draw a grey radiograph with the outline of each mask in its colour.

    Examples
    --------
    >>> import numpy as np
    >>> heart = np.zeros((20, 20), bool); heart[5:15, 5:15] = True
    >>> ax = overlay_masks(np.zeros((20, 20)), {"heart": heart})
    >>> ax.get_title()
    ''
    """
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    image = _as_displayable(image)
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4))
    ax.imshow(image, cmap="gray" if image.ndim == 2 else None)
    handles = []
    for name, mask in masks.items():
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != image.shape[:2]:
            raise ValueError(f"masks[{name!r}] has shape {mask.shape}, expected the image's {image.shape[:2]}")
        if mask.any():
            colour = MASK_COLOURS.get(name, "lime")
            ax.contour(mask, levels=[0.5], colors=[colour], linewidths=1.2)
            handles.append(Line2D([0], [0], color=colour, label=name))
    if legend and handles:
        ax.legend(handles=handles, loc="lower right", fontsize=7, framealpha=0.6)
    if title:
        ax.set_title(title, fontsize=10)
    ax.set_axis_off()
    return ax
