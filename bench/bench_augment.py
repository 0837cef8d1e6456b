"""Benchmark: medprep's augmentation pipeline against a plain scikit-image loop, in one run.

200 synthetic chest radiographs of 512 x 512 (uint8), each with four boolean masks
(thorax, lungs, heart, text), get one random affine augmentation each. Both methods
apply exactly the same parameters (drawn by ``draw_augmentation_params``) and give
the same outputs, bit for bit (checked with a digest of every output):

- plain loop: ``skimage.transform.warp(image, AffineTransform(...))`` per image
  (order 1) and per mask (order 0), with ``preserve_range=True, clip=False`` as the
  helpers use;
- helpers: ``medprep_helpers.augment.augment_batch``.

With and without masks. The images are processed in chunks of 20 (so memory stays small
on a shared machine); every method runs on every chunk, in an order reversed every other
chunk, so that a change in machine load affects all of them alike.

Run from the repository root::

    python bench/bench_augment.py            # or: python -m bench.bench_augment
    python bench/bench_augment.py --images 40

Prints a markdown table: method, seconds, images/s, ratio (images/s relative to the
plain scikit-image loop with the same work).
"""

from __future__ import annotations

import argparse
import hashlib
import time

import numpy as np
from skimage.transform import AffineTransform, warp

from medprep_helpers.augment import augment_batch, augmentation_transform, draw_augmentation_params
from medprep_helpers.phantom import synthetic_radiograph

SHAPE = (512, 512)
CHUNK = 20


def base_radiographs(n_distinct: int = 4):
    """A few distinct phantoms; warping speed does not depend on the content, so they are cycled."""
    drawn = [synthetic_radiograph(seed=seed, shape=SHAPE, ctr=0.42 + 0.05 * seed) for seed in range(n_distinct)]
    return [d.image for d in drawn], [dict(d.masks) for d in drawn]


def skimage_loop(images, masks, params):
    """What one would write without the helpers: one warp per image and one per mask."""
    out_images, out_masks = [], []
    for index, image in enumerate(images):
        forward = augmentation_transform(image.shape, params[index])
        inverse = AffineTransform(matrix=np.linalg.inv(forward.params))
        out_images.append(warp(image, inverse, order=1, preserve_range=True, clip=False))
        if masks is not None:
            out_masks.append(
                {key: warp(mask, inverse, order=0, preserve_range=True) for key, mask in masks[index].items()}
            )
    return out_images, (out_masks if masks is not None else None)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=200)
    args = parser.parse_args(argv)

    base_images, base_masks = base_radiographs()
    n_masks = len(base_masks[0])
    methods = [
        ("scikit-image loop, image + masks", True, "skimage"),
        ("helpers augment_batch, image + masks", True, "helpers"),
        ("scikit-image loop, image only", False, "skimage"),
        ("helpers augment_batch, image only", False, "helpers"),
    ]
    seconds = {name: 0.0 for name, _, _ in methods}
    digests = {name: hashlib.sha256() for name, _, _ in methods}

    for chunk_index, start in enumerate(range(0, args.images, CHUNK)):
        count = min(CHUNK, args.images - start)
        images = [base_images[(start + i) % len(base_images)] for i in range(count)]
        masks = [base_masks[(start + i) % len(base_masks)] for i in range(count)]
        # augment_batch(seed=s) draws from np.random.default_rng(s) in this order.
        rng = np.random.default_rng(chunk_index)
        params = [draw_augmentation_params(rng) for _ in range(count)]
        # Swap the order every other chunk so neither method always runs first.
        for name, with_masks, kind in methods if chunk_index % 2 == 0 else methods[::-1]:
            chunk_masks = masks if with_masks else None
            begin = time.perf_counter()
            if kind == "skimage":
                out_images, out_masks = skimage_loop(images, chunk_masks, params)
            else:
                out_images, out_masks, _ = augment_batch(images, chunk_masks, seed=chunk_index)
            seconds[name] += time.perf_counter() - begin
            # Not timed: a digest of every output, to check that the methods agree, so
            # that the outputs can be freed now and every method starts alike.
            for index, image in enumerate(out_images):
                digests[name].update(image.tobytes())
                for key in sorted(out_masks[index]) if out_masks else ():
                    digests[name].update(out_masks[index][key].tobytes())
            del out_images, out_masks

    same_with_masks = digests[methods[0][0]].digest() == digests[methods[1][0]].digest()
    same_image_only = digests[methods[2][0]].digest() == digests[methods[3][0]].digest()
    print(
        f"Random affine augmentation (rotation, shear, scale, shift; one composed warp), "
        f"{args.images} images of {SHAPE[0]} x {SHAPE[1]} uint8, {n_masks} masks each; one run\n"
    )
    print("| method | seconds | images/s | ratio (vs scikit-image loop, same work) |")
    print("| --- | ---: | ---: | ---: |")
    for name, with_masks, _ in methods:
        reference = seconds[methods[0][0] if with_masks else methods[2][0]]
        rate = args.images / seconds[name]
        print(f"| {name} | {seconds[name]:.2f} | {rate:.1f} | {reference / seconds[name]:.2f} |")
    print(
        f"\noutputs identical (images and masks, bit for bit): with masks {same_with_masks}, "
        f"image only {same_image_only}"
    )


if __name__ == "__main__":
    main()
