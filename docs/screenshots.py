"""Retake the README's screenshots (docs/*.png) from a running app, in headless Chromium.

    explainer serve demo/cache &          # or any cache: the README's shots are of `make demo`'s cache
    python docs/screenshots.py http://127.0.0.1:8050

    python docs/many_types.py /tmp/many-types && explainer serve /tmp/many-types/cache &
    python docs/screenshots.py http://127.0.0.1:8050 --many-types    # docs/*-13-types.png

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
    "probing.png": ("?tab=probing", "Probe"),
    "data-map.png": ("?cache=wnut16-train-minilm&tab=data_map", "Lowest margin first"),  # the training split's cache
}
MANY_TYPES_SHOTS = {  # a cache of 13 types, 27 labels (docs/many_types.py): colours and labels at scale
    "metrics-13-types.png": ("?tab=metrics", "Entities"),
    "embeddings-13-types.png": ("?tab=embeddings", "PCA"),
    "inspector-13-types.png": ("?tab=inspect&sample=7", "Example 7"),
}


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


def main(base: str, shots: dict[str, tuple[str, str]] = SHOTS, *, full_page: bool = False) -> int:
    driver = browser()
    try:
        for name, (query, marker) in shots.items():
            driver.set_window_size(*SIZE)
            driver.get(base.rstrip("/") + "/" + query)
            deadline = time.monotonic() + 60
            while marker not in driver.page_source and time.monotonic() < deadline:
                time.sleep(0.5)
            time.sleep(3)  # let plotly finish drawing
            if full_page:  # the whole page, however tall the label set makes it (at most 3,000 px)
                height = driver.execute_script("return document.documentElement.scrollHeight")
                driver.set_window_size(SIZE[0], min(int(height) + 120, 3000))
                time.sleep(2)
            driver.save_screenshot(str(HERE / name))
            print(f"wrote {HERE / name}")
    finally:
        driver.quit()
    return 0


if __name__ == "__main__":
    arguments = [argument for argument in sys.argv[1:] if argument != "--many-types"]
    chosen = MANY_TYPES_SHOTS if "--many-types" in sys.argv[1:] else SHOTS
    sys.exit(main(arguments[0] if arguments else "http://127.0.0.1:8050", chosen, full_page=chosen is MANY_TYPES_SHOTS))
