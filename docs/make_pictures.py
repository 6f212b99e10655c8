"""Regenerate the README's pictures with the generator's own command line.

    python docs/make_pictures.py                     # MNIST from the default cache (downloads if needed)
    python docs/make_pictures.py -d /data/mnist      # or any option generator.py accepts
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mnist_dataset_generator.cli import generator_main  # noqa: E402

PICTURES = {
    "plain.png": ["4981278"],
    "spaced.png": ["-w", "360", "-s", "0,20", "-f", "distort", "498127864687234"],
    "even.png": ["-e", "-w", "300", "-s", "4,12", "4981278"],
    "blur.png": ["-f", "blur:sigma=1", "4981278"],
    "distort.png": ["-f", "distort:alpha=25", "4981278"],
    "resize.png": ["-f", "resize:width=16", "4981278"],
    # one picture per augmentation filter, at its default strength
    **{f"filter-{name}.png": ["-f", name, "4981278"]
       for name in ("elastic", "rotate", "slant", "scale", "thickness", "noise", "salt_pepper", "crop")},
    "overlap.png": ["-f", "crop:margin=0", "-s=-4,0", "4981278"],
    "black-32px.png": ["--background", "black", "--height", "32", "-f", "crop:margin=2", "-s", "2,6", "4981278"],
    "augmented.png": ["-f", "crop,elastic,slant,thickness:min=-0.5:max=1,blur:sigma=0.6", "-s", "2,8",
                      "498127864687234"],
    "pad.png": ["--fit", "pad", "--align", "left", "-w", "360", "-s", "0,6", "0741"],
}


def boxes_picture(path: Path, extra: list[str]) -> None:
    """A strip with each digit's box drawn on it (the Python API; ``-d DIR`` is honoured)."""
    from PIL import Image, ImageDraw

    from mnist_dataset_generator import generate_numbers_sequence
    from mnist_dataset_generator.compose.filterspec import from_spec

    data_home = extra[extra.index("-d") + 1] if "-d" in extra else None
    image, boxes = generate_numbers_sequence("40719265", (-6, 4), 300, data_home=data_home, rng=2024,
                                             fltrs=from_spec("rotate,blur:sigma=0.6"), return_boxes=True)
    picture = Image.fromarray((image * 255).round().astype("uint8")).convert("RGB")
    draw = ImageDraw.Draw(picture)
    for x0, y0, x1, y1 in boxes.tolist():
        draw.rectangle([x0, y0, x1 - 1, y1 - 1], outline=(220, 30, 30))  # the box's last pixels, inclusive
    picture.save(path)


PHONES = ["--count", "4", "--pattern", "+dd (ddd) ddd-dddd", "--unique", "-w", "520", "-s", "-2,2"]


def dataset_preview(path: Path, args: list[str], extra: list[str]) -> int:
    """The preview sheet (first samples and their labels) of the dataset ``args`` make."""
    import shutil
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        status = generator_main([*args, "--seed", "2024", "-q", "--output-dir", folder, *extra])
        if not status:
            shutil.copyfile(Path(folder) / "preview.png", path)
    return status


def moving_picture(path: Path, extra: list[str]) -> None:
    """The first 10 frames of one Moving MNIST sequence, side by side (the Python API; ``-d DIR`` is honoured)."""
    import numpy as np
    from PIL import Image

    from mnist_dataset_generator import generate_videos

    data_home = extra[extra.index("-d") + 1] if "-d" in extra else None
    videos, _ = generate_videos(1, seed=2024, data_home=data_home)
    gap = np.full((64, 2), 128, np.uint8)
    Image.fromarray(np.hstack([part for frame in videos[0, :10] for part in (frame, gap)][:-1])).save(path)


SCENE = ["--layout", "scene", "--length", "3-6", "-w", "160", "--height", "120", "--scale", "0.7,1.6",
         "--max-iou", "0.1", "--clutter", "6,6", "--background", "black", "--count", "2", "--format", "npz", "--masks"]


PAGE = ["--layout", "lines", "--lines", "3-4", "--length", "4-10", "-s", "0,12", "--line-gap", "4,12", "--align",
        "random", "-w", "330", "-f", "slant,blur:sigma=0.5", "--count", "1", "--format", "npz", "--masks"]


def boxes_and_masks_picture(path: Path, args: list[str], extra: list[str]) -> int:
    """The samples made by ``generator.py ARGS`` (an npz with masks): each with its characters' boxes drawn
    (red; a page's lines in blue), and beside it its label image (each character's mask in a colour of its
    own)."""
    import tempfile

    import numpy as np
    from PIL import Image, ImageDraw

    with tempfile.TemporaryDirectory() as folder:
        status = generator_main([*args, "--seed", "2024", "-q", "--output-dir", folder, *extra])
        if status:
            return status
        with np.load(Path(folder) / "dataset.npz") as npz:
            images, boxes, masks, lengths = npz["images"], npz["boxes"], npz["masks"], npz["lengths"]
            lines = npz["line_boxes"] if "line_boxes" in npz.files else np.full((len(images), 0, 4), -1)
    colours = np.array([(0, 0, 0), (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48),
                        (145, 30, 180), (70, 240, 240)], np.uint8)
    parts = []
    for image, box, mask, n, line in zip(images, boxes, masks, lengths, lines, strict=True):
        sample = Image.fromarray(image).convert("RGB")
        draw = ImageDraw.Draw(sample)
        for (x0, y0, x1, y1), colour in [*((b, (40, 90, 220)) for b in line.tolist()),
                                         *((b, (220, 30, 30)) for b in box[:n].tolist())]:
            if x1 > x0:  # a page's newline has no box
                draw.rectangle([x0, y0, x1 - 1, y1 - 1], outline=colour)
        parts += [np.asarray(sample), np.full((image.shape[0], 4), 255, np.uint8)[..., None].repeat(3, -1),
                  colours[np.where(mask > 0, (mask.astype(int) - 1) % (len(colours) - 1) + 1, 0)], np.full((image.shape[0], 12), 255, np.uint8)[..., None].repeat(3, -1)]
    Image.fromarray(np.hstack(parts[:-1])).save(path)
    return 0


def main(extra: list[str]) -> int:
    for name, args in PICTURES.items():
        out = ROOT / "docs" / name
        status = generator_main([*args, "--seed", "2024", "--force", "-q", "-o", str(out), *extra])
        if status:
            return status
    boxes_picture(ROOT / "docs" / "boxes.png", extra)
    moving_picture(ROOT / "docs" / "moving.png", extra)
    for name, args in (("scene.png", SCENE), ("page.png", PAGE)):
        status = boxes_and_masks_picture(ROOT / "docs" / name, args, extra)
        if status:
            return status
    return dataset_preview(ROOT / "docs" / "phones.png", PHONES, extra)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
