"""Retake the README's screenshots (docs/*.png) from a running app, in headless Chromium.

    explainer serve demo/cache &          # or any cache: the README's shots are of `make demo`'s cache
    python docs/screenshots.py http://127.0.0.1:8050

    python docs/many_types.py /tmp/many-types && explainer serve /tmp/many-types/cache &
    python docs/screenshots.py http://127.0.0.1:8050 --many-types    # docs/*-13-types.png
    python docs/screenshots.py http://127.0.0.1:8050 slices.png      # only the shots named

    explainer build --model demo/model-epoch2 --model demo/model --dataset demo/data/wnut16-heldout.txt --out /tmp/cmp
    explainer serve /tmp/cmp &
    python docs/screenshots.py http://127.0.0.1:8050 --compare model-epoch2 model    # docs/compare.png (A, B)

Each shot is a URL of the app (the URL holds the whole view), so a shot shows exactly what that link shows.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from selenium import webdriver

HERE = Path(__file__).resolve().parent
SIZE = (1400, 950)
SHOTS = {  # file -> the view's query string, and what must be on the page before the shot
    "metrics.png": ("?tab=metrics", "Entities"),
    "inspector.png": ("?tab=inspect&sample=260", "Example 260"),
    "embeddings.png": ("?tab=embeddings", "UMAP"),
    "review.png": ("?tab=review", "Review"),
    "activations.png": ("?tab=activations&act_example=111", "component"),
    "probing.png": ("?tab=probing", "runner-up"),  # the prefilled text probed (the model loads first)
    "slices.png": ("?tab=slices", "Weak slices"),
    "data-map.png": ("?cache=wnut16-train-minilm&tab=data_map", "Lowest margin first"),  # the training split's cache
}
FULL_PAGE = {"slices.png"}  # shots of the whole page (Slices: the weak slices, your slices, then every chart)
MANY_TYPES_SHOTS = {  # a cache of 13 types, 27 labels (docs/many_types.py): colours and labels at scale
    "metrics-13-types.png": ("?tab=metrics", "Entities"),
    "embeddings-13-types.png": ("?tab=embeddings", "PCA"),
    "inspector-13-types.png": ("?tab=inspect&sample=7", "Example 7"),
}


def compare_shots(a: str, b: str) -> dict[str, tuple[str, str]]:
    """Compare of cache ``b`` against cache ``a`` (two checkpoints of the demo), the fixed spans of every type listed."""
    return {"compare.png": (f"?cache={a}&vs={b}&tab=compare&cmp_transition=fixed", "Entity F1")}


def browser() -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        f"--window-size={SIZE[0]},{SIZE[1]}",
    ):
        options.add_argument(flag)
    return webdriver.Chrome(options=options)


def main(
    base: str, shots: dict[str, tuple[str, str]] = SHOTS, *, full_page: bool = False, only: tuple[str, ...] = ()
) -> int:
    """Take ``shots`` (only the files named in ``only``, when given) from the app at ``base``."""
    driver = browser()
    try:
        for name, (query, marker) in shots.items():
            if only and name not in only:
                continue
            driver.set_window_size(*SIZE)
            driver.get(base.rstrip("/") + "/" + query)
            deadline = time.monotonic() + 240  # a loaded machine takes minutes to load the bundles
            while marker not in driver.page_source and time.monotonic() < deadline:
                time.sleep(0.5)
            time.sleep(3)  # let plotly finish drawing
            if full_page or name in FULL_PAGE:  # the whole page, however tall the label set makes it (at most 3,000 px)
                height = driver.execute_script("return document.documentElement.scrollHeight")
                driver.set_window_size(SIZE[0], min(int(height) + 120, 3000))
                time.sleep(2)
            driver.save_screenshot(str(HERE / name))
            print(f"wrote {HERE / name}")
    finally:
        driver.quit()
    return 0


if __name__ == "__main__":
    if "--compare" in sys.argv[1:]:
        at = sys.argv.index("--compare")
        pair, rest = sys.argv[at + 1 : at + 3], sys.argv[1:at] + sys.argv[at + 3 :]
        sys.exit(main(rest[0] if rest else "http://127.0.0.1:8050", compare_shots(*pair)))
    arguments = [argument for argument in sys.argv[1:] if argument != "--many-types"]
    chosen = MANY_TYPES_SHOTS if "--many-types" in sys.argv[1:] else SHOTS
    base_url = arguments[0] if arguments else "http://127.0.0.1:8050"
    only = tuple(arguments[1:])  # e.g. probing.png: retake only these
    sys.exit(main(base_url, chosen, full_page=chosen is MANY_TYPES_SHOTS, only=only))
